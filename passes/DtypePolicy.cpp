#include "passes/DtypePolicy.h"

#include "ir/AttrEnums.h"
#include "ir/FusedStages.h"

#include <map>
#include <vector>

namespace cnnc::passes {

namespace {

// The operands that may be replaced by their rounded copy: of the two an
// op multiplies (input and weights, or the gradient and either), those the
// kernel reads for nothing else. conv2d_backward_filter_fused's gradient
// operand is not: its bias_grad stage sums it in float32, and its prologue
// stage computes the gradient from other operands. The kernel rounds such
// an operand as it loads it for the contraction.
std::vector<size_t> replaceableOperands(const ir::Op &op) {
  absl::StatusOr<ir::FusedStageSet> read = ir::fusedStagesOf(op.kind, op.attrs);
  if (!read.ok())
    return {}; // the verifier reports the op; its kernel rounds anything
  ir::FusedStageSet stages = *read;
  if (stages.has(ir::FusedStage::BiasGrad) ||
      stages.has(ir::FusedStage::MaxPool2DArgmaxGrad))
    return {0};
  return {0, 1};
}

} // namespace

void applyDtypePolicy(ir::Graph &g, ir::DtypePolicy policy) {
  ir::ComputeDtype dtype = ir::policyComputeDtype(policy);
  bool bfloat16 = dtype == ir::ComputeDtype::Bfloat16;
  // Each value rounded once per step, by the first contraction that reads
  // it; the later ones read the same rounded copy.
  std::map<ir::ValueId, ir::ValueId> rounded;
  std::vector<ir::Op> ops;
  bool changed = false;
  for (ir::Op op : g.ops()) {
    if (!(ir::opInfo(op.kind).flags & ir::kContracts)) {
      // A copy made before an in-place update (an optimizer step) is stale
      // after it: a later reader rounds the value again.
      for (size_t k = 0; k < op.operands.size(); ++k)
        if (ir::writesOperand(op.kind, k))
          rounded.erase(op.operands[k]);
      ops.push_back(std::move(op));
      continue;
    }
    if (!bfloat16) {
      op.attrs.erase(ir::AttrName::ComputeDtype);
      ops.push_back(std::move(op));
      continue;
    }
    op.attrs.set(ir::AttrName::ComputeDtype, ir::attrEnumName(dtype));
    for (size_t k : replaceableOperands(op)) {
      ir::ValueId v = op.operands[k];
      if (ir::isRoundedToBfloat16(g, v))
        continue; // already rounded (the pass ran before)
      auto it = rounded.find(v);
      if (it == rounded.end()) {
        ir::ValueId r = g.addTemp(g.value(v).name + ".bf16", g.type(v));
        ops.push_back(
            ir::Op{ir::OpKind::RoundToBfloat16, {v}, {r}, {}, op.loc});
        it = rounded.emplace(v, r).first;
      }
      op.operands[k] = it->second;
      changed = true;
    }
    ops.push_back(std::move(op));
  }
  if (changed)
    g.setOps(std::move(ops));
  else
    for (size_t i = 0; i < ops.size(); ++i)
      g.ops()[i].attrs = ops[i].attrs;
}

} // namespace cnnc::passes
