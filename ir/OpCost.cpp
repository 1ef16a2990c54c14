#include "ir/OpCost.h"

#include "ir/DtypePolicy.h"
#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

#include <iterator>

namespace cnnc::ir {

namespace {

double elements(const Graph &g, ValueId v) {
  return static_cast<double>(g.type(v).numElements());
}

// Every operand read and every result written once.
double operandAndResultBytes(const Graph &g, const Op &op) {
  double bytes = 0;
  for (ValueId v : op.operands)
    bytes += static_cast<double>(g.type(v).byteSize());
  for (ValueId v : op.results)
    bytes += static_cast<double>(g.type(v).byteSize());
  return bytes;
}

// 2 * N*OH*OW*O * KH*KW*C, from the output (gradient) y and the kernel w.
double convFlops(const std::vector<int64_t> &y, const std::vector<int64_t> &w) {
  return 2 * static_cast<double>(TensorType{DType::F32, y}.numElements()) *
         static_cast<double>(w[0] * w[1] * w[2]);
}

// Operand i's shape as the op contracts it: unpacked where it is read as
// bfloat16 pairs (ir/Types.h; the summed axis then counts the padding).
std::vector<int64_t> contractedShape(const Graph &g, const Op &op, size_t i) {
  const TensorType &t = g.type(op.operands[i]);
  std::optional<TensorType> unpacked =
      t.dtype == DType::BF16
          ? unpackedBfloat16Pairs(t, bfloat16PairAxis(op.kind, op.attrs, i))
          : std::nullopt;
  return unpacked ? unpacked->shape : t.shape;
}

OpCost conv2dCost(const Graph &g, const Op &op) {
  return {convFlops(g.type(op.results[0]).shape, contractedShape(g, op, 1)),
          operandAndResultBytes(g, op)};
}

OpCost conv2dBackwardDataCost(const Graph &g, const Op &op) {
  return {convFlops(g.type(op.operands[0]).shape, g.type(op.operands[1]).shape),
          operandAndResultBytes(g, op)};
}

// A filter gradient's [KH, KW, C, O], without the leading axis of its
// batch groups' partial sums (batch_groups): the groups split the work.
std::vector<int64_t> filterShape(const Graph &g, const Op &op) {
  const std::vector<int64_t> &s = g.type(op.results[0]).shape;
  return op.attrs.has(AttrName::BatchGroups)
             ? std::vector<int64_t>(s.begin() + 1, s.end())
             : s;
}

OpCost conv2dBackwardFilterCost(const Graph &g, const Op &op) {
  return {convFlops(contractedShape(g, op, 1), filterShape(g, op)),
          operandAndResultBytes(g, op)};
}

OpCost matmulCost(const Graph &g, const Op &op) {
  // c[M,P] = op(a) op(b): the contraction is a's non-output axis.
  // With k_groups, G partial products of [M, P] share the contraction.
  int64_t kAxis = op.attrs.getInt(ir::AttrName::TransposeA) != 0 ? 0 : 1;
  double groups =
      static_cast<double>(op.attrs.getInt(ir::AttrName::KGroups, 1));
  return {2 * elements(g, op.results[0]) / groups *
              static_cast<double>(contractedShape(g, op, 0)[kAxis]),
          operandAndResultBytes(g, op)};
}

// One compare or add per window tap of each output.
double windowTaps(const Op &op) {
  std::vector<int64_t> p = op.attrs.getInts(ir::AttrName::PoolSize);
  return p.size() == 2 ? static_cast<double>(p[0] * p[1]) : 1;
}

OpCost pool2dCost(const Graph &g, const Op &op) {
  return {elements(g, op.results[0]) * windowTaps(op),
          operandAndResultBytes(g, op)};
}

// max_pool2d_grad(x, y, dy) and avg_pool2d_grad(dy): one per tap of each
// window of dy (the last operand).
OpCost pool2dGradCost(const Graph &g, const Op &op) {
  return {elements(g, op.operands.back()) * windowTaps(op),
          operandAndResultBytes(g, op)};
}

OpCost elementwiseCost(const Graph &g, const Op &op) {
  return {elements(g, op.results[0]), operandAndResultBytes(g, op)};
}

// Reductions (bias_grad, count_correct): one per input element.
OpCost reduceCost(const Graph &g, const Op &op) {
  return {elements(g, op.operands[0]), operandAndResultBytes(g, op)};
}

// Max, subtract, exp, sum, divide per logit.
OpCost softmaxCost(const Graph &g, const Op &op) {
  return {5 * elements(g, op.operands[0]), operandAndResultBytes(g, op)};
}

OpCost aliasCost(const Graph &, const Op &) { return {0, 0}; }

// Data movement only (pad2d, pad2d_grad).
OpCost copyCost(const Graph &g, const Op &op) {
  return {0, operandAndResultBytes(g, op)};
}

// Optimizer updates: `flopsPerElement` per parameter element; operand 1 is
// the gradient (read), the others but the step are read and written.
OpCost updateCost(const Graph &g, const Op &op, double flopsPerElement) {
  double bytes = 0;
  for (size_t i = 0; i < op.operands.size(); ++i) {
    double b = static_cast<double>(g.type(op.operands[i]).byteSize());
    bool written = writesOperand(op.kind, i);
    bytes += written ? 2 * b : b;
  }
  return {flopsPerElement * elements(g, op.operands[0]), bytes};
}

OpCost sgdUpdateCost(const Graph &g, const Op &op) {
  return updateCost(g, op, op.operands.size() == 4 ? 4 : 2);
}

OpCost adamUpdateCost(const Graph &g, const Op &op) {
  return updateCost(g, op, 12);
}

OpCost rmspropUpdateCost(const Graph &g, const Op &op) {
  return updateCost(g, op, 7);
}

// ---- Fused ops (passes/Fusion.cpp) ----

// The convolution before the pool: 2 * N*OH*OW*O * KH*KW*C, plus one
// compare per pooled tap when the epilogue pools.
OpCost conv2dFusedCost(const Graph &g, const Op &op) {
  // Costs are also asked of unverified graphs: no stages when invalid.
  if (!fusedStagesOf(op.kind, op.attrs)
           .value_or(FusedStageSet{})
           .has(FusedStage::MaxPool2D))
    return conv2dCost(g, op);
  const std::vector<int64_t> &x = g.type(op.operands[0]).shape;
  const std::vector<int64_t> w = contractedShape(g, op, 1);
  std::vector<int64_t> s = op.attrs.getInts(ir::AttrName::Strides),
                       p = op.attrs.getInts(ir::AttrName::Padding);
  std::vector<int64_t> d = op.attrs.getInts(ir::AttrName::Dilations);
  if (d.empty())
    d = {1, 1};
  if (s.size() != 2 || p.size() != 4 || d.size() != 2 || d[0] < 1 || d[1] < 1 ||
      d[0] > x[1] || d[1] > x[2])
    return {0, operandAndResultBytes(g, op)};
  // The window the (dilated) taps span.
  double oh = static_cast<double>(
      windowOutputSize(x[1], (w[0] - 1) * d[0] + 1, s[0], p[0], p[2]));
  double ow = static_cast<double>(
      windowOutputSize(x[2], (w[1] - 1) * d[1] + 1, s[1], p[1], p[3]));
  double conv = static_cast<double>(x[0]) * oh * ow * static_cast<double>(w[3]);
  return {2 * conv * static_cast<double>(w[0] * w[1] * w[2]) + conv,
          operandAndResultBytes(g, op)};
}

// The filter gradient dw [KH,KW,C,O] (result 0) times the N*OH*OW pixels of
// the gradient, which the max_pool2d_argmax_grad prologue implies.
OpCost conv2dBackwardFilterFusedCost(const Graph &g, const Op &op) {
  if (!fusedStagesOf(op.kind, op.attrs)
           .value_or(FusedStageSet{})
           .has(FusedStage::MaxPool2DArgmaxGrad))
    return conv2dBackwardFilterCost(g, op);
  // Images, not the pairs of them that a bfloat16 x holds.
  const std::vector<int64_t> x = contractedShape(g, op, 0);
  std::vector<int64_t> k = op.attrs.getInts(ir::AttrName::KernelSize),
                       s = op.attrs.getInts(ir::AttrName::Strides),
                       p = op.attrs.getInts(ir::AttrName::Padding);
  if (k.size() != 2 || s.size() != 2 || p.size() != 4)
    return {0, operandAndResultBytes(g, op)};
  double oh =
      static_cast<double>(windowOutputSize(x[1], k[0], s[0], p[0], p[2]));
  double ow =
      static_cast<double>(windowOutputSize(x[2], k[1], s[1], p[1], p[3]));
  return {2 *
              static_cast<double>(
                  TensorType{DType::F32, filterShape(g, op)}.numElements()) *
              static_cast<double>(x[0]) * oh * ow,
          operandAndResultBytes(g, op)};
}

// One per element of dx (input_shape), written as itself or as its
// bfloat16 pairs; the bias gradient adds one per pooled element.
OpCost maxPool2DArgmaxGradFusedCost(const Graph &g, const Op &op) {
  TensorType dx{DType::F32, op.attrs.getInts(AttrName::InputShape)};
  return {static_cast<double>(dx.numElements()), operandAndResultBytes(g, op)};
}

// dy [N,OH,OW,O] and the transposed kernel [KH,KW,O,C].
OpCost conv2dBackwardDataTransposedCost(const Graph &g, const Op &op) {
  const std::vector<int64_t> &wt = g.type(op.operands[1]).shape;
  return {2 * elements(g, op.operands[0]) *
              static_cast<double>(wt[0] * wt[1] * wt[3]),
          operandAndResultBytes(g, op)};
}

// ---- Batch normalization ----

// Statistics (sum, then squared deviations: 3 per element) and the
// normalization (subtract, fma: 2 per element); with batch_groups the
// statistics are batch_norm_sums'.
OpCost batchNormCost(const Graph &g, const Op &op) {
  int64_t perElement = op.attrs.has(AttrName::BatchGroups) ? 2 : 5;
  return {perElement * elements(g, op.operands[0]),
          operandAndResultBytes(g, op)};
}

// Two sums (dy, dy * xhat: 4 per element) and dx (about 5 per element);
// with batch_groups the sums are batch_norm_grad_sums'.
OpCost batchNormGradCost(const Graph &g, const Op &op) {
  int64_t perElement = op.attrs.has(AttrName::BatchGroups) ? 5 : 9;
  return {perElement * elements(g, op.operands[0]),
          operandAndResultBytes(g, op)};
}

// batch_norm_sums (3 per element) and batch_norm_grad_sums (4: xhat, a
// product, two adds); both read x (and dy) once.
OpCost batchNormSumsCost(const Graph &g, const Op &op) {
  int64_t perElement = op.kind == OpKind::BatchNormSums ? 3 : 4;
  return {perElement * elements(g, op.operands[0]),
          operandAndResultBytes(g, op)};
}

// Subtract and fma per element.
OpCost batchNormInferenceCost(const Graph &g, const Op &op) {
  return {2 * elements(g, op.operands[0]), operandAndResultBytes(g, op)};
}

OpCost movingAverageUpdateCost(const Graph &g, const Op &op) {
  return updateCost(g, op, 3);
}

// ---- Augmentation ----

// Flips, contrast and brightness: a few operations per output element.
OpCost augmentCost(const Graph &g, const Op &op) {
  return {4 * elements(g, op.results[0]), operandAndResultBytes(g, op)};
}

// Resampling (rotation, zoom, translation, crop): the source coordinates
// per pixel and a bilinear blend of four taps per output element.
OpCost resampleCost(const Graph &g, const Op &op) {
  return {12 * elements(g, op.results[0]), operandAndResultBytes(g, op)};
}

// ---- The table: one cost rule per op, from ir/Ops.def ----

using CostFn = OpCost (*)(const Graph &, const Op &);
constexpr CostFn kCostRules[] = {
#define OP(Enum, Name, NumOperands, NumResults, Flags, Shape, Vjp, Cost, Emit) \
  Cost,
#include "ir/Ops.def"
#undef OP
};
static_assert(std::size(kCostRules) == kNumOpKinds);

} // namespace

OpCost opCost(const Graph &g, const Op &op) {
  return kCostRules[static_cast<int>(op.kind)](g, op);
}

} // namespace cnnc::ir
