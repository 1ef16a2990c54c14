#include "ir/ShapeRules.h"

#include "absl/status/status.h"
#include <fmt/format.h>

namespace cnnc::ir {

namespace {

absl::Status err(OpKind kind, const std::string &msg) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", opName(kind), msg));
}

// Reads a 2-element int list attribute (strides, pool_size, kernel_size).
absl::StatusOr<std::pair<int64_t, int64_t>>
pairAttr(OpKind kind, const Attrs &attrs, const std::string &name) {
  std::vector<int64_t> v = attrs.getInts(name);
  if (v.size() != 2 || v[0] <= 0 || v[1] <= 0)
    return err(kind, fmt::format("attribute '{}' must be two positive integers",
                                 name));
  return std::make_pair(v[0], v[1]);
}

struct Window {
  int64_t kh, kw, sh, sw, pt, pl, pb, pr;
};

// Window geometry of conv/pool ops: window from `windowAttr` (or given),
// strides, and padding [top, left, bottom, right].
absl::StatusOr<Window> windowAttrs(OpKind kind, const Attrs &attrs, int64_t kh,
                                   int64_t kw) {
  auto strides = pairAttr(kind, attrs, "strides");
  if (!strides.ok())
    return strides.status();
  std::vector<int64_t> pad = attrs.getInts("padding");
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

#define TRY(expr)                                                              \
  do {                                                                         \
    absl::Status s_ = (expr);                                                  \
    if (!s_.ok())                                                              \
      return s_;                                                               \
  } while (0)

#define ASSIGN(lhs, expr)                                                      \
  auto lhs##_or = (expr);                                                      \
  if (!lhs##_or.ok())                                                          \
    return lhs##_or.status();                                                  \
  auto lhs = *std::move(lhs##_or)

using Types = std::vector<TensorType>;

absl::StatusOr<Types> conv2d(OpKind k, const Types &in, const Attrs &a) {
  const TensorType &x = in[0], &w = in[1];
  TRY(expectRank(k, x, 4, "input"));
  TRY(expectRank(k, w, 4, "kernel"));
  TRY(expectF32(k, x, "input"));
  TRY(expectF32(k, w, "kernel"));
  if (w.shape[2] != x.shape[3])
    return err(k, fmt::format("kernel {} expects {} input channels, input {} "
                              "has {}",
                              w.str(), w.shape[2], x.str(), x.shape[3]));
  ASSIGN(win, windowAttrs(k, a, w.shape[0], w.shape[1]));
  ASSIGN(out, windowOutput(k, x.shape, win, w.shape[3]));
  return Types{f32(out)};
}

absl::StatusOr<Types> conv2dBackwardData(OpKind k, const Types &in,
                                         const Attrs &a) {
  const TensorType &dy = in[0], &w = in[1];
  TRY(expectRank(k, dy, 4, "output gradient"));
  TRY(expectRank(k, w, 4, "kernel"));
  std::vector<int64_t> xs = a.getInts("input_shape");
  if (xs.size() != 4)
    return err(k, "attribute 'input_shape' must have 4 dimensions");
  ASSIGN(fwd, conv2d(k, {f32(xs), w}, a));
  if (fwd[0].shape != dy.shape)
    return err(k, fmt::format("output gradient {} does not match forward "
                              "output {}",
                              dy.str(), fwd[0].str()));
  return Types{f32(xs)};
}

absl::StatusOr<Types> conv2dBackwardFilter(OpKind k, const Types &in,
                                           const Attrs &a) {
  const TensorType &x = in[0], &dy = in[1];
  TRY(expectRank(k, x, 4, "input"));
  TRY(expectRank(k, dy, 4, "output gradient"));
  ASSIGN(ks, pairAttr(k, a, "kernel_size"));
  std::vector<int64_t> ws{ks.first, ks.second, x.shape[3], dy.shape[3]};
  ASSIGN(fwd, conv2d(k, {x, f32(ws)}, a));
  if (fwd[0].shape != dy.shape)
    return err(k, fmt::format("output gradient {} does not match forward "
                              "output {}",
                              dy.str(), fwd[0].str()));
  return Types{f32(ws)};
}

absl::StatusOr<Types> pool2d(OpKind k, const Types &in, const Attrs &a) {
  const TensorType &x = in[0];
  TRY(expectRank(k, x, 4, "input"));
  TRY(expectF32(k, x, "input"));
  ASSIGN(ps, pairAttr(k, a, "pool_size"));
  ASSIGN(win, windowAttrs(k, a, ps.first, ps.second));
  ASSIGN(out, windowOutput(k, x.shape, win, x.shape[3]));
  return Types{f32(out)};
}

absl::StatusOr<Types> maxPoolGrad(OpKind k, const Types &in, const Attrs &a) {
  ASSIGN(fwd, pool2d(k, {in[0]}, a));
  TRY(expectSame(k, in[1], fwd[0], "forward output and its shape rule"));
  TRY(expectSame(k, in[2], fwd[0], "output gradient and forward output"));
  return Types{in[0]};
}

absl::StatusOr<Types> avgPoolGrad(OpKind k, const Types &in, const Attrs &a) {
  std::vector<int64_t> xs = a.getInts("input_shape");
  if (xs.size() != 4)
    return err(k, "attribute 'input_shape' must have 4 dimensions");
  ASSIGN(fwd, pool2d(k, {f32(xs)}, a));
  TRY(expectSame(k, in[0], fwd[0], "output gradient and forward output"));
  return Types{f32(xs)};
}

absl::StatusOr<Types> matmul(OpKind k, const Types &in, const Attrs &a) {
  const TensorType &x = in[0], &y = in[1];
  TRY(expectRank(k, x, 2, "lhs"));
  TRY(expectRank(k, y, 2, "rhs"));
  TRY(expectF32(k, x, "lhs"));
  TRY(expectF32(k, y, "rhs"));
  bool ta = a.getInt("transpose_a") != 0, tb = a.getInt("transpose_b") != 0;
  int64_t m = ta ? x.shape[1] : x.shape[0], kx = ta ? x.shape[0] : x.shape[1];
  int64_t ky = tb ? y.shape[1] : y.shape[0], n = tb ? y.shape[0] : y.shape[1];
  if (kx != ky)
    return err(
        k, fmt::format("contraction sizes differ: {} vs {}", x.str(), y.str()));
  return Types{f32({m, n})};
}

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
  switch (k) {
  case OpKind::Conv2D:
    return conv2d(k, in, a);
  case OpKind::Conv2DBackwardData:
    return conv2dBackwardData(k, in, a);
  case OpKind::Conv2DBackwardFilter:
    return conv2dBackwardFilter(k, in, a);
  case OpKind::BiasAdd: {
    TRY(expectF32(k, in[0], "input"));
    TRY(expectRank(k, in[1], 1, "bias"));
    if (in[0].rank() < 1 || in[0].shape.back() != in[1].shape[0])
      return err(k, fmt::format("bias {} does not match the last axis of {}",
                                in[1].str(), in[0].str()));
    return Types{in[0]};
  }
  case OpKind::BiasGrad:
    TRY(expectF32(k, in[0], "gradient"));
    if (in[0].rank() < 1)
      return err(k, "gradient must have rank >= 1");
    return Types{f32({in[0].shape.back()})};
  case OpKind::MaxPool2D:
  case OpKind::AvgPool2D:
    return pool2d(k, in, a);
  case OpKind::MaxPool2DGrad:
    return maxPoolGrad(k, in, a);
  case OpKind::AvgPool2DGrad:
    return avgPoolGrad(k, in, a);
  case OpKind::MatMul:
    return matmul(k, in, a);
  case OpKind::Reshape: {
    std::vector<int64_t> s = a.getInts("shape");
    TensorType out{in[0].dtype, s};
    if (s.empty() || out.numElements() != in[0].numElements())
      return err(
          k, fmt::format("cannot reshape {} to {}", in[0].str(), shapeStr(s)));
    return Types{out};
  }
  case OpKind::Activation: {
    TRY(expectF32(k, in[0], "input"));
    std::string kind = a.getString("kind");
    if (kind != "relu" && kind != "sigmoid" && kind != "tanh")
      return err(k, fmt::format("unknown activation kind '{}'", kind));
    return Types{in[0]};
  }
  case OpKind::ActivationGrad:
    TRY(expectF32(k, in[0], "output"));
    TRY(expectSame(k, in[0], in[1], "output and its gradient"));
    return Types{in[0]};
  case OpKind::Softmax:
    TRY(expectRank(k, in[0], 2, "input"));
    TRY(expectF32(k, in[0], "input"));
    return Types{in[0]};
  case OpKind::SoftmaxCrossEntropy:
  case OpKind::SoftmaxCrossEntropyGrad:
  case OpKind::CountCorrect: {
    TRY(expectRank(k, in[0], 2, "logits"));
    TRY(expectF32(k, in[0], "logits"));
    if (in[1].dtype != DType::I32 || in[1].rank() != 1 ||
        in[1].shape[0] != in[0].shape[0])
      return err(k, fmt::format("labels must be i32[{}], got {}",
                                in[0].shape[0], in[1].str()));
    if (k == OpKind::SoftmaxCrossEntropy)
      return Types{f32({}), in[0]};
    if (k == OpKind::CountCorrect)
      return Types{f32({})};
    return Types{in[0]};
  }
  case OpKind::Dropout: {
    TRY(expectF32(k, in[0], "input"));
    if (in[1] != i32({}))
      return err(k, fmt::format("step must be i32[], got {}", in[1].str()));
    double rate = a.getFloat("rate", -1);
    if (!(rate >= 0 && rate < 1))
      return err(k, "attribute 'rate' must be in [0, 1)");
    return Types{in[0], in[0]};
  }
  case OpKind::Mul:
  case OpKind::Add:
    TRY(expectF32(k, in[0], "lhs"));
    TRY(expectSame(k, in[0], in[1], "operands"));
    return Types{in[0]};
  case OpKind::SgdUpdate:
    if (in.size() != 2 && in.size() != 3)
      return err(k, "expects (param, grad) or (param, grad, velocity)");
    for (size_t i = 1; i < in.size(); ++i)
      TRY(expectSame(k, in[0], in[i], "param, gradient and state"));
    return Types{};
  case OpKind::AdamUpdate:
    for (size_t i = 1; i < 4; ++i)
      TRY(expectSame(k, in[0], in[i], "param, gradient and moments"));
    if (in[4] != i32({}))
      return err(k, fmt::format("step must be i32[], got {}", in[4].str()));
    return Types{};
  case OpKind::RmspropUpdate:
    for (size_t i = 1; i < 3; ++i)
      TRY(expectSame(k, in[0], in[i], "param, gradient and mean square"));
    return Types{};
  }
  return err(k, "no shape rule");
}

} // namespace cnnc::ir
