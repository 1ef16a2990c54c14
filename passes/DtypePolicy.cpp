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

// A convolution of a one-channel image would pair each value with a zero
// channel: half of every multiply-add wasted. Its kernel's columns pair up
// instead (pack_bfloat16_pairs along KW), and so does each pixel with its
// right neighbour (pack_bfloat16_column_pairs): a two-channel convolution
// with taps two columns apart (dilations [1, 2]), one multiply-add for two
// taps of a row. Only for an odd KW, whose dilated window is as wide as
// the original (an even one's would reach a column further); its last
// pair has a zero weight, which multiplies the pixel right of the window
// (so a non-finite pixel also reaches the window to its left, within the
// same image). Not with left padding: the pair left of the image would be
// (0, x[0]), not the padding's zero.
bool pairsColumns(const ir::Graph &g, const ir::Op &op) {
  if (op.kind != ir::OpKind::Conv2D && op.kind != ir::OpKind::Conv2DFused)
    return false;
  const ir::TensorType &x = g.type(op.operands[0]), &w = g.type(op.operands[1]);
  std::vector<int64_t> pad = op.attrs.getInts(ir::AttrName::Padding);
  return x.dtype == ir::DType::F32 && w.dtype == ir::DType::F32 &&
         x.rank() == 4 && w.rank() == 4 && x.shape[3] == 1 && w.shape[1] >= 3 &&
         w.shape[1] % 2 == 1 && pad.size() == 4 && pad[1] == 0 &&
         !op.attrs.has(ir::AttrName::Dilations);
}

} // namespace

void applyDtypePolicy(ir::Graph &g, ir::DtypePolicy policy, bool pairs) {
  ir::ComputeDtype dtype = ir::policyComputeDtype(policy);
  bool bfloat16 = dtype == ir::ComputeDtype::Bfloat16;
  // Each value rounded (kRounded) or packed along an axis (or in column
  // pairs, kColumnPairs) once per step, by the first contraction that reads
  // it so; later ones read the same copy.
  constexpr int64_t kRounded = -1, kColumnPairs = -2;
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
    bool columns = pack && pairsColumns(g, op);
    if (columns)
      op.attrs.set(ir::AttrName::Dilations, std::vector<int64_t>{1, 2});
    for (size_t k : replaceable) {
      ir::ValueId v = op.operands[k];
      int64_t axis =
          pack ? ir::bfloat16PairAxis(op.kind, op.attrs, k) : kRounded;
      if (columns)
        axis = k == 0 ? kColumnPairs : 1;
      if (g.type(v).dtype != ir::DType::F32 ||
          (axis == kRounded && ir::isRoundedToBfloat16(g, v)))
        continue; // already rounded or packed (the pass ran before)
      auto it = rounded.find({v, axis});
      if (it == rounded.end()) {
        ir::ValueId r;
        if (axis == kColumnPairs) {
          ir::TensorType t = g.type(v);
          t.shape.back() = 2;
          r = g.addTemp(g.value(v).name + ".columns",
                        ir::packedBfloat16Pairs(t, 3));
          ops.push_back(ir::Op{
              ir::OpKind::PackBfloat16ColumnPairs, {v}, {r}, {}, op.loc});
        } else if (axis == kRounded) {
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
