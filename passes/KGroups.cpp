#include "passes/KGroups.h"

#include "ir/FusedStages.h"

namespace cnnc::passes {

namespace {

// The parameter a matmul's operand 1 is, or is packed from (a
// pack_bfloat16_pairs the dtype-policy pass put before it): -1 for any
// other value. `producer` maps each value to the op that writes it.
ir::ValueId kernelParam(const ir::Graph &g, const std::vector<int> &producer,
                        ir::ValueId v) {
  if (g.value(v).kind == ir::ValueKind::Param)
    return v;
  int p = producer[v];
  if (p < 0 || g.ops()[p].kind != ir::OpKind::PackBfloat16Pairs)
    return -1;
  ir::ValueId from = g.ops()[p].operands[0];
  return g.value(from).kind == ir::ValueKind::Param ? from : -1;
}

// A forward dense matmul, x[M, K] by a parameter kernel[K, N] of at least
// kKGroupsFromBytes (or its bfloat16 pairs along K), without transposes.
bool splits(const ir::Graph &g, const std::vector<int> &producer,
            const ir::Op &op, int64_t groups) {
  if (op.kind != ir::OpKind::MatMul && op.kind != ir::OpKind::MatMulFused)
    return false;
  if (op.attrs.has(ir::AttrName::KGroups) ||
      op.attrs.getInt(ir::AttrName::TransposeA) != 0 ||
      op.attrs.getInt(ir::AttrName::TransposeB) != 0)
    return false;
  ir::ValueId param = kernelParam(g, producer, op.operands[1]);
  if (param < 0)
    return false;
  const ir::TensorType &w = g.type(param);
  return w.rank() == 2 && w.shape[0] >= 2 * groups &&
         w.byteSize() >= kKGroupsFromBytes;
}

// Appends the matmul with k_groups and the sum of its partial products.
void split(ir::Graph &g, const ir::Op &op, int64_t groups,
           std::vector<ir::Op> &ops) {
  ir::ValueId result = op.results[0];
  ir::TensorType partialType = g.type(result);
  partialType.shape.insert(partialType.shape.begin(), groups);
  // addTemp may grow the value list; nothing here refers into it.
  ir::ValueId partial =
      g.addTemp(g.value(result).name + ".groups", std::move(partialType));
  ir::Op matmul{ir::OpKind::MatMul,
                {op.operands[0], op.operands[1]},
                {partial},
                op.attrs,
                op.loc};
  ir::Op sum{ir::OpKind::GroupSum, {partial}, {result}, {}, op.loc};
  if (op.kind == ir::OpKind::MatMulFused) {
    // The epilogue (bias_add's operand, the activation) moves to the sum.
    ir::FusedStageSet st = ir::checkedFusedStages(op.kind, op.attrs);
    sum.kind = ir::OpKind::GroupSumFused;
    sum.operands.insert(sum.operands.end(), op.operands.begin() + 2,
                        op.operands.end());
    ir::setFusedStages(sum.attrs, st);
    if (op.attrs.has(ir::AttrName::Activation))
      sum.attrs.set(ir::AttrName::Activation,
                    op.attrs.getString(ir::AttrName::Activation));
    matmul.attrs.erase(ir::AttrName::Epilogue);
    matmul.attrs.erase(ir::AttrName::Activation);
  }
  matmul.attrs.set(ir::AttrName::KGroups, groups);
  ops.push_back(std::move(matmul));
  ops.push_back(std::move(sum));
}

} // namespace

void splitKGroups(ir::Graph &g, int64_t groups) {
  std::vector<int> producer(g.values().size(), -1);
  for (size_t i = 0; i < g.ops().size(); ++i)
    for (ir::ValueId r : g.ops()[i].results)
      producer[r] = static_cast<int>(i);
  std::vector<ir::Op> ops;
  ops.reserve(g.ops().size());
  bool changed = false;
  for (const ir::Op &op : g.ops()) {
    bool grouped = groups >= 2 && splits(g, producer, op, groups);
    if (grouped)
      split(g, op, groups, ops);
    else
      ops.push_back(op);
    changed = changed || grouped;
  }
  if (changed)
    g.setOps(std::move(ops));
}

} // namespace cnnc::passes
