#include "passes/FoldPacks.h"

#include "ir/FusedStages.h"

#include <optional>

namespace cnnc::passes {

namespace {

// A packing to fold: op indices (reshape -1 without one) and the axes of
// the pooled result the packing's axes are.
struct Fold {
  int conv = -1, reshape = -1, pack = -1;
  std::vector<int64_t> axes;
};

// The fold of the packing ops[p], if it has one.
std::optional<Fold> foldOf(const ir::Graph &g, const std::vector<int> &producer,
                           const std::vector<int> &uses, int p) {
  const ir::Op &pack = g.ops()[p];
  if (pack.kind != ir::OpKind::PackBfloat16Pairs)
    return std::nullopt;
  Fold f;
  f.pack = p;
  ir::ValueId v = pack.operands[0];
  if (uses[v] != 1 || producer[v] < 0)
    return std::nullopt;
  if (g.ops()[producer[v]].kind == ir::OpKind::Reshape) {
    f.reshape = producer[v];
    v = g.ops()[f.reshape].operands[0];
    if (uses[v] != 1 || producer[v] < 0)
      return std::nullopt;
  }
  f.conv = producer[v];
  const ir::Op &conv = g.ops()[f.conv];
  if (conv.kind != ir::OpKind::Conv2DFused || conv.results[0] != v)
    return std::nullopt;
  ir::FusedStageSet st = ir::checkedFusedStages(conv.kind, conv.attrs);
  if (!st.has(ir::FusedStage::MaxPool2D) ||
      st.has(ir::FusedStage::PackBfloat16Pairs))
    return std::nullopt;
  const std::vector<int64_t> &pooled = g.type(v).shape;
  if (pooled[0] % 2 != 0 || pooled[3] % 2 != 0)
    return std::nullopt;
  // The packed value's shape: the pooled one or the reshape's.
  const std::vector<int64_t> &packed = g.type(pack.operands[0]).shape;
  int64_t last = static_cast<int64_t>(packed.size()) - 1;
  for (int64_t axis : pack.attrs.getInts(ir::AttrName::Axes)) {
    // Along the batch: the reshape keeps it. Along the last axis: pairs of
    // consecutive elements from an even offset, the channel pairs when the
    // rows are even (the channel count is).
    if (axis == 0 && packed[0] == pooled[0] && last > 0)
      f.axes.push_back(0);
    else if (axis == last && last > 0 && packed[last] % 2 == 0)
      f.axes.push_back(3);
    else
      return std::nullopt;
  }
  return f;
}

} // namespace

void foldPacks(ir::Graph &g) {
  size_t numOps = g.ops().size();
  std::vector<int> producer(g.values().size(), -1), uses(g.values().size());
  for (size_t i = 0; i < numOps; ++i) {
    for (ir::ValueId r : g.ops()[i].results)
      producer[r] = static_cast<int>(i);
    for (ir::ValueId v : g.ops()[i].operands)
      ++uses[v];
  }
  for (const ir::GraphOutput &out : g.outputs())
    ++uses[out.value];
  std::vector<Fold> folds;
  std::vector<int> foldAt(numOps, -1); // the fold whose conv op i is
  std::vector<bool> dropped(numOps, false);
  for (size_t i = 0; i < numOps; ++i)
    if (std::optional<Fold> f = foldOf(g, producer, uses, static_cast<int>(i));
        f && foldAt[f->conv] < 0) {
      foldAt[f->conv] = static_cast<int>(folds.size());
      dropped[f->pack] = true;
      if (f->reshape >= 0)
        dropped[f->reshape] = true;
      folds.push_back(std::move(*f));
    }
  if (folds.empty())
    return;
  std::vector<ir::Op> ops;
  ops.reserve(numOps);
  for (size_t i = 0; i < numOps; ++i) {
    if (dropped[i])
      continue;
    ir::Op op = g.ops()[i];
    if (foldAt[i] < 0) {
      ops.push_back(std::move(op));
      continue;
    }
    const Fold &f = folds[foldAt[i]];
    // Copies: addTemp below may grow the value list.
    const ir::Op pack = g.ops()[f.pack];
    ir::FusedStageSet st = ir::checkedFusedStages(op.kind, op.attrs);
    st.add(ir::FusedStage::PackBfloat16Pairs);
    ir::setFusedStages(op.attrs, st);
    op.attrs.set(ir::AttrName::Axes, f.axes);
    ir::TensorType pooled = g.type(op.results[0]);
    std::vector<ir::ValueId> packed = pack.results;
    std::vector<ir::Op> reshapes;
    if (f.reshape >= 0)
      for (size_t r = 0; r < packed.size(); ++r) {
        ir::ValueId to = packed[r];
        packed[r] = g.addTemp(g.value(to).name + ".pooled",
                              ir::packedBfloat16Pairs(pooled, f.axes[r]));
        ir::Attrs shape;
        shape.set(ir::AttrName::Shape, g.type(to).shape);
        reshapes.push_back({ir::OpKind::Reshape,
                            {packed[r]},
                            {to},
                            std::move(shape),
                            pack.loc});
      }
    op.results.erase(op.results.begin());
    op.results.insert(op.results.begin(), packed.begin(), packed.end());
    ops.push_back(std::move(op));
    for (ir::Op &r : reshapes)
      ops.push_back(std::move(r));
  }
  g.setOps(std::move(ops));
}

} // namespace cnnc::passes
