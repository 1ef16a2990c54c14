#include "ir/ShapeRules.h"

#include "support/Status.h"

#include "ir/Activations.h"
#include "ir/AttrEnums.h"
#include "ir/DtypePolicy.h"
#include "ir/FusedStages.h"

#include "absl/status/status.h"
#include <fmt/format.h>

#include <cmath>
#include <iterator>
#include <limits>

namespace cnnc::ir {

namespace {

absl::Status err(OpKind kind, const std::string &msg) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", opName(kind), msg));
}

// Reads a 2-element int list attribute (strides, pool_size, kernel_size).
absl::StatusOr<std::pair<int64_t, int64_t>>
pairAttr(OpKind kind, const Attrs &attrs, AttrName name) {
  std::vector<int64_t> v = attrs.getInts(name);
  if (v.size() != 2 || v[0] <= 0 || v[1] <= 0)
    return err(kind, fmt::format("attribute '{}' must be two positive integers",
                                 attrName(name)));
  return std::make_pair(v[0], v[1]);
}

struct Window {
  int64_t kh, kw, sh, sw, pt, pl, pb, pr;
};

// Window geometry of conv/pool ops: window from `windowAttr` (or given),
// strides, and padding [top, left, bottom, right].
absl::StatusOr<Window> windowAttrs(OpKind kind, const Attrs &attrs, int64_t kh,
                                   int64_t kw) {
  auto strides = pairAttr(kind, attrs, AttrName::Strides);
  if (!strides.ok())
    return strides.status();
  std::vector<int64_t> pad = attrs.getInts(AttrName::Padding);
  if (pad.size() != 4)
    return err(kind, "attribute 'padding' must be [top, left, bottom, right]");
  for (int64_t p : pad)
    if (p < 0)
      return err(kind, "padding must not be negative");
  // TF pads less than a window; more would create all-padding windows.
  if (pad[0] >= kh || pad[2] >= kh || pad[1] >= kw || pad[3] >= kw)
    return err(kind, "padding must be smaller than the window");
  return Window{kh,     kw,     strides->first, strides->second,
                pad[0], pad[1], pad[2],         pad[3]};
}

absl::Status expectRank(OpKind kind, const TensorType &t, int64_t rank,
                        const char *what) {
  if (t.rank() != rank)
    return err(
        kind, fmt::format("{} must have rank {}, got {}", what, rank, t.str()));
  return absl::OkStatus();
}

absl::Status expectF32(OpKind kind, const TensorType &t, const char *what) {
  if (t.dtype != DType::F32)
    return err(kind, fmt::format("{} must be f32, got {}", what, t.str()));
  return absl::OkStatus();
}

absl::Status expectSame(OpKind kind, const TensorType &a, const TensorType &b,
                        const char *what) {
  if (!(a == b))
    return err(kind, fmt::format("{} must have the same type: {} vs {}", what,
                                 a.str(), b.str()));
  return absl::OkStatus();
}

// Output shape [N, OH, OW, channels] of a window op on x [N, H, W, C].
absl::StatusOr<std::vector<int64_t>> windowOutput(OpKind kind,
                                                  const std::vector<int64_t> &x,
                                                  const Window &w,
                                                  int64_t channels) {
  int64_t oh = windowOutputSize(x[1], w.kh, w.sh, w.pt, w.pb);
  int64_t ow = windowOutputSize(x[2], w.kw, w.sw, w.pl, w.pr);
  if (oh <= 0 || ow <= 0)
    return err(kind, fmt::format("window {}x{} does not fit input {}", w.kh,
                                 w.kw, shapeStr(x)));
  return std::vector<int64_t>{x[0], oh, ow, channels};
}

using Types = std::vector<TensorType>;

// A bfloat16 contraction may read both operands as bfloat16 pairs along
// the axis it sums over (the dtype-policy pass's pack_bfloat16_pairs;
// ir/DtypePolicy.h bfloat16PairAxis): conv2d and conv2d_fused x
// bf16[N,H,W,C/2,2] and w bf16[KH,KW,C/2,O,2]; conv2d_backward_data_transposed
// dy bf16[N,OH,OW,O/2,2] and wt bf16[KH,KW,O/2,C,2]; conv2d_backward_filter
// x bf16[N/2,H,W,C,2] and dy bf16[N/2,OH,OW,O,2]; matmul a bf16[M,K/2,2]
// and b bf16[K/2,N,2] (transposed operands along their other axis). The op
// is then that of the unpacked (padded) f32 operands.
absl::Status unpackPairOperands(OpKind k, TensorType &x, TensorType &w,
                                const Attrs &a) {
  if (x.dtype != DType::BF16 && w.dtype != DType::BF16)
    return absl::OkStatus();
  int64_t ax = bfloat16PairAxis(k, a, 0), aw = bfloat16PairAxis(k, a, 1);
  if (ax < 0 || aw < 0)
    return err(k, "takes no bf16 operands here (convolutions forward, "
                  "backward data from a transposed kernel and backward "
                  "filter, and matmuls, do)");
  if (computeDtypeOf(a) != ComputeDtype::Bfloat16)
    return err(k, "bf16 operands need compute_dtype = \"bfloat16\"");
  std::optional<TensorType> ux = unpackedBfloat16Pairs(x, ax),
                            uw = unpackedBfloat16Pairs(w, aw);
  if (!ux || !uw)
    return err(k, fmt::format("bf16 operands must both be pairs along the "
                              "summed axes {} and {}, got {} and {}",
                              ax, aw, x.str(), w.str()));
  x = *ux;
  w = *uw;
  return absl::OkStatus();
}

// A forward convolution's kernel taps may be spread out (`dilations`, [1,
// 1] when absent): tap (kh, kw) reads input pixel (r * sh - pt + kh * dh,
// q * sw - pl + kw * dw). The dtype-policy pass makes them (two columns
// apart, pack_bfloat16_column_pairs); the gradients have no such attribute.
absl::StatusOr<std::pair<int64_t, int64_t>> dilationsOf(OpKind k,
                                                        const Attrs &a) {
  if (!a.has(AttrName::Dilations))
    return std::make_pair(int64_t{1}, int64_t{1});
  if (k != OpKind::Conv2D && k != OpKind::Conv2DFused)
    return err(k, "takes no 'dilations' (only conv2d and conv2d_fused do)");
  return pairAttr(k, a, AttrName::Dilations);
}

absl::StatusOr<Types> conv2dShape(OpKind k, const Types &in, const Attrs &a) {
  TensorType x = in[0], w = in[1];
  CNNC_TRY(unpackPairOperands(k, x, w, a));
  CNNC_TRY(expectRank(k, x, 4, "input"));
  CNNC_TRY(expectRank(k, w, 4, "kernel"));
  CNNC_TRY(expectF32(k, x, "input"));
  CNNC_TRY(expectF32(k, w, "kernel"));
  if (w.shape[2] != x.shape[3])
    return err(k, fmt::format("kernel {} expects {} input channels, input {} "
                              "has {}",
                              w.str(), w.shape[2], x.str(), x.shape[3]));
  CNNC_ASSIGN_OR_RETURN(d, dilationsOf(k, a));
  int64_t spanH, spanW; // (KH - 1) * dh + 1, (KW - 1) * dw + 1
  if (__builtin_mul_overflow(w.shape[0] - 1, d.first, &spanH) ||
      __builtin_mul_overflow(w.shape[1] - 1, d.second, &spanW) ||
      spanH >= kMaxElements || spanW >= kMaxElements)
    return err(k, "attribute 'dilations' spreads the window beyond any input");
  CNNC_ASSIGN_OR_RETURN(win, windowAttrs(k, a, spanH + 1, spanW + 1));
  CNNC_ASSIGN_OR_RETURN(out, windowOutput(k, x.shape, win, w.shape[3]));
  return Types{f32(out)};
}

absl::StatusOr<Types> conv2dBackwardDataShape(OpKind k, const Types &in,
                                              const Attrs &a) {
  const TensorType &dy = in[0], &w = in[1];
  CNNC_TRY(expectRank(k, dy, 4, "output gradient"));
  CNNC_TRY(expectRank(k, w, 4, "kernel"));
  std::vector<int64_t> xs = a.getInts(AttrName::InputShape);
  if (xs.size() != 4)
    return err(k, "attribute 'input_shape' must have 4 dimensions");
  CNNC_ASSIGN_OR_RETURN(fwd, conv2dShape(k, {f32(xs), w}, a));
  if (fwd[0].shape != dy.shape)
    return err(k, fmt::format("output gradient {} does not match forward "
                              "output {}",
                              dy.str(), fwd[0].str()));
  return Types{f32(xs)};
}

// With batch_groups = G, a filter or bias gradient is G partial sums
// stacked along a new leading axis, one per group of operand 0's batch
// (ir/ShapeRules.h).
absl::StatusOr<TensorType> withBatchGroups(OpKind k, const Attrs &a,
                                           int64_t batch, TensorType dw) {
  if (!a.has(AttrName::BatchGroups))
    return dw;
  int64_t groups = a.getInt(AttrName::BatchGroups);
  if (groups < 2 || groups > batch)
    return err(k, fmt::format("batch_groups = {} must be between 2 and the "
                              "batch ({})",
                              groups, batch));
  dw.shape.insert(dw.shape.begin(), groups);
  return dw;
}

absl::StatusOr<Types> conv2dBackwardFilterShape(OpKind k, const Types &in,
                                                const Attrs &a) {
  TensorType x = in[0], dy = in[1];
  CNNC_TRY(unpackPairOperands(k, x, dy, a));
  CNNC_TRY(expectRank(k, x, 4, "input"));
  CNNC_TRY(expectRank(k, dy, 4, "output gradient"));
  CNNC_ASSIGN_OR_RETURN(ks, pairAttr(k, a, AttrName::KernelSize));
  std::vector<int64_t> ws{ks.first, ks.second, x.shape[3], dy.shape[3]};
  CNNC_ASSIGN_OR_RETURN(fwd, conv2dShape(k, {x, f32(ws)}, a));
  if (fwd[0].shape != dy.shape)
    return err(k, fmt::format("output gradient {} does not match forward "
                              "output {}",
                              dy.str(), fwd[0].str()));
  CNNC_ASSIGN_OR_RETURN(dw, withBatchGroups(k, a, in[0].shape[0], f32(ws)));
  return Types{dw};
}

absl::StatusOr<Types> pool2dShape(OpKind k, const Types &in, const Attrs &a) {
  const TensorType &x = in[0];
  CNNC_TRY(expectRank(k, x, 4, "input"));
  CNNC_TRY(expectF32(k, x, "input"));
  CNNC_ASSIGN_OR_RETURN(ps, pairAttr(k, a, AttrName::PoolSize));
  CNNC_ASSIGN_OR_RETURN(win, windowAttrs(k, a, ps.first, ps.second));
  CNNC_ASSIGN_OR_RETURN(out, windowOutput(k, x.shape, win, x.shape[3]));
  return Types{f32(out)};
}

absl::StatusOr<Types> maxPool2DGradShape(OpKind k, const Types &in,
                                         const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(fwd, pool2dShape(k, {in[0]}, a));
  CNNC_TRY(expectSame(k, in[1], fwd[0], "forward output and its shape rule"));
  CNNC_TRY(expectSame(k, in[2], fwd[0], "output gradient and forward output"));
  return Types{in[0]};
}

absl::StatusOr<Types> avgPool2DGradShape(OpKind k, const Types &in,
                                         const Attrs &a) {
  std::vector<int64_t> xs = a.getInts(AttrName::InputShape);
  if (xs.size() != 4)
    return err(k, "attribute 'input_shape' must have 4 dimensions");
  CNNC_ASSIGN_OR_RETURN(fwd, pool2dShape(k, {f32(xs)}, a));
  CNNC_TRY(expectSame(k, in[0], fwd[0], "output gradient and forward output"));
  return Types{f32(xs)};
}

absl::StatusOr<Types> matmulShape(OpKind k, const Types &in, const Attrs &a) {
  TensorType x = in[0], y = in[1];
  CNNC_TRY(unpackPairOperands(k, x, y, a));
  CNNC_TRY(expectRank(k, x, 2, "lhs"));
  CNNC_TRY(expectRank(k, y, 2, "rhs"));
  CNNC_TRY(expectF32(k, x, "lhs"));
  CNNC_TRY(expectF32(k, y, "rhs"));
  bool ta = a.getInt(AttrName::TransposeA) != 0,
       tb = a.getInt(AttrName::TransposeB) != 0;
  int64_t m = ta ? x.shape[1] : x.shape[0], kx = ta ? x.shape[0] : x.shape[1];
  int64_t ky = tb ? y.shape[1] : y.shape[0], n = tb ? y.shape[0] : y.shape[1];
  if (kx != ky)
    return err(
        k, fmt::format("contraction sizes differ: {} vs {}", x.str(), y.str()));
  if (!a.has(AttrName::KGroups))
    return Types{f32({m, n})};
  // G partial products, one per group of the contraction (ShapeRules.h).
  int64_t groups = a.getInt(AttrName::KGroups);
  if (k != OpKind::MatMul || ta || tb)
    return err(k, "k_groups is for a matmul without transposes");
  if (groups < 2 || groups > std::min<int64_t>(kx, 64))
    return err(k, fmt::format("k_groups = {} must be between 2 and the "
                              "contraction ({}), at most 64",
                              groups, kx));
  return Types{f32({groups, m, n})};
}

absl::StatusOr<Types> biasAddShape(OpKind k, const Types &in, const Attrs &) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  CNNC_TRY(expectRank(k, in[1], 1, "bias"));
  if (in[0].rank() < 1 || in[0].shape.back() != in[1].shape[0])
    return err(k, fmt::format("bias {} does not match the last axis of {}",
                              in[1].str(), in[0].str()));
  return Types{in[0]};
}

absl::StatusOr<Types> biasGradShape(OpKind k, const Types &in, const Attrs &a) {
  CNNC_TRY(expectF32(k, in[0], "gradient"));
  if (in[0].rank() < 1)
    return err(k, "gradient must have rank >= 1");
  if (a.has(AttrName::BatchGroups) && in[0].rank() < 2)
    return err(k, "batch_groups needs a batch: a gradient of rank >= 2");
  CNNC_ASSIGN_OR_RETURN(
      db, withBatchGroups(k, a, in[0].shape[0], f32({in[0].shape.back()})));
  return Types{db};
}

absl::StatusOr<Types> reshapeShape(OpKind k, const Types &in, const Attrs &a) {
  std::vector<int64_t> s = a.getInts(AttrName::Shape);
  TensorType out{in[0].dtype, s};
  // isValid bounds each partial product, so numElements cannot overflow.
  if (!out.isValid())
    return err(k, fmt::format("cannot reshape {} to {}: dimensions must be "
                              "positive and a type has at most 2^48 elements",
                              in[0].str(), shapeStr(s)));
  if (s.empty() || out.numElements() != in[0].numElements())
    return err(
        k, fmt::format("cannot reshape {} to {}", in[0].str(), shapeStr(s)));
  return Types{out};
}

// The activation kind and its parameter (ir/Activations.def).
absl::Status activationKind(OpKind k, const Attrs &a) {
  return checkActivationAttrs(opName(k), a);
}

absl::StatusOr<Types> activationShape(OpKind k, const Types &in,
                                      const Attrs &a) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  CNNC_TRY(activationKind(k, a));
  return Types{in[0]};
}

absl::StatusOr<Types> activationGradShape(OpKind k, const Types &in,
                                          const Attrs &a) {
  CNNC_TRY(activationKind(k, a));
  // Operand 0 is the forward output or input, as the table says.
  bool fromInput =
      activationInfo(activationKindOf(a)).gradFrom == ActivationGradFrom::Input;
  CNNC_TRY(expectF32(k, in[0], fromInput ? "input" : "output"));
  CNNC_TRY(expectSame(k, in[0], in[1],
                      fromInput ? "input and the output's gradient"
                                : "output and its gradient"));
  return Types{in[0]};
}

absl::StatusOr<Types> softmaxShape(OpKind k, const Types &in, const Attrs &) {
  CNNC_TRY(expectRank(k, in[0], 2, "input"));
  CNNC_TRY(expectF32(k, in[0], "input"));
  return Types{in[0]};
}

// Shared check of the loss and metric ops: f32[N,C] logits, i32[N] labels.
absl::Status logitsAndLabels(OpKind k, const Types &in) {
  CNNC_TRY(expectRank(k, in[0], 2, "logits"));
  CNNC_TRY(expectF32(k, in[0], "logits"));
  if (in[1].dtype != DType::I32 || in[1].rank() != 1 ||
      in[1].shape[0] != in[0].shape[0])
    return err(k, fmt::format("labels must be i32[{}], got {}", in[0].shape[0],
                              in[1].str()));
  return absl::OkStatus();
}

absl::StatusOr<Types> softmaxCrossEntropyShape(OpKind k, const Types &in,
                                               const Attrs &) {
  CNNC_TRY(logitsAndLabels(k, in));
  return Types{f32({}), in[0]};
}

absl::StatusOr<Types> softmaxCrossEntropyGradShape(OpKind k, const Types &in,
                                                   const Attrs &) {
  CNNC_TRY(logitsAndLabels(k, in));
  return Types{in[0]};
}

absl::StatusOr<Types> countCorrectShape(OpKind k, const Types &in,
                                        const Attrs &) {
  CNNC_TRY(logitsAndLabels(k, in));
  return Types{f32({})};
}

absl::StatusOr<Types> dropoutShape(OpKind k, const Types &in, const Attrs &a) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  if (in[1] != i32({}))
    return err(k, fmt::format("step must be i32[], got {}", in[1].str()));
  double rate = a.getFloat(AttrName::Rate, -1);
  if (!(rate >= 0 && rate < 1))
    return err(k, "attribute 'rate' must be in [0, 1)");
  return Types{in[0], in[0]};
}

absl::StatusOr<Types> binaryShape(OpKind k, const Types &in, const Attrs &) {
  CNNC_TRY(expectF32(k, in[0], "lhs"));
  CNNC_TRY(expectSame(k, in[0], in[1], "operands"));
  return Types{in[0]};
}

// Every update reads the learning rate as operand 2, a scalar input of the
// step (so that schedules never recompile).
absl::Status expectLearningRate(OpKind k, const TensorType &lr) {
  if (lr != f32({}))
    return err(k, fmt::format("learning rate (operand 2) must be f32[], got {}",
                              lr.str()));
  return absl::OkStatus();
}

absl::StatusOr<Types> sgdUpdateShape(OpKind k, const Types &in, const Attrs &) {
  if (in.size() != 3 && in.size() != 4)
    return err(k, "expects (param, grad, learning_rate) or (param, grad, "
                  "learning_rate, velocity)");
  CNNC_TRY(expectSame(k, in[0], in[1], "param, gradient and state"));
  CNNC_TRY(expectLearningRate(k, in[2]));
  if (in.size() == 4)
    CNNC_TRY(expectSame(k, in[0], in[3], "param, gradient and state"));
  return Types{};
}

// (param, grad, learning_rate, m, v, step)
absl::StatusOr<Types> adamUpdateShape(OpKind k, const Types &in,
                                      const Attrs &) {
  CNNC_TRY(expectLearningRate(k, in[2]));
  for (size_t i : {1, 3, 4})
    CNNC_TRY(expectSame(k, in[0], in[i], "param, gradient and moments"));
  if (in[5] != i32({}))
    return err(k, fmt::format("step must be i32[], got {}", in[5].str()));
  return Types{};
}

// (param, grad, learning_rate, mean_square)
absl::StatusOr<Types> rmspropUpdateShape(OpKind k, const Types &in,
                                         const Attrs &) {
  CNNC_TRY(expectLearningRate(k, in[2]));
  for (size_t i : {1, 3})
    CNNC_TRY(expectSame(k, in[0], in[i], "param, gradient and mean square"));
  return Types{};
}

// ---- Zero padding ----

// pad2d's attribute 'padding' = [top, left, bottom, right], as the conv and
// pool ops order it.
absl::StatusOr<std::vector<int64_t>> padAttr(OpKind k, const Types &in,
                                             const Attrs &a) {
  CNNC_TRY(expectRank(k, in[0], 4, "input"));
  CNNC_TRY(expectF32(k, in[0], "input"));
  std::vector<int64_t> pad = a.getInts(AttrName::Padding);
  if (pad.size() != 4)
    return err(k, "attribute 'padding' must be [top, left, bottom, right]");
  for (int64_t p : pad)
    if (p < 0 || p > std::numeric_limits<int32_t>::max())
      return err(k, "padding must be between 0 and 2^31-1");
  return pad;
}

// x[N,H,W,C] -> [N, top+H+bottom, left+W+right, C], zeros around x.
absl::StatusOr<Types> pad2dShape(OpKind k, const Types &in, const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(pad, padAttr(k, in, a));
  const std::vector<int64_t> &x = in[0].shape;
  TensorType out =
      f32({x[0], x[1] + pad[0] + pad[2], x[2] + pad[1] + pad[3], x[3]});
  if (!out.isValid())
    return err(k, fmt::format("padded type {} is too large", out.str()));
  return Types{out};
}

// The gradient: dy[N,H',W',C] cropped by the same padding.
absl::StatusOr<Types> pad2dGradShape(OpKind k, const Types &in,
                                     const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(pad, padAttr(k, in, a));
  const std::vector<int64_t> &dy = in[0].shape;
  int64_t h = dy[1] - pad[0] - pad[2], w = dy[2] - pad[1] - pad[3];
  if (h < 1 || w < 1)
    return err(k, fmt::format("padding [{}, {}, {}, {}] leaves nothing of {}",
                              pad[0], pad[1], pad[2], pad[3], in[0].str()));
  return Types{f32({dy[0], h, w, dy[3]})};
}

// ---- Fused ops (passes/Fusion.cpp) ----

// The fused ops' activation: one without a parameter (fusion leaves the
// others as their own ops); after a max pool whose argmax is kept, only
// relu or linear, the two whose gradient the argmax can carry.
absl::Status activationAttr(OpKind k, const Attrs &a, bool reluOrLinear) {
  std::string name = a.getString(AttrName::Activation);
  std::optional<ActivationKind> kind = activationKindFromName(name);
  bool ok = kind && !activationInfo(*kind).hasParam();
  if (ok && reluOrLinear)
    ok = *kind == ActivationKind::Relu || *kind == ActivationKind::Linear;
  if (!ok)
    return err(k, fmt::format("unsupported activation '{}'", name));
  return absl::OkStatus();
}

absl::Status biasFor(OpKind k, const TensorType &bias, int64_t channels) {
  CNNC_TRY(expectF32(k, bias, "bias"));
  if (bias.rank() != 1 || bias.shape[0] != channels)
    return err(
        k, fmt::format("bias must be f32[{}], got {}", channels, bias.str()));
  return absl::OkStatus();
}

// The pooled output of a fused conv: windows of pool_size, as strides, no
// padding (non-overlapping windows; trailing rows/columns are dropped).
absl::StatusOr<TensorType> fusedPoolOutput(OpKind k, const TensorType &conv,
                                           const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(ps, pairAttr(k, a, AttrName::PoolSize));
  const std::vector<int64_t> &c = conv.shape;
  if (c[1] < ps.first || c[2] < ps.second)
    return err(k, fmt::format("pool window {}x{} does not fit {}", ps.first,
                              ps.second, conv.str()));
  return f32({c[0], c[1] / ps.first, c[2] / ps.second, c[3]});
}

absl::StatusOr<Types> packBfloat16PairsShape(OpKind k, const Types &in,
                                             const Attrs &a);

// A pack_bfloat16_pairs stage's results in place of v [N,H,W,C], as
// pack_bfloat16_pairs would give them. Its kernel writes each pair's halves
// as it computes v, so it needs whole pairs: along the batch or the
// channels, of an even batch and channel count.
absl::StatusOr<Types> packStageResults(OpKind k, const TensorType &v,
                                       const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(packed, packBfloat16PairsShape(k, {v}, a));
  for (int64_t axis : a.getInts(AttrName::Axes))
    if (axis != 0 && axis != 3)
      return err(k, "the pack_bfloat16_pairs stage packs along the batch or "
                    "the channels (axes 0 and 3)");
  if (v.shape[0] % 2 != 0 || v.shape[3] % 2 != 0)
    return err(k, fmt::format("the pack_bfloat16_pairs stage needs an even "
                              "batch and channel count, got {}",
                              v.str()));
  return packed;
}

// conv2d (x, w) with its epilogue: operands x, w [, bias] [, step];
// results y (pooled with max_pool2d; its bfloat16 pairs along `axes`
// instead with pack_bfloat16_pairs) [, argmax].

absl::StatusOr<Types> conv2dFusedShape(OpKind k, const Types &in,
                                       const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  size_t operands = 2 + st.count({FusedStage::BiasAdd, FusedStage::Dropout});
  if (in.size() != operands)
    return err(k, fmt::format("expects {} operands with its stages, got {}",
                              operands, in.size()));
  CNNC_ASSIGN_OR_RETURN(conv, conv2dShape(k, {in[0], in[1]}, a));
  size_t next = 2;
  if (st.has(FusedStage::BiasAdd))
    CNNC_TRY(biasFor(k, in[next++], in[1].shape[3]));
  if (st.has(FusedStage::Activation))
    CNNC_TRY(activationAttr(k, a, st.has(FusedStage::Argmax)));
  if (!st.has(FusedStage::MaxPool2D)) {
    if (st.has(FusedStage::PackBfloat16Pairs))
      return err(k, "stage 'pack_bfloat16_pairs' needs stage 'max_pool2d'");
    return conv;
  }
  CNNC_ASSIGN_OR_RETURN(pooled, fusedPoolOutput(k, conv[0], a));
  if (st.has(FusedStage::Dropout)) {
    // dropout after the pool; with argmax, also -1 where it drops.
    if (in[next] != i32({}))
      return err(k, fmt::format("step must be i32[], got {}", in[next].str()));
    double rate = a.getFloat(AttrName::Rate, -1);
    if (!(rate > 0 && rate < 1))
      return err(k, "attribute 'rate' must be in (0, 1)");
  }
  Types out = {pooled};
  if (st.has(FusedStage::PackBfloat16Pairs)) {
    CNNC_ASSIGN_OR_RETURN(packed, packStageResults(k, pooled, a));
    out = packed;
  }
  if (st.has(FusedStage::Argmax))
    out.push_back(i32(pooled.shape));
  return out;
}

absl::StatusOr<Types> maxPool2DArgmaxGradShape(OpKind k, const Types &in,
                                               const Attrs &a) {
  if (in.size() != 2 && in.size() != 3)
    return err(k, "expects (argmax, gradient) or (argmax, gradient, mask)");
  std::vector<int64_t> xs = a.getInts(AttrName::InputShape);
  if (xs.size() != 4)
    return err(k, "attribute 'input_shape' must have 4 dimensions");
  CNNC_ASSIGN_OR_RETURN(pooled, fusedPoolOutput(k, f32(xs), a));
  if (in[0] != i32(pooled.shape))
    return err(k, fmt::format("argmax must be {}, got {}",
                              i32(pooled.shape).str(), in[0].str()));
  for (size_t i = 1; i < in.size(); ++i)
    CNNC_TRY(expectSame(k, in[i], pooled, "gradient, mask and pooled output"));
  if (a.has(AttrName::Scale) && !(a.getFloat(AttrName::Scale) > 0))
    return err(k, "attribute 'scale' must be positive");
  return Types{f32(xs)};
}

// max_pool2d_argmax_grad (argmax, g [, mask]) with its epilogue: results dx
// (its bfloat16 pairs along `axes` instead with pack_bfloat16_pairs)
// [, db with bias_grad: by batch group with batch_groups]. The kernel runs
// a batch group's images in one share, in pairs when it packs, so a group
// must hold whole pairs.
absl::StatusOr<Types> maxPool2DArgmaxGradFusedShape(OpKind k, const Types &in,
                                                    const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  CNNC_ASSIGN_OR_RETURN(dx, maxPool2DArgmaxGradShape(k, in, a));
  TensorType x = dx[0];
  Types out = dx;
  bool pack = st.has(FusedStage::PackBfloat16Pairs);
  if (pack) {
    CNNC_ASSIGN_OR_RETURN(packed, packStageResults(k, x, a));
    out = packed;
  }
  if (!st.has(FusedStage::BiasGrad)) {
    if (a.has(AttrName::BatchGroups))
      return err(k, "attribute 'batch_groups' needs stage 'bias_grad'");
    return out;
  }
  CNNC_ASSIGN_OR_RETURN(db,
                        withBatchGroups(k, a, x.shape[0], f32({x.shape[3]})));
  if (pack && a.has(AttrName::BatchGroups) &&
      batchGroupSize(x.shape[0], a.getInt(AttrName::BatchGroups)) % 2 != 0)
    return err(k, fmt::format("the pack_bfloat16_pairs stage needs batch "
                              "groups of whole pairs, got {} images in {} "
                              "groups",
                              x.shape[0], a.getInt(AttrName::BatchGroups)));
  out.push_back(db);
  return out;
}

// max_pool2d_grad (x, y, dy) with the activation_grad epilogue: x is also
// the activation's output, whose gradient the stage applies to dx.
absl::StatusOr<Types> maxPool2DGradFusedShape(OpKind k, const Types &in,
                                              const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  if (st.has(FusedStage::ActivationGrad))
    CNNC_TRY(activationAttr(k, a, false));
  return maxPool2DGradShape(k, in, a);
}

// conv2d_backward_filter (x, dy) with its stages: the max_pool2d_argmax_grad
// prologue reads dy as (argmax, g [, mask]) without the full-size dy; the
// bias_grad epilogue adds the bias gradient as a second result.
absl::StatusOr<Types> conv2dBackwardFilterFusedShape(OpKind k, const Types &in,
                                                     const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  Types result;
  if (!st.has(FusedStage::MaxPool2DArgmaxGrad)) {
    if (in.size() != 2)
      return err(k, "expects (x, gradient)");
    // Its groups are applied below, to both sums.
    Attrs ungrouped = a;
    ungrouped.erase(AttrName::BatchGroups);
    CNNC_ASSIGN_OR_RETURN(dw, conv2dBackwardFilterShape(k, in, ungrouped));
    result = {dw[0], f32({in[1].shape[3]})};
  } else {
    if (in.size() != 3 && in.size() != 4)
      return err(k, "expects (x, argmax, gradient) or (x, argmax, gradient, "
                    "mask) with its max_pool2d_argmax_grad prologue");
    TensorType x = in[0];
    if (x.dtype == DType::BF16) {
      // x as pairs of images (bfloat16PairAxis); dy is computed in the
      // kernel, so the batch must be even for them to pair up.
      if (computeDtypeOf(a) != ComputeDtype::Bfloat16)
        return err(k, "bf16 operands need compute_dtype = \"bfloat16\"");
      std::optional<TensorType> ux = unpackedBfloat16Pairs(x, 0);
      if (!ux)
        return err(k, fmt::format("a bf16 input must be pairs of images "
                                  "(along axis 0), got {}",
                                  x.str()));
      x = *ux;
    }
    CNNC_TRY(expectRank(k, x, 4, "input"));
    CNNC_TRY(expectF32(k, x, "input"));
    CNNC_TRY(expectRank(k, in[1], 4, "argmax"));
    CNNC_ASSIGN_OR_RETURN(ks, pairAttr(k, a, AttrName::KernelSize));
    CNNC_ASSIGN_OR_RETURN(win, windowAttrs(k, a, ks.first, ks.second));
    CNNC_ASSIGN_OR_RETURN(dy, windowOutput(k, x.shape, win, in[1].shape[3]));
    // The gradient's operands as max_pool2d_argmax_grad checks them.
    Attrs gradAttrs = a;
    gradAttrs.set(AttrName::InputShape, dy);
    CNNC_TRY(
        maxPool2DArgmaxGradShape(
            k, std::vector<TensorType>(in.begin() + 1, in.end()), gradAttrs)
            .status());
    result = {f32({ks.first, ks.second, x.shape[3], dy[3]}), f32({dy[3]})};
  }
  if (!st.has(FusedStage::BiasGrad))
    result.pop_back();
  // Both sums, the bias gradient's too, by batch group.
  for (TensorType &t : result) {
    CNNC_ASSIGN_OR_RETURN(grouped, withBatchGroups(k, a, in[0].shape[0], t));
    t = grouped;
  }
  return result;
}

absl::StatusOr<Types> groupSumShape(OpKind k, const Types &in, const Attrs &) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  if (in[0].rank() < 2)
    return err(k, fmt::format("sums the groups along axis 0 of a tensor of "
                              "rank 2 or more, got {}",
                              in[0].str()));
  return Types{
      f32(std::vector<int64_t>(in[0].shape.begin() + 1, in[0].shape.end()))};
}

// The partial products of a matmul with k_groups, added in group order, then
// the dense epilogue: bias [N] when bias_add is a stage.
absl::StatusOr<Types> groupSumFusedShape(OpKind k, const Types &in,
                                         const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  size_t operands = 1 + st.count({FusedStage::BiasAdd});
  if (in.size() != operands)
    return err(k, fmt::format("expects {} operands with its stages, got {}",
                              operands, in.size()));
  CNNC_ASSIGN_OR_RETURN(sum, groupSumShape(k, {in[0]}, a));
  if (st.has(FusedStage::BiasAdd))
    CNNC_TRY(biasFor(k, in[1], sum[0].shape.back()));
  if (st.has(FusedStage::Activation))
    CNNC_TRY(activationAttr(k, a, false));
  return sum;
}

// The operand rounded to bfloat16, still f32 (passes/DtypePolicy.h).
absl::StatusOr<Types> roundToBfloat16Shape(OpKind k, const Types &in,
                                           const Attrs &) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  return Types{in[0]};
}

absl::StatusOr<Types> packBfloat16PairsShape(OpKind k, const Types &in,
                                             const Attrs &a) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  // One result per axis; two only along the first and the last, which one
  // kernel packs from the same rows (passes/HoistConversions.h).
  std::vector<int64_t> axes = a.getInts(AttrName::Axes);
  int64_t last = in[0].rank() - 1;
  if (axes.empty() || axes.size() > 2)
    return err(k, "attribute 'axes' must list one or two axes");
  for (int64_t axis : axes)
    if (axis < 0 || axis > last)
      return err(k, fmt::format("attribute 'axes' must name dimensions of {}",
                                in[0].str()));
  if (axes.size() == 2 && !(last > 0 && std::min(axes[0], axes[1]) == 0 &&
                            std::max(axes[0], axes[1]) == last))
    return err(k, fmt::format("two axes must be the first and the last of {}",
                              in[0].str()));
  Types out;
  for (int64_t axis : axes)
    out.push_back(packedBfloat16Pairs(in[0], axis));
  return out;
}

// Each pixel of a one-channel image with its right neighbour (zero past
// the last column), as the bfloat16 pairs of a two-channel image: x
// f32[N,H,W,1] gives bf16[N,H,W,1,2] (passes/DtypePolicy.h).
absl::StatusOr<Types> packBfloat16ColumnPairsShape(OpKind k, const Types &in,
                                                   const Attrs &) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  CNNC_TRY(expectRank(k, in[0], 4, "input"));
  if (in[0].shape[3] != 1)
    return err(k,
               fmt::format("input must have one channel, got {}", in[0].str()));
  return Types{packedBfloat16Pairs(
      f32({in[0].shape[0], in[0].shape[1], in[0].shape[2], 2}), 3)};
}

// wt[i, KW-1-j, o, c] = w[i, j, c, o].
absl::StatusOr<Types> conv2dKernelTransposeShape(OpKind k, const Types &in,
                                                 const Attrs &) {
  CNNC_TRY(expectRank(k, in[0], 4, "kernel"));
  CNNC_TRY(expectF32(k, in[0], "kernel"));
  const std::vector<int64_t> &w = in[0].shape;
  return Types{f32({w[0], w[1], w[3], w[2]})};
}

absl::StatusOr<Types>
conv2dBackwardDataTransposedShape(OpKind k, const Types &in, const Attrs &a) {
  TensorType dy = in[0], wtType = in[1];
  CNNC_TRY(unpackPairOperands(k, dy, wtType, a));
  CNNC_TRY(expectRank(k, wtType, 4, "transposed kernel"));
  const std::vector<int64_t> &wt = wtType.shape;
  return conv2dBackwardDataShape(k, {dy, f32({wt[0], wt[1], wt[3], wt[2]})}, a);
}

// matmul (a, b) with its epilogue: operands a, b [, bias].
absl::StatusOr<Types> matmulFusedShape(OpKind k, const Types &in,
                                       const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  size_t operands = 2 + st.count({FusedStage::BiasAdd});
  if (in.size() != operands)
    return err(k, fmt::format("expects {} operands with its stages, got {}",
                              operands, in.size()));
  CNNC_ASSIGN_OR_RETURN(c, matmulShape(k, {in[0], in[1]}, a));
  if (st.has(FusedStage::BiasAdd))
    CNNC_TRY(biasFor(k, in[2], c[0].shape[1]));
  if (st.has(FusedStage::Activation))
    CNNC_TRY(activationAttr(k, a, false));
  return c;
}

// ---- Global pooling and batch normalization ----

absl::StatusOr<Types> globalAvgPool2DShape(OpKind k, const Types &in,
                                           const Attrs &) {
  CNNC_TRY(expectRank(k, in[0], 4, "input"));
  CNNC_TRY(expectF32(k, in[0], "input"));
  return Types{f32({in[0].shape[0], in[0].shape[3]})};
}

absl::StatusOr<Types> globalAvgPool2DGradShape(OpKind k, const Types &in,
                                               const Attrs &a) {
  CNNC_TRY(expectRank(k, in[0], 2, "output gradient"));
  CNNC_TRY(expectF32(k, in[0], "output gradient"));
  std::vector<int64_t> xs = a.getInts(AttrName::InputShape);
  if (xs.size() != 4 || xs[1] < 1 || xs[2] < 1)
    return err(k, "attribute 'input_shape' must be [N, H, W, C]");
  if (xs[0] != in[0].shape[0] || xs[3] != in[0].shape[1])
    return err(k, fmt::format("output gradient {} does not match input_shape "
                              "{}",
                              in[0].str(), shapeStr(xs)));
  return Types{f32(xs)};
}

// Batch normalization normalizes over every axis but the last (channels).
// Its optional operands (gamma, beta) are present when attributes scale and
// center are 1 (their default); a training one's sums per batch group
// (batch_norm_sums, batch_norm_grad_sums) are its last operand when it has
// batch_groups.
struct NormOperands {
  bool scale, center;
  int64_t channels;
  size_t perChannelEnd; // the per-channel operands end here (sums follow)
};

absl::Status expectEpsilon(OpKind k, const Attrs &a) {
  double eps = a.getFloat(AttrName::Epsilon, -1);
  if (!(eps > 0 && std::isfinite(eps)))
    return err(k, "attribute 'epsilon' must be positive");
  return absl::OkStatus();
}

// f64[G, 2, C]: G groups of operand 0's batch, two sums per channel.
absl::Status expectBatchNormSums(OpKind k, const TensorType &sums,
                                 const TensorType &x, const Attrs &a) {
  int64_t groups = a.getInt(AttrName::BatchGroups);
  if (groups < 2 || groups > x.shape[0])
    return err(k, fmt::format("batch_groups = {} must be between 2 and the "
                              "batch ({})",
                              groups, x.shape[0]));
  TensorType expected = f64({groups, 2, x.shape.back()});
  if (sums != expected)
    return err(k, fmt::format("its sums per batch group must be {}, got {}",
                              expected.str(), sums.str()));
  return absl::OkStatus();
}

absl::StatusOr<NormOperands> normOperands(OpKind k, const Types &in,
                                          const Attrs &a, size_t fixed) {
  bool grouped = a.has(AttrName::BatchGroups);
  if (grouped && k != OpKind::BatchNorm && k != OpKind::BatchNormGrad)
    return err(k, "takes no batch_groups (only a training batch "
                  "normalization sums over the batch)");
  NormOperands n{a.getInt(AttrName::Scale, 1) != 0,
                 a.getInt(AttrName::Center, 1) != 0, 0, 0};
  size_t expected =
      fixed + (n.scale ? 1 : 0) + (n.center ? 1 : 0) + (grouped ? 1 : 0);
  if (in.size() != expected)
    return err(k, fmt::format("expects {} operands with scale = {}, center = "
                              "{}{}, got {}",
                              expected, n.scale ? 1 : 0, n.center ? 1 : 0,
                              grouped ? " and batch_groups" : "", in.size()));
  CNNC_TRY(expectF32(k, in[0], "input"));
  if (in[0].rank() < 2)
    return err(k,
               fmt::format("input must have rank >= 2, got {}", in[0].str()));
  n.channels = in[0].shape.back();
  n.perChannelEnd = in.size() - (grouped ? 1 : 0);
  if (grouped)
    CNNC_TRY(expectBatchNormSums(k, in.back(), in[0], a));
  CNNC_TRY(expectEpsilon(k, a));
  return n;
}

// Operands [from, end) (statistics, gamma, beta) must each be f32[C].
absl::Status perChannel(OpKind k, const Types &in, size_t from, size_t end,
                        int64_t channels) {
  for (size_t i = from; i < end; ++i)
    if (in[i] != f32({channels}))
      return err(k, fmt::format("operand {} must be f32[{}] (one per "
                                "channel), got {}",
                                i, channels, in[i].str()));
  return absl::OkStatus();
}

// A normalization's y: x's type, or with the max_pool2d epilogue pooled as
// a fused conv's (the stages' activation attribute checked too).
absl::StatusOr<TensorType> normOutput(OpKind k, const TensorType &x,
                                      const Attrs &a, const FusedStageSet &st) {
  if (st.has(FusedStage::Activation))
    CNNC_TRY(activationAttr(k, a, st.has(FusedStage::Argmax)));
  if (!st.has(FusedStage::MaxPool2D))
    return x;
  if (x.rank() != 4)
    return err(k,
               fmt::format("a pooled input must have rank 4, got {}", x.str()));
  return fusedPoolOutput(k, x, a);
}

// batch_norm(x, [gamma], [beta], [sums]) -> (y, mean, variance [, argmax]);
// with the activation epilogue (the fusion pass's, in a training step) y is
// the activation of the normalized x; with max_pool2d, y is pooled as a
// fused conv's, and argmax is as the conv's.
absl::StatusOr<Types> batchNormShape(OpKind k, const Types &in,
                                     const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  CNNC_ASSIGN_OR_RETURN(n, normOperands(k, in, a, 1));
  CNNC_TRY(perChannel(k, in, 1, n.perChannelEnd, n.channels));
  CNNC_ASSIGN_OR_RETURN(y, normOutput(k, in[0], a, st));
  Types out{y, f32({n.channels}), f32({n.channels})};
  if (st.has(FusedStage::Argmax))
    out.push_back(i32(y.shape));
  return out;
}

// A normalization gradient's dy, operand 3: the full-size dy, or with the
// max_pool2d_argmax_grad prologue the pooled (argmax, g) of a batch_norm
// with the max_pool2d epilogue, from which the kernel computes dy as
// max_pool2d_argmax_grad would. How many operands dy takes.
absl::StatusOr<size_t> normGradientOperands(OpKind k, const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  return st.has(FusedStage::MaxPool2DArgmaxGrad) ? 2 : 1;
}

// dy's operands (at least 3 + count of them, checked before).
absl::Status expectNormGradient(OpKind k, const Types &in, const Attrs &a,
                                size_t count) {
  if (count == 1)
    return expectSame(k, in[0], in[3], "input and output gradient");
  if (in[0].rank() != 4)
    return err(
        k, fmt::format("a pooled input must have rank 4, got {}", in[0].str()));
  CNNC_ASSIGN_OR_RETURN(pooled, fusedPoolOutput(k, in[0], a));
  if (in[3] != i32(pooled.shape))
    return err(k, fmt::format("argmax must be {}, got {}",
                              i32(pooled.shape).str(), in[3].str()));
  return expectSame(k, in[4], pooled, "gradient and pooled output");
}

// batch_norm_grad(x, mean, variance, dy, [gamma], [sums]) -> (dx, dgamma,
// dbeta); dy as normGradientOperands reads it.
absl::StatusOr<Types> batchNormGradShape(OpKind k, const Types &in,
                                         const Attrs &a) {
  Attrs noCenter = a;
  noCenter.set(AttrName::Center, int64_t{0});
  CNNC_ASSIGN_OR_RETURN(dy, normGradientOperands(k, a));
  CNNC_ASSIGN_OR_RETURN(n, normOperands(k, in, noCenter, 3 + dy));
  CNNC_TRY(expectNormGradient(k, in, a, dy));
  CNNC_TRY(perChannel(k, in, 1, 3, n.channels));
  CNNC_TRY(perChannel(k, in, 3 + dy, n.perChannelEnd, n.channels));
  return Types{in[0], f32({n.channels}), f32({n.channels})};
}

// batch_norm_sums(x) -> f64[G, 2, C]: per group of the batch, the sums of
// d = x - x[row 0] and of d^2 (batch_norm's statistics, shifted).
absl::StatusOr<Types> batchNormSumsShape(OpKind k, const Types &in,
                                         const Attrs &a) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  if (in[0].rank() < 2)
    return err(k,
               fmt::format("input must have rank >= 2, got {}", in[0].str()));
  TensorType sums =
      f64({a.getInt(AttrName::BatchGroups, 0), 2, in[0].shape.back()});
  CNNC_TRY(expectBatchNormSums(k, sums, in[0], a));
  return Types{sums};
}

// batch_norm_grad_sums(x, mean, variance, dy) -> f64[G, 2, C]: per group,
// the sums of dy and of dy * xhat (batch_norm_grad's dbeta and dgamma); dy
// as normGradientOperands reads it.
absl::StatusOr<Types> batchNormGradSumsShape(OpKind k, const Types &in,
                                             const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(dy, normGradientOperands(k, a));
  if (in.size() != 3 + dy)
    return err(k,
               fmt::format("expects {} operands, got {}", 3 + dy, in.size()));
  CNNC_ASSIGN_OR_RETURN(sums, batchNormSumsShape(k, {in[0]}, a));
  CNNC_TRY(expectNormGradient(k, in, a, dy));
  CNNC_TRY(perChannel(k, in, 1, 3, in[0].shape.back()));
  CNNC_TRY(expectEpsilon(k, a));
  return sums;
}

// batch_norm_inference(x, mean, variance, [gamma], [beta]) -> y; with the
// activation and max_pool2d epilogues (the fusion pass's, in evaluation
// and prediction graphs) as batch_norm's y.
absl::StatusOr<Types> batchNormInferenceShape(OpKind k, const Types &in,
                                              const Attrs &a) {
  CNNC_ASSIGN_OR_RETURN(st, fusedStagesOf(k, a));
  CNNC_ASSIGN_OR_RETURN(n, normOperands(k, in, a, 3));
  CNNC_TRY(perChannel(k, in, 1, n.perChannelEnd, n.channels));
  CNNC_ASSIGN_OR_RETURN(y, normOutput(k, in[0], a, st));
  return Types{y};
}

// batch_norm_inference_grad(dy, variance, [gamma]) -> dx: the gradient of
// batch_norm_inference with respect to its input (a frozen batch
// normalization's; its statistics are constants).
absl::StatusOr<Types> batchNormInferenceGradShape(OpKind k, const Types &in,
                                                  const Attrs &a) {
  Attrs noCenter = a;
  noCenter.set(AttrName::Center, int64_t{0});
  CNNC_ASSIGN_OR_RETURN(n, normOperands(k, in, noCenter, 2));
  CNNC_TRY(perChannel(k, in, 1, n.perChannelEnd, n.channels));
  return Types{in[0]};
}

// moving_average_update(moving, value): moving = moving * momentum +
// value * (1 - momentum), in place.
absl::StatusOr<Types> movingAverageUpdateShape(OpKind k, const Types &in,
                                               const Attrs &a) {
  CNNC_TRY(expectF32(k, in[0], "moving average"));
  CNNC_TRY(expectSame(k, in[0], in[1], "moving average and value"));
  double m = a.getFloat(AttrName::Momentum, -1);
  if (!(m >= 0 && m <= 1))
    return err(k, "attribute 'momentum' must be in [0, 1]");
  return Types{};
}

// ---- Augmentation (docs/ir.md) ----

// The attributes of resampling ops: fill_mode, interpolation, fill_value.
absl::Status resampleAttrs(OpKind k, const Attrs &a) {
  if (!attrEnumOf<FillMode>(a))
    return err(k,
               "attribute 'fill_mode' must be " + attrEnumChoices<FillMode>());
  if (!attrEnumOf<ResampleInterpolation>(a))
    return err(k, "attribute 'interpolation' must be " +
                      attrEnumChoices<ResampleInterpolation>());
  if (!std::isfinite(a.getFloat(AttrName::FillValue)))
    return err(k, "attribute 'fill_value' must be finite");
  return absl::OkStatus();
}

// A factor range [lower, upper] within [min, max].
absl::Status rangeAttrs(OpKind k, const Attrs &a, AttrName lower,
                        AttrName upper, double min, double max) {
  double lo = a.getFloat(lower, NAN);
  double hi = a.getFloat(upper, NAN);
  if (!(lo >= min && hi <= max && lo <= hi))
    return err(k, fmt::format("attributes '{0}' and '{1}' must satisfy "
                              "{2} <= {0} <= {1} <= {3}",
                              attrName(lower), attrName(upper), min, max));
  return absl::OkStatus();
}

absl::Status valueRangeAttrs(OpKind k, const Attrs &a) {
  double lo = a.getFloat(AttrName::ValueLow, NAN),
         hi = a.getFloat(AttrName::ValueHigh, NAN);
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo < hi))
    return err(k, "attributes 'value_low' < 'value_high' must be finite");
  return absl::OkStatus();
}

// The random_* ops: (x[N,H,W,C], step) -> x's type.
absl::StatusOr<Types> augmentShape(OpKind k, const Types &in, const Attrs &a) {
  CNNC_TRY(expectRank(k, in[0], 4, "input"));
  CNNC_TRY(expectF32(k, in[0], "input"));
  if (in[1] != i32({}))
    return err(k, fmt::format("step must be i32[], got {}", in[1].str()));
  switch (k) {
  case OpKind::RandomFlip:
    if (!attrEnumOf<FlipMode>(a))
      return err(k, "attribute 'mode' must be " + attrEnumChoices<FlipMode>());
    break;
  case OpKind::RandomRotation:
    CNNC_TRY(resampleAttrs(k, a));
    CNNC_TRY(rangeAttrs(k, a, AttrName::Lower, AttrName::Upper, -1, 1));
    break;
  case OpKind::RandomZoom:
    CNNC_TRY(resampleAttrs(k, a));
    CNNC_TRY(
        rangeAttrs(k, a, AttrName::HeightLower, AttrName::HeightUpper, -1, 1));
    CNNC_TRY(
        rangeAttrs(k, a, AttrName::WidthLower, AttrName::WidthUpper, -1, 1));
    break;
  case OpKind::RandomTranslation:
    CNNC_TRY(resampleAttrs(k, a));
    CNNC_TRY(
        rangeAttrs(k, a, AttrName::HeightLower, AttrName::HeightUpper, -1, 1));
    CNNC_TRY(
        rangeAttrs(k, a, AttrName::WidthLower, AttrName::WidthUpper, -1, 1));
    break;
  case OpKind::RandomContrast:
    CNNC_TRY(rangeAttrs(k, a, AttrName::Lower, AttrName::Upper, -1, 1));
    CNNC_TRY(valueRangeAttrs(k, a));
    break;
  case OpKind::RandomBrightness:
    CNNC_TRY(rangeAttrs(k, a, AttrName::Lower, AttrName::Upper, -1, 1));
    CNNC_TRY(valueRangeAttrs(k, a));
    break;
  default:
    return err(k, "is not an augmentation op");
  }
  return Types{in[0]};
}

// random_crop(x[N,H,W,C], step) {height, width, training} -> [N, height,
// width, C].
absl::StatusOr<Types> randomCropShape(OpKind k, const Types &in,
                                      const Attrs &a) {
  CNNC_TRY(expectRank(k, in[0], 4, "input"));
  CNNC_TRY(expectF32(k, in[0], "input"));
  if (in[1] != i32({}))
    return err(k, fmt::format("step must be i32[], got {}", in[1].str()));
  int64_t h = a.getInt(AttrName::Height), w = a.getInt(AttrName::Width);
  if (h < 1 || w < 1 || h > std::numeric_limits<int32_t>::max() ||
      w > std::numeric_limits<int32_t>::max())
    return err(k, "attributes 'height' and 'width' must be positive");
  TensorType out = f32({in[0].shape[0], h, w, in[0].shape[3]});
  if (!out.isValid())
    return err(k, fmt::format("cropped type {} is too large", out.str()));
  return Types{out};
}

// rescale(x) {scale, offset} -> x's type.
absl::StatusOr<Types> rescaleShape(OpKind k, const Types &in, const Attrs &a) {
  CNNC_TRY(expectF32(k, in[0], "input"));
  if (!std::isfinite(a.getFloat(AttrName::Scale, NAN)) ||
      !std::isfinite(a.getFloat(AttrName::Offset, NAN)))
    return err(k, "attributes 'scale' and 'offset' must be finite");
  return Types{in[0]};
}

// ---- The table: one shape rule per op, from ir/Ops.def ----

using ShapeFn = absl::StatusOr<Types> (*)(OpKind, const Types &, const Attrs &);
constexpr ShapeFn kShapeRules[] = {
#define OP(Enum, Name, NumOperands, NumResults, Flags, Shape, Vjp, Cost, Emit) \
  Shape,
#include "ir/Ops.def"
#undef OP
};
static_assert(std::size(kShapeRules) == kNumOpKinds);

} // namespace

int64_t windowOutputSize(int64_t in, int64_t window, int64_t stride,
                         int64_t padBefore, int64_t padAfter) {
  int64_t span = in + padBefore + padAfter - window;
  if (span < 0)
    return 0;
  return span / stride + 1;
}

std::pair<int64_t, int64_t> samePadding(int64_t in, int64_t window,
                                        int64_t stride) {
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>((out - 1) * stride + window - in, 0);
  return {total / 2, total - total / 2};
}

absl::StatusOr<std::vector<TensorType>>
inferResultTypes(OpKind k, const std::vector<TensorType> &in, const Attrs &a) {
  const OpInfo &info = opInfo(k);
  if (info.numOperands >= 0 && static_cast<int>(in.size()) != info.numOperands)
    return err(k, fmt::format("expects {} operands, got {}", info.numOperands,
                              in.size()));
  return kShapeRules[static_cast<int>(k)](k, in, a);
}

} // namespace cnnc::ir
