#include "passes/DtypePolicy.h"

#include "ir/AttrEnums.h"
#include "ir/DtypePolicy.h"
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

// With pairs, a filter gradient with only the bias_grad stage becomes the
// plain filter gradient, which reads x and dy as pairs of images, and a
// separate bias_grad, which sums dy in float32 as the stage would (the same
// bits): the stage needs dy in float32, the pair kernel dy packed. Its
// kernel summed dy in a pass of its own anyway, so this costs a barrier.
bool splitBiasGrad(const ir::Op &op, std::vector<ir::Op> &ops) {
  if (op.kind != ir::OpKind::Conv2DBackwardFilterFused)
    return false;
  absl::StatusOr<ir::FusedStageSet> read = ir::fusedStagesOf(op.kind, op.attrs);
  if (!read.ok() || *read != ir::FusedStageSet{ir::FusedStage::BiasGrad} ||
      op.operands.size() != 2 || op.results.size() != 2)
    return false;
  ir::Op filter = op;
  filter.kind = ir::OpKind::Conv2DBackwardFilter;
  filter.attrs.erase(ir::AttrName::Epilogue);
  filter.attrs.erase(ir::AttrName::Prologue);
  filter.results = {op.results[0]};
  ops.push_back(std::move(filter));
  ops.push_back(ir::Op{
      ir::OpKind::BiasGrad, {op.operands[1]}, {op.results[1]}, {}, op.loc});
  return true;
}

} // namespace

void applyDtypePolicy(ir::Graph &g, ir::DtypePolicy policy, bool pairs) {
  ir::ComputeDtype dtype = ir::policyComputeDtype(policy);
  bool bfloat16 = dtype == ir::ComputeDtype::Bfloat16;
  // Each value rounded (axis -1) or packed along an axis once per step, by
  // the first contraction that reads it so; later ones read the same copy.
  std::map<std::pair<ir::ValueId, int64_t>, ir::ValueId> rounded;
  std::vector<ir::Op> ops;
  bool changed = false;
  std::vector<ir::Op> input(g.ops().begin(), g.ops().end());
  if (bfloat16 && pairs) {
    std::vector<ir::Op> split;
    for (const ir::Op &op : input)
      if (splitBiasGrad(op, split))
        changed = true;
      else
        split.push_back(op);
    input = std::move(split);
  }
  for (ir::Op op : input) {
    if (!(ir::opInfo(op.kind).flags & ir::kContracts)) {
      // A copy made before an in-place update (an optimizer step) is stale
      // after it: a later reader rounds the value again.
      for (size_t k = 0; k < op.operands.size(); ++k)
        if (ir::writesOperand(op.kind, k))
          std::erase_if(rounded, [&](const auto &entry) {
            return entry.first.first == op.operands[k];
          });
      ops.push_back(std::move(op));
      continue;
    }
    if (!bfloat16) {
      op.attrs.erase(ir::AttrName::ComputeDtype);
      ops.push_back(std::move(op));
      continue;
    }
    op.attrs.set(ir::AttrName::ComputeDtype, ir::attrEnumName(dtype));
    std::vector<size_t> replaceable = replaceableOperands(op);
    // Every replaceable operand packed, or none (a graph from an earlier
    // run). A filter gradient that computes dy from a pool pairs images of
    // x with dy it computes itself: only for an even batch.
    bool pack = pairs && !replaceable.empty();
    for (size_t k : replaceable)
      pack = pack && ir::bfloat16PairAxis(op.kind, op.attrs, k) >= 0 &&
             g.type(op.operands[k]).dtype == ir::DType::F32;
    if (pack && replaceable.size() == 1 &&
        g.type(op.operands[0]).shape[0] % 2 != 0)
      pack = false;
    for (size_t k : replaceable) {
      ir::ValueId v = op.operands[k];
      int64_t axis = pack ? ir::bfloat16PairAxis(op.kind, op.attrs, k) : -1;
      if (g.type(v).dtype != ir::DType::F32 ||
          (axis < 0 && ir::isRoundedToBfloat16(g, v)))
        continue; // already rounded or packed (the pass ran before)
      auto it = rounded.find({v, axis});
      if (it == rounded.end()) {
        ir::ValueId r;
        if (axis < 0) {
          r = g.addTemp(g.value(v).name + ".bf16", g.type(v));
          ops.push_back(
              ir::Op{ir::OpKind::RoundToBfloat16, {v}, {r}, {}, op.loc});
        } else {
          r = g.addTemp(g.value(v).name + ".bf16x2",
                        ir::packedBfloat16Pairs(g.type(v), axis));
          ops.push_back(
              ir::Op{ir::OpKind::PackBfloat16Pairs,
                     {v},
                     {r},
                     {{ir::AttrName::Axes, std::vector<int64_t>{axis}}},
                     op.loc});
        }
        it = rounded.emplace(std::make_pair(v, axis), r).first;
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
