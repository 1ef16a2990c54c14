#include "common/Interpreter.h"

#include "ir/Activations.h"
#include "ir/AttrEnums.h"
#include "ir/DtypePolicy.h"
#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numbers>
#include <stdexcept>

namespace cnnc::testing {

using ir::OpKind;
using Buffer = std::vector<double>;

namespace {

// Geometry of a windowed op on x[N, H, W, C] with output [N, OH, OW, *].
struct Window {
  int64_t n, h, w, c, kh, kw, oh, ow, sh, sw, pt, pl;
  int64_t dh = 1, dw = 1; // dilations

  // f(n, oh, ow, kh, kw, ih, iw) for every tap inside the image, row-major.
  void
  forEachTap(const std::function<void(int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t)> &f) const {
    for (int64_t b = 0; b < n; ++b)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x)
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              int64_t ih = y * sh + i * dh - pt, iw = x * sw + j * dw - pl;
              if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                f(b, y, x, i, j, ih, iw);
            }
  }
  int64_t in(int64_t b, int64_t ih, int64_t iw, int64_t ch) const {
    return ((b * h + ih) * w + iw) * c + ch;
  }
  int64_t out(int64_t b, int64_t y, int64_t x, int64_t ch,
              int64_t channels) const {
    return ((b * oh + y) * ow + x) * channels + ch;
  }
};

Window window(const std::vector<int64_t> &x, const std::vector<int64_t> &y,
              int64_t kh, int64_t kw, const ir::Attrs &a) {
  std::vector<int64_t> s = a.getInts(ir::AttrName::Strides),
                       p = a.getInts(ir::AttrName::Padding),
                       d = a.getInts(ir::AttrName::Dilations);
  if (d.empty())
    d = {1, 1};
  return {x[0], x[1], x[2], x[3], kh,   kw,   y[1],
          y[2], s[0], s[1], p[0], p[1], d[0], d[1]};
}

// The nearest bfloat16 of v as a float, ties to even (the kernels' rounding).
double roundToBfloat16(double v) {
  float f = static_cast<float>(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (!std::isnan(f))
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

Buffer roundedToBfloat16(Buffer b) {
  for (double &v : b)
    v = roundToBfloat16(v);
  return b;
}

// The dropout kernel's counter-based hash (codegen/ElementwiseKernels.cpp).
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The activations of ir/Activations.def in float64; activationGrad reads v
// as the table's gradFrom says (the forward output or input).
double activation(ir::ActivationKind k, double param, double x) {
  switch (k) {
  case ir::ActivationKind::Linear:
    return x;
  case ir::ActivationKind::Relu:
    return x <= 0 ? 0 : x; // NaN stays NaN
  case ir::ActivationKind::Sigmoid:
    return 1 / (1 + std::exp(-x));
  case ir::ActivationKind::Tanh:
    return std::tanh(x);
  case ir::ActivationKind::LeakyRelu:
    return x > 0 ? x : param * x;
  case ir::ActivationKind::Elu:
    return x > 0 ? x : param * std::expm1(x);
  case ir::ActivationKind::Gelu:
    return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
  case ir::ActivationKind::Swish:
    return x / (1 + std::exp(-x));
  case ir::ActivationKind::Softplus:
    return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
  }
  return std::nan("");
}

double activationGrad(ir::ActivationKind k, double param, double v) {
  switch (k) {
  case ir::ActivationKind::Linear:
    return 1;
  case ir::ActivationKind::Relu:
    return v > 0 ? 1 : 0;
  case ir::ActivationKind::Sigmoid:
    return v * (1 - v);
  case ir::ActivationKind::Tanh:
    return 1 - v * v;
  case ir::ActivationKind::LeakyRelu:
    return v > 0 ? 1 : param;
  case ir::ActivationKind::Elu:
    return v > 0 ? 1 : v + param;
  case ir::ActivationKind::Gelu:
    return 0.5 * std::erfc(-v / std::sqrt(2.0)) +
           v * std::exp(-v * v / 2) / std::sqrt(2 * M_PI);
  case ir::ActivationKind::Swish: {
    double s = 1 / (1 + std::exp(-v));
    return s * (1 + v * (1 - s));
  }
  case ir::ActivationKind::Softplus:
    return 1 / (1 + std::exp(-v));
  }
  return std::nan("");
}

double dropoutScale(const ir::Attrs &a, int64_t step, int64_t i) {
  double rate = a.getFloat(ir::AttrName::Rate);
  if (rate <= 0)
    return 1;
  uint64_t key =
      mix64(mix64(mix64(static_cast<uint64_t>(a.getInt(ir::AttrName::Seed))) ^
                  static_cast<uint64_t>(a.getInt(ir::AttrName::Salt))) ^
            static_cast<uint64_t>(step));
  uint64_t bits =
      mix64(key + static_cast<uint64_t>(i + 1) * 0x9e3779b97f4a7c15ull);
  double u = static_cast<double>(bits >> 40) / 16777216.0;
  return u >= rate ? 1 / (1 - rate) : 0;
}

// ---- Augmentation (docs/dsl.md "Augmentation", docs/ir.md) ----

// Image n's draw j in [0, 1): the counter-based stream of the augmentation
// kernels (codegen/AugmentKernels.cpp).
double augmentDraw(const ir::Attrs &a, int64_t step, int64_t n, int j) {
  uint64_t key =
      mix64(mix64(mix64(static_cast<uint64_t>(a.getInt(ir::AttrName::Seed))) ^
                  static_cast<uint64_t>(a.getInt(ir::AttrName::Salt))) ^
            static_cast<uint64_t>(step));
  uint64_t bits =
      mix64(key + static_cast<uint64_t>(4 * n + j + 1) * 0x9e3779b97f4a7c15ull);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

double between(double u, double lo, double hi) { return lo + u * (hi - lo); }

// Pixel index i of an axis of `size`, mapped by the fill mode; -1 for a
// constant-mode pixel outside.
int64_t fillIndex(const std::string &mode, int64_t i, int64_t size) {
  if (mode == "nearest")
    return std::clamp<int64_t>(i, 0, size - 1);
  if (mode == "wrap")
    return ((i % size) + size) % size;
  if (mode == "reflect") {
    int64_t r = ((i % (2 * size)) + 2 * size) % (2 * size);
    return r < size ? r : 2 * size - 1 - r;
  }
  return i >= 0 && i < size ? i : -1;
}

// random_rotation, random_zoom, random_translation on x[N,H,W,C].
void affineResample(ir::OpKind kind, const ir::Attrs &a,
                    const std::vector<int64_t> &s, const Buffer &x,
                    int64_t step, Buffer &y) {
  int64_t N = s[0], H = s[1], W = s[2], C = s[3];
  double cx = (W - 1) / 2.0, cy = (H - 1) / 2.0;
  std::string mode = a.getString(ir::AttrName::FillMode);
  double fill = a.getFloat(ir::AttrName::FillValue);
  bool nearest = a.getString(ir::AttrName::Interpolation) == "nearest";
  for (int64_t n = 0; n < N; ++n) {
    // source = (a0 x + a1 y + a2, b0 x + b1 y + b2)
    double m[6];
    if (kind == OpKind::RandomRotation) {
      double t =
          between(augmentDraw(a, step, n, 0), a.getFloat(ir::AttrName::Lower),
                  a.getFloat(ir::AttrName::Upper)) *
          (2 * std::numbers::pi);
      double c = std::cos(t), sn = std::sin(t);
      double r[6] = {c,  -sn, cx - cx * c + cy * sn,
                     sn, c,   cy - cx * sn - cy * c};
      std::copy(r, r + 6, m);
    } else if (kind == OpKind::RandomZoom) {
      double zy = between(augmentDraw(a, step, n, 0),
                          1 + a.getFloat(ir::AttrName::HeightLower),
                          1 + a.getFloat(ir::AttrName::HeightUpper));
      double zx = a.getInt(ir::AttrName::KeepAspect)
                      ? zy
                      : between(augmentDraw(a, step, n, 1),
                                1 + a.getFloat(ir::AttrName::WidthLower),
                                1 + a.getFloat(ir::AttrName::WidthUpper));
      double r[6] = {zx, 0, cx * (1 - zx), 0, zy, cy * (1 - zy)};
      std::copy(r, r + 6, m);
    } else {
      double dy = between(augmentDraw(a, step, n, 0),
                          a.getFloat(ir::AttrName::HeightLower),
                          a.getFloat(ir::AttrName::HeightUpper)) *
                  H;
      double dx = between(augmentDraw(a, step, n, 1),
                          a.getFloat(ir::AttrName::WidthLower),
                          a.getFloat(ir::AttrName::WidthUpper)) *
                  W;
      double r[6] = {1, 0, -dx, 0, 1, -dy};
      std::copy(r, r + 6, m);
    }
    auto pixel = [&](int64_t i, int64_t j, int64_t c) {
      int64_t fi = fillIndex(mode, i, H), fj = fillIndex(mode, j, W);
      return fi < 0 || fj < 0 ? fill : x[((n * H + fi) * W + fj) * C + c];
    };
    // The map rounded to float; coordinates in float, as the kernels
    // compute them (docs/dsl.md).
    float fm[6];
    std::copy(m, m + 6, fm);
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        auto fi = static_cast<float>(i), fj = static_cast<float>(j);
        double xs = std::fma(fm[0], fj, std::fma(fm[1], fi, fm[2]));
        double ys = std::fma(fm[3], fj, std::fma(fm[4], fi, fm[5]));
        for (int64_t c = 0; c < C; ++c) {
          double v;
          if (nearest) {
            v = pixel(static_cast<int64_t>(std::nearbyint(ys)),
                      static_cast<int64_t>(std::nearbyint(xs)), c);
          } else {
            double y0 = std::floor(ys), x0 = std::floor(xs);
            double fy = ys - y0, fx = xs - x0;
            auto i0 = static_cast<int64_t>(y0), j0 = static_cast<int64_t>(x0);
            v = (1 - fy) * (1 - fx) * pixel(i0, j0, c) +
                (1 - fy) * fx * pixel(i0, j0 + 1, c) +
                fy * (1 - fx) * pixel(i0 + 1, j0, c) +
                fy * fx * pixel(i0 + 1, j0 + 1, c);
          }
          y[((n * H + i) * W + j) * C + c] = v;
        }
      }
  }
}

void augment(ir::OpKind kind, const ir::Attrs &a, const std::vector<int64_t> &s,
             const std::vector<int64_t> &ys, const Buffer &x, int64_t step,
             Buffer &y) {
  int64_t N = s[0], H = s[1], W = s[2], C = s[3];
  auto at = [&](int64_t n, int64_t i, int64_t j, int64_t c) {
    return ((n * H + i) * W + j) * C + c;
  };
  switch (kind) {
  case OpKind::RandomFlip: {
    std::string mode = a.getString(ir::AttrName::Mode);
    for (int64_t n = 0; n < N; ++n) {
      bool flip = augmentDraw(a, step, n, 0) <= 0.5;
      bool fh = flip && mode != "vertical", fv = flip && mode != "horizontal";
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j)
          for (int64_t c = 0; c < C; ++c)
            y[at(n, i, j, c)] =
                x[at(n, fv ? H - 1 - i : i, fh ? W - 1 - j : j, c)];
    }
    return;
  }
  case OpKind::RandomContrast:
  case OpKind::RandomBrightness: {
    double lo = a.getFloat(ir::AttrName::ValueLow),
           hi = a.getFloat(ir::AttrName::ValueHigh);
    for (int64_t n = 0; n < N; ++n) {
      double u = augmentDraw(a, step, n, 0);
      for (int64_t c = 0; c < C; ++c) {
        double mean = 0;
        for (int64_t p = 0; p < H * W; ++p)
          mean += x[(n * H * W + p) * C + c];
        mean /= static_cast<double>(H * W);
        for (int64_t p = 0; p < H * W; ++p) {
          int64_t k = (n * H * W + p) * C + c;
          double v =
              kind == OpKind::RandomContrast
                  ? (x[k] - mean) *
                            between(u, 1 - a.getFloat(ir::AttrName::Lower),
                                    1 + a.getFloat(ir::AttrName::Upper)) +
                        mean
                  : x[k] + between(u, a.getFloat(ir::AttrName::Lower),
                                   a.getFloat(ir::AttrName::Upper)) *
                               (hi - lo);
          y[k] = std::clamp(v, lo, hi);
        }
      }
    }
    return;
  }
  case OpKind::RandomCrop: {
    int64_t oh = ys[1], ow = ys[2];
    if (a.getInt(ir::AttrName::Training) && H > oh && W > ow) {
      auto top =
          static_cast<int64_t>(augmentDraw(a, step, 0, 0) * (H - oh + 1));
      auto left =
          static_cast<int64_t>(augmentDraw(a, step, 0, 1) * (W - ow + 1));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j)
            for (int64_t c = 0; c < C; ++c)
              y[((n * oh + i) * ow + j) * C + c] =
                  x[at(n, top + i, left + j, c)];
      return;
    }
    // The center window of the target's aspect ratio, resized bilinearly
    // with half-pixel centres (TensorFlow's resize).
    int64_t ch = std::clamp<int64_t>(W * oh / ow, 1, H);
    int64_t cw = std::clamp<int64_t>(H * ow / oh, 1, W);
    int64_t top = (H - ch) / 2, left = (W - cw) / 2;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double sy = std::clamp((i + 0.5) * ch / oh - 0.5, 0.0, ch - 1.0);
          double sx = std::clamp((j + 0.5) * cw / ow - 0.5, 0.0, cw - 1.0);
          auto i0 = static_cast<int64_t>(sy), j0 = static_cast<int64_t>(sx);
          int64_t i1 = std::min(i0 + 1, ch - 1), j1 = std::min(j0 + 1, cw - 1);
          double fy = sy - i0, fx = sx - j0;
          for (int64_t c = 0; c < C; ++c) {
            auto v = [&](int64_t r, int64_t q) {
              return x[at(n, top + r, left + q, c)];
            };
            double t = v(i0, j0) * (1 - fx) + v(i0, j1) * fx;
            double b = v(i1, j0) * (1 - fx) + v(i1, j1) * fx;
            y[((n * oh + i) * ow + j) * C + c] = t * (1 - fy) + b * fy;
          }
        }
    return;
  }
  default:
    affineResample(kind, a, s, x, step, y);
  }
}

// x [outer, n, inner] along `axis` as bfloat16 pairs (ir/Types.h):
// [outer, ceil(n/2), inner, 2], zero where n is odd.
Buffer packPairs(const Buffer &x, const std::vector<int64_t> &shape,
                 int64_t axis) {
  int64_t outer = 1, inner = 1, n = shape[axis], half = (n + 1) / 2;
  for (int64_t d = 0; d < axis; ++d)
    outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d)
    inner *= shape[d];
  Buffer out(outer * half * inner * 2, 0.0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < inner; ++i)
        out[((o * half + j / 2) * inner + i) * 2 + j % 2] =
            roundToBfloat16(x[(o * n + j) * inner + i]);
  return out;
}

// The inverse: packed pairs back to [outer, 2 * half, inner].
Buffer unpackPairs(const Buffer &p, const std::vector<int64_t> &packed,
                   int64_t axis) {
  int64_t outer = 1, inner = 1, half = packed[axis];
  for (int64_t d = 0; d < axis; ++d)
    outer *= packed[d];
  for (size_t d = axis + 1; d + 1 < packed.size(); ++d)
    inner *= packed[d];
  Buffer out(outer * half * 2 * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < 2 * half; ++j)
      for (int64_t i = 0; i < inner; ++i)
        out[(o * 2 * half + j) * inner + i] =
            p[((o * half + j / 2) * inner + i) * 2 + j % 2];
  return out;
}

// A fused op's non-overlapping max pool of y (shape ys) into py (shape
// pooled); argmax = first tap equal to the max, -1 when a relu passes no
// gradient (max <= 0).
void fusedMaxPool(const Buffer &y, const std::vector<int64_t> &ys,
                  const std::vector<int64_t> &ps,
                  const std::vector<int64_t> &pooled, bool relu, Buffer &py,
                  Buffer *argmax) {
  int64_t o = ys[3];
  for (int64_t b = 0; b < pooled[0]; ++b)
    for (int64_t r = 0; r < pooled[1]; ++r)
      for (int64_t q = 0; q < pooled[2]; ++q)
        for (int64_t k = 0; k < o; ++k) {
          auto tap = [&](int64_t t) {
            return y[((b * ys[1] + r * ps[0] + t / ps[1]) * ys[2] + q * ps[1] +
                      t % ps[1]) *
                         o +
                     k];
          };
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t t = 0; t < ps[0] * ps[1]; ++t)
            m = std::max(m, tap(t));
          int64_t at = ((b * pooled[1] + r) * pooled[2] + q) * o + k;
          py[at] = m;
          if (!argmax)
            continue;
          int64_t first = -1;
          for (int64_t t = ps[0] * ps[1] - 1; t >= 0; --t)
            if (tap(t) == m)
              first = t;
          (*argmax)[at] = relu && !(m > 0) ? -1 : first;
        }
}

// max_pool2d_argmax_grad: dx of shape xs from the pooled argmax and g (of
// shape pooled) [* mask] [* attribute scale].
Buffer argmaxGradient(const ir::Attrs &a, const Buffer &argmax, const Buffer &g,
                      const Buffer *mask, const std::vector<int64_t> &pooled,
                      const std::vector<int64_t> &xs) {
  std::vector<int64_t> ps = a.getInts(ir::AttrName::PoolSize);
  Buffer dx(xs[0] * xs[1] * xs[2] * xs[3], 0.0);
  for (int64_t b = 0; b < pooled[0]; ++b)
    for (int64_t r = 0; r < pooled[1]; ++r)
      for (int64_t q = 0; q < pooled[2]; ++q)
        for (int64_t k = 0; k < xs[3]; ++k) {
          int64_t at = ((b * pooled[1] + r) * pooled[2] + q) * xs[3] + k;
          auto t = static_cast<int64_t>(argmax[at]);
          if (t < 0)
            continue;
          dx[((b * xs[1] + r * ps[0] + t / ps[1]) * xs[2] + q * ps[1] +
              t % ps[1]) *
                 xs[3] +
             k] = g[at] * (mask ? (*mask)[at] : 1.0) *
                  a.getFloat(ir::AttrName::Scale, 1.0);
        }
  return dx;
}

} // namespace

Interpreter::Interpreter(const ir::Graph &g) : g_(g) {
  for (const ir::Value &v : g.values())
    buffers_.emplace_back(v.type.numElements(), 0.0);
}

std::vector<double> &Interpreter::at(const std::string &name) {
  ir::ValueId v = g_.findValue(name);
  if (v < 0)
    throw std::out_of_range("no value %" + name);
  return buffers_[v];
}

absl::Status Interpreter::run() {
  for (const ir::Op &op : g_.ops()) {
    // A contraction may read bfloat16 pairs along the axis it sums
    // (ir/ShapeRules.cpp): it then sees the unpacked operands.
    std::array<std::vector<int64_t>, 2> unpackedShape;
    std::array<Buffer, 2> unpacked;
    for (size_t i = 0; i < 2 && i < op.operands.size(); ++i) {
      const ir::TensorType &t = g_.type(op.operands[i]);
      if (t.dtype != ir::DType::BF16)
        continue;
      int64_t axis = ir::bfloat16PairAxis(op.kind, op.attrs, i);
      std::optional<ir::TensorType> u = ir::unpackedBfloat16Pairs(t, axis);
      if (!u)
        return absl::InvalidArgumentError(
            fmt::format("{}: operand {} is no bfloat16 pair tensor",
                        ir::opName(op.kind), i));
      unpackedShape[i] = u->shape;
      unpacked[i] = unpackPairs(buffers_[op.operands[i]], t.shape, axis);
    }
    auto shape = [&](ir::ValueId v) -> const std::vector<int64_t> & {
      for (size_t i = 0; i < 2 && i < op.operands.size(); ++i)
        if (v == op.operands[i] && !unpackedShape[i].empty())
          return unpackedShape[i];
      return g_.type(v).shape;
    };
    auto in = [&](int i) -> Buffer & { return buffers_[op.operands[i]]; };
    auto out = [&](int i) -> Buffer & {
      Buffer &b = buffers_[op.results[i]];
      std::fill(b.begin(), b.end(), 0.0);
      return b;
    };
    const ir::Attrs &a = op.attrs;
    // A normalization gradient's dy (operand 3), or with the
    // max_pool2d_argmax_grad prologue, from the pooled (argmax, g).
    bool pooledDy = (op.kind == OpKind::BatchNormGrad ||
                     op.kind == OpKind::BatchNormGradSums) &&
                    ir::checkedFusedStages(op.kind, a)
                        .has(ir::FusedStage::MaxPool2DArgmaxGrad);
    Buffer dyFromPool =
        pooledDy ? argmaxGradient(a, in(3), in(4), nullptr,
                                  shape(op.operands[4]), shape(op.operands[0]))
                 : Buffer();
    auto normDy = [&]() -> Buffer & { return pooledDy ? dyFromPool : in(3); };
    // A contraction (kContracts in ir/Ops.def) with compute_dtype =
    // "bfloat16" multiplies its operands 0 and 1 (or a prologue's gradient)
    // rounded to bfloat16; the sums stay exact here.
    bool bfloat16 = (ir::opInfo(op.kind).flags & ir::kContracts) &&
                    ir::computeDtypeOf(a) == ir::ComputeDtype::Bfloat16;
    std::array<Buffer, 2> rounded;
    auto contracted = [&](int i) -> Buffer & {
      if (!unpacked[i].empty())
        return unpacked[i];
      if (!bfloat16)
        return in(i);
      if (rounded[i].empty())
        rounded[i] = roundedToBfloat16(in(i));
      return rounded[i];
    };
    // A sum over the batch with batch_groups (ir/ShapeRules.h): where
    // image b's group's partial sum starts in result r (operand 0 holds
    // pairs of images along the batch when it is bf16).
    auto groupBase = [&](int64_t b, size_t r = 0) -> int64_t {
      if (!a.has(ir::AttrName::BatchGroups))
        return 0;
      const ir::TensorType &x = g_.type(op.operands[0]);
      const ir::TensorType &sums = g_.type(op.results[r]);
      int64_t unit = x.dtype == ir::DType::BF16 ? 2 : 1;
      int64_t size = ir::batchGroupSize(x.shape[0], sums.shape[0]);
      return b / unit / size * (sums.numElements() / sums.shape[0]);
    };
    // bias_grad into result r: dy [N, ..., C] summed per channel (by batch
    // group with batch_groups).
    auto sumChannels = [&](const Buffer &dy, const std::vector<int64_t> &s,
                           size_t r) {
      Buffer &db = out(r);
      auto c = static_cast<size_t>(s.back());
      size_t perImage = dy.size() / static_cast<size_t>(s[0]);
      for (size_t i = 0; i < dy.size(); ++i)
        db[groupBase(static_cast<int64_t>(i / perImage), r) + i % c] += dy[i];
    };
    switch (op.kind) {
    case OpKind::Conv2D: {
      const auto &ws = shape(op.operands[1]);
      Window win =
          window(shape(op.operands[0]), shape(op.results[0]), ws[0], ws[1], a);
      Buffer &x = contracted(0), &w = contracted(1), &y = out(0);
      int64_t o = ws[3];
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            y[win.out(b, r, q, k, o)] +=
                x[win.in(b, ih, iw, c)] *
                w[((i * ws[1] + j) * win.c + c) * o + k];
      });
      break;
    }
    case OpKind::Conv2DBackwardData: {
      const auto &ws = shape(op.operands[1]);
      Window win = window(a.getInts(ir::AttrName::InputShape),
                          shape(op.operands[0]), ws[0], ws[1], a);
      Buffer &dy = contracted(0), &w = contracted(1), &dx = out(0);
      int64_t o = ws[3];
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            dx[win.in(b, ih, iw, c)] +=
                dy[win.out(b, r, q, k, o)] *
                w[((i * ws[1] + j) * win.c + c) * o + k];
      });
      break;
    }
    case OpKind::Conv2DBackwardFilter: {
      std::vector<int64_t> ks = a.getInts(ir::AttrName::KernelSize);
      const auto &dys = shape(op.operands[1]);
      Window win = window(shape(op.operands[0]), dys, ks[0], ks[1], a);
      Buffer &x = contracted(0), &dy = contracted(1), &dw = out(0);
      int64_t o = dys[3];
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            dw[groupBase(b) + ((i * ks[1] + j) * win.c + c) * o + k] +=
                x[win.in(b, ih, iw, c)] * dy[win.out(b, r, q, k, o)];
      });
      break;
    }
    case OpKind::BiasAdd: {
      Buffer &x = in(0), &b = in(1), &y = out(0);
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = x[i] + b[i % b.size()];
      break;
    }
    case OpKind::BiasGrad:
      sumChannels(in(0), shape(op.operands[0]), 0);
      break;
    case OpKind::MaxPool2D:
    case OpKind::AvgPool2D: {
      std::vector<int64_t> ps = a.getInts(ir::AttrName::PoolSize);
      Window win =
          window(shape(op.operands[0]), shape(op.results[0]), ps[0], ps[1], a);
      Buffer &x = in(0), &y = out(0);
      bool isMax = op.kind == OpKind::MaxPool2D;
      std::vector<int64_t> taps(y.size(), 0);
      if (isMax)
        std::fill(y.begin(), y.end(), -std::numeric_limits<double>::infinity());
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c) {
          int64_t o = win.out(b, r, q, c, win.c);
          double v = x[win.in(b, ih, iw, c)];
          y[o] = isMax ? std::max(y[o], v) : y[o] + v;
          ++taps[o];
        }
      });
      if (!isMax)
        for (size_t o = 0; o < y.size(); ++o)
          y[o] /= static_cast<double>(taps[o]);
      break;
    }
    case OpKind::MaxPool2DGrad:
    case OpKind::MaxPool2DGradFused: {
      std::vector<int64_t> ps = a.getInts(ir::AttrName::PoolSize);
      Window win =
          window(shape(op.operands[0]), shape(op.operands[1]), ps[0], ps[1], a);
      Buffer &x = in(0), &y = in(1), &dy = in(2), &dx = out(0);
      // Each window's gradient goes to its first tap equal to the max.
      std::vector<bool> routed(y.size(), false);
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c) {
          int64_t o = win.out(b, r, q, c, win.c), i = win.in(b, ih, iw, c);
          if (!routed[o] && x[i] == y[o]) {
            dx[i] += dy[o];
            routed[o] = true;
          }
        }
      });
      if (op.kind == OpKind::MaxPool2DGradFused &&
          ir::checkedFusedStages(op.kind, a)
              .has(ir::FusedStage::ActivationGrad)) {
        ir::ActivationKind kind =
            ir::activationKindOf(a, ir::AttrName::Activation);
        for (size_t i = 0; i < dx.size(); ++i)
          dx[i] *= activationGrad(kind, 0.0, x[i]);
      }
      break;
    }
    case OpKind::AvgPool2DGrad: {
      std::vector<int64_t> ps = a.getInts(ir::AttrName::PoolSize);
      Window win = window(a.getInts(ir::AttrName::InputShape),
                          shape(op.operands[0]), ps[0], ps[1], a);
      Buffer &dy = in(0), &dx = out(0);
      std::vector<int64_t> taps(dy.size(), 0);
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t, int64_t) {
        for (int64_t c = 0; c < win.c; ++c)
          ++taps[win.out(b, r, q, c, win.c)];
      });
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c) {
          int64_t o = win.out(b, r, q, c, win.c);
          dx[win.in(b, ih, iw, c)] += dy[o] / static_cast<double>(taps[o]);
        }
      });
      break;
    }
    case OpKind::MatMul: {
      const auto &as = shape(op.operands[0]), &bs = shape(op.operands[1]);
      bool ta = a.getInt(ir::AttrName::TransposeA) != 0,
           tb = a.getInt(ir::AttrName::TransposeB) != 0;
      int64_t m = ta ? as[1] : as[0], k = ta ? as[0] : as[1];
      int64_t n = tb ? bs[0] : bs[1];
      // k_groups: partial product g over its slice of k (ShapeRules.h).
      // Groups of words when the operands hold bfloat16 pairs along k.
      int64_t groups = a.getInt(ir::AttrName::KGroups, 1);
      int64_t size = g_.type(op.operands[0]).dtype == ir::DType::BF16
                         ? 2 * ir::kGroupSize((k + 1) / 2, groups)
                         : ir::kGroupSize(k, groups);
      Buffer &x = contracted(0), &w = contracted(1), &y = out(0);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          for (int64_t p = 0; p < k; ++p)
            y[(p / size * m + i) * n + j] +=
                x[ta ? p * as[1] + i : i * as[1] + p] *
                w[tb ? j * bs[1] + p : p * bs[1] + j];
      break;
    }
    case OpKind::Reshape:
      out(0) = in(0);
      break;
    case OpKind::Pad2D:
    case OpKind::Pad2DGrad: {
      // Index the padded tensor; copy in whichever direction.
      bool grad = op.kind == OpKind::Pad2DGrad;
      const auto &xs = shape(grad ? op.results[0] : op.operands[0]);
      const auto &ps = shape(grad ? op.operands[0] : op.results[0]);
      std::vector<int64_t> p = a.getInts(ir::AttrName::Padding);
      Buffer &x = grad ? out(0) : in(0), &y = grad ? in(0) : out(0);
      for (int64_t b = 0; b < xs[0]; ++b)
        for (int64_t i = 0; i < xs[1]; ++i)
          for (int64_t j = 0; j < xs[2]; ++j)
            for (int64_t c = 0; c < xs[3]; ++c) {
              int64_t at = ((b * xs[1] + i) * xs[2] + j) * xs[3] + c;
              int64_t padded =
                  ((b * ps[1] + i + p[0]) * ps[2] + j + p[1]) * ps[3] + c;
              if (grad)
                x[at] = y[padded];
              else
                y[padded] = x[at];
            }
      break;
    }
    case OpKind::Activation:
    case OpKind::ActivationGrad: {
      ir::ActivationKind kind = ir::activationKindOf(a);
      double param = ir::activationParamOf(a, kind);
      bool grad = op.kind == OpKind::ActivationGrad;
      Buffer &x = in(0), &y = out(0);
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = grad ? in(1)[i] * activationGrad(kind, param, x[i])
                    : activation(kind, param, x[i]);
      break;
    }
    case OpKind::Softmax:
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::SoftmaxCrossEntropyGrad:
    case OpKind::CountCorrect: {
      const auto &s = shape(op.operands[0]);
      int64_t n = s[0], c = s[1];
      Buffer &x = in(0);
      // A label outside [0, C) adds 0 to the loss (still counting in N),
      // has no one-hot and is never correct.
      Buffer labels = op.operands.size() > 1 ? in(1) : Buffer(n, -1);
      auto label = [&](int64_t r) { return static_cast<int64_t>(labels[r]); };
      auto valid = [&](int64_t r) { return label(r) >= 0 && label(r) < c; };
      if (op.kind == OpKind::SoftmaxCrossEntropyGrad) {
        Buffer &dx = out(0);
        for (int64_t r = 0; r < n; ++r)
          for (int64_t j = 0; j < c; ++j)
            dx[r * c + j] = (x[r * c + j] - (j == label(r) ? 1 : 0)) /
                            static_cast<double>(n);
        break;
      }
      if (op.kind == OpKind::CountCorrect) {
        double correct = 0;
        for (int64_t r = 0; r < n; ++r) {
          int64_t best = 0;
          for (int64_t j = 1; j < c; ++j)
            if (x[r * c + j] > x[r * c + best])
              best = j;
          correct += best == label(r) ? 1 : 0;
        }
        out(0)[0] = correct;
        break;
      }
      bool sce = op.kind == OpKind::SoftmaxCrossEntropy;
      Buffer &probs = out(sce ? 1 : 0);
      double loss = 0;
      for (int64_t r = 0; r < n; ++r) {
        double m = x[r * c];
        for (int64_t j = 1; j < c; ++j)
          m = std::max(m, x[r * c + j]);
        double sum = 0;
        for (int64_t j = 0; j < c; ++j)
          sum += std::exp(x[r * c + j] - m);
        for (int64_t j = 0; j < c; ++j)
          probs[r * c + j] = std::exp(x[r * c + j] - m) / sum;
        if (sce && valid(r))
          loss += std::log(sum) - (x[r * c + label(r)] - m);
      }
      if (sce)
        out(0)[0] = loss / static_cast<double>(n);
      break;
    }
    case OpKind::Dropout: {
      Buffer &x = in(0), &y = out(0), &mask = out(1);
      auto step = static_cast<int64_t>(in(1)[0]);
      for (size_t i = 0; i < y.size(); ++i) {
        mask[i] = dropoutScale(a, step, static_cast<int64_t>(i));
        y[i] = x[i] * mask[i];
      }
      break;
    }
    case OpKind::RandomFlip:
    case OpKind::RandomRotation:
    case OpKind::RandomZoom:
    case OpKind::RandomTranslation:
    case OpKind::RandomContrast:
    case OpKind::RandomBrightness:
    case OpKind::RandomCrop:
      augment(op.kind, a, shape(op.operands[0]), shape(op.results[0]), in(0),
              static_cast<int64_t>(in(1)[0]), out(0));
      break;
    case OpKind::Rescale: {
      Buffer &x = in(0), &y = out(0);
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = x[i] * a.getFloat(ir::AttrName::Scale) +
               a.getFloat(ir::AttrName::Offset);
      break;
    }
    // ---- Global pooling and batch normalization ----
    case OpKind::GlobalAvgPool2D:
    case OpKind::GlobalAvgPool2DGrad: {
      bool grad = op.kind == OpKind::GlobalAvgPool2DGrad;
      const auto &x = grad ? shape(op.results[0]) : shape(op.operands[0]);
      int64_t pixels = x[1] * x[2], c = x[3];
      Buffer &src = in(0), &dst = out(0);
      for (int64_t n = 0; n < x[0]; ++n)
        for (int64_t p = 0; p < pixels; ++p)
          for (int64_t ch = 0; ch < c; ++ch) {
            int64_t image = (n * pixels + p) * c + ch, pooled = n * c + ch;
            if (grad)
              dst[image] = src[pooled] / static_cast<double>(pixels);
            else
              dst[pooled] += src[image] / static_cast<double>(pixels);
          }
      break;
    }
    case OpKind::BatchNormInferenceGrad: {
      // dx = dy * gamma / sqrt(var + eps): the statistics are constants.
      const auto &xs = shape(op.operands[0]);
      int64_t c = xs.back(), rows = g_.type(op.operands[0]).numElements() / c;
      double eps = a.getFloat(ir::AttrName::Epsilon);
      bool scale = a.getInt(ir::AttrName::Scale, 1) != 0;
      Buffer &dy = in(0), &var = in(1), &dx = out(0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t ch = 0; ch < c; ++ch)
          dx[r * c + ch] = dy[r * c + ch] * (scale ? in(2)[ch] : 1.0) /
                           std::sqrt(var[ch] + eps);
      break;
    }
    case OpKind::BatchNorm:
    case OpKind::BatchNormGrad:
    case OpKind::BatchNormInference: {
      // Over rows r (every axis but the last) per channel ch, from the
      // definition: y = gamma (x - mean) / sqrt(var + eps) + beta, and for
      // the gradient the derivative of that with mean and var the batch's
      // (biased) statistics. With batch_groups, the sums operand (last) is
      // not read: the statistics come from x, so a test of the kernel,
      // which adds the sums up, also checks that they are x's.
      const auto &xs = shape(op.operands[0]);
      int64_t c = xs.back(), rows = g_.type(op.operands[0]).numElements() / c;
      double eps = a.getFloat(ir::AttrName::Epsilon);
      bool scale = a.getInt(ir::AttrName::Scale, 1) != 0;
      bool center = a.getInt(ir::AttrName::Center, 1) != 0;
      size_t fixed = op.kind == OpKind::BatchNorm       ? 1
                     : op.kind == OpKind::BatchNormGrad ? (pooledDy ? 5 : 4)
                                                        : 3;
      auto gamma = [&](int64_t ch) { return scale ? in(fixed)[ch] : 1.0; };
      auto beta = [&](int64_t ch) {
        return center ? in(fixed + (scale ? 1 : 0))[ch] : 0.0;
      };
      Buffer &x = in(0);
      auto at = [&](int64_t r, int64_t ch) { return r * c + ch; };
      if (op.kind == OpKind::BatchNormGrad) {
        Buffer &mean = in(1), &var = in(2), &dy = normDy();
        Buffer &dx = out(0), &dgamma = out(1), &dbeta = out(2);
        for (int64_t ch = 0; ch < c; ++ch) {
          double inv = 1 / std::sqrt(var[ch] + eps);
          for (int64_t r = 0; r < rows; ++r) {
            dbeta[ch] += dy[at(r, ch)];
            dgamma[ch] += dy[at(r, ch)] * (x[at(r, ch)] - mean[ch]) * inv;
          }
          double n = static_cast<double>(rows);
          for (int64_t r = 0; r < rows; ++r) {
            double xhat = (x[at(r, ch)] - mean[ch]) * inv;
            dx[at(r, ch)] = gamma(ch) * inv / n *
                            (n * dy[at(r, ch)] - dbeta[ch] - xhat * dgamma[ch]);
          }
        }
        break;
      }
      Buffer &y = out(0);
      Buffer mean(c, 0.0), var(c, 0.0);
      if (op.kind == OpKind::BatchNorm) {
        for (int64_t ch = 0; ch < c; ++ch) {
          for (int64_t r = 0; r < rows; ++r)
            mean[ch] += x[at(r, ch)] / static_cast<double>(rows);
          for (int64_t r = 0; r < rows; ++r)
            var[ch] += (x[at(r, ch)] - mean[ch]) * (x[at(r, ch)] - mean[ch]) /
                       static_cast<double>(rows);
        }
        out(1) = mean;
        out(2) = var;
      } else {
        mean = in(1);
        var = in(2);
      }
      // The activation epilogue after the normalization (either op),
      // then the max_pool2d epilogue (and its argmax) as a fused conv's.
      ir::FusedStageSet st = ir::checkedFusedStages(op.kind, a);
      ir::ActivationKind act =
          st.has(ir::FusedStage::Activation)
              ? ir::activationKindOf(a, ir::AttrName::Activation)
              : ir::ActivationKind::Linear;
      bool pooled = st.has(ir::FusedStage::MaxPool2D);
      Buffer full;
      Buffer &z = pooled ? full : y;
      z.assign(x.size(), 0.0);
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t r = 0; r < rows; ++r)
          z[at(r, ch)] = activation(act, 0,
                                    gamma(ch) * (x[at(r, ch)] - mean[ch]) /
                                            std::sqrt(var[ch] + eps) +
                                        beta(ch));
      if (pooled)
        fusedMaxPool(z, xs, a.getInts(ir::AttrName::PoolSize),
                     shape(op.results[0]), act == ir::ActivationKind::Relu, y,
                     st.has(ir::FusedStage::Argmax) ? &out(3) : nullptr);
      break;
    }
    case OpKind::MovingAverageUpdate: {
      Buffer &m = in(0), &v = in(1);
      double momentum = a.getFloat(ir::AttrName::Momentum);
      for (size_t i = 0; i < m.size(); ++i)
        m[i] = m[i] * momentum + v[i] * (1 - momentum);
      break;
    }
    case OpKind::Mul:
    case OpKind::Add: {
      Buffer &x = in(0), &w = in(1), &y = out(0);
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = op.kind == OpKind::Mul ? x[i] * w[i] : x[i] + w[i];
      break;
    }
    case OpKind::SgdUpdate: {
      Buffer &p = in(0), &g = in(1);
      double lr = in(2)[0], mom = a.getFloat(ir::AttrName::Momentum);
      bool nesterov = a.getInt(ir::AttrName::Nesterov) != 0;
      for (size_t i = 0; i < p.size(); ++i) {
        if (op.operands.size() == 3) {
          p[i] -= lr * g[i];
          continue;
        }
        double &v = in(3)[i];
        v = mom * v - lr * g[i];
        p[i] += nesterov ? mom * v - lr * g[i] : v;
      }
      break;
    }
    case OpKind::AdamUpdate: {
      Buffer &p = in(0), &g = in(1), &m = in(3), &v = in(4);
      double lr = in(2)[0], b1 = a.getFloat(ir::AttrName::Beta1),
             b2 = a.getFloat(ir::AttrName::Beta2),
             eps = a.getFloat(ir::AttrName::Epsilon);
      double t = in(5)[0]; // 1-based
      double alpha =
          lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      for (size_t i = 0; i < p.size(); ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
      }
      break;
    }
    case OpKind::RmspropUpdate: {
      Buffer &p = in(0), &g = in(1), &ms = in(3);
      double lr = in(2)[0], rho = a.getFloat(ir::AttrName::Rho),
             eps = a.getFloat(ir::AttrName::Epsilon);
      for (size_t i = 0; i < p.size(); ++i) {
        ms[i] = rho * ms[i] + (1 - rho) * g[i] * g[i];
        p[i] -= lr * g[i] / std::sqrt(ms[i] + eps);
      }
      break;
    }
    // ---- Fused ops (passes/Fusion.cpp): the compositions they replace ----
    case OpKind::Conv2DFused: {
      ir::FusedStageSet st = ir::checkedFusedStages(op.kind, a);
      const auto &xs = shape(op.operands[0]), &ws = shape(op.operands[1]);
      std::vector<int64_t> s = a.getInts(ir::AttrName::Strides),
                           p = a.getInts(ir::AttrName::Padding),
                           d = a.getInts(ir::AttrName::Dilations);
      if (d.empty())
        d = {1, 1};
      std::vector<int64_t> ys{
          xs[0], (xs[1] + p[0] + p[2] - (ws[0] - 1) * d[0] - 1) / s[0] + 1,
          (xs[2] + p[1] + p[3] - (ws[1] - 1) * d[1] - 1) / s[1] + 1, ws[3]};
      Window win = window(xs, ys, ws[0], ws[1], a);
      Buffer &x = contracted(0), &w = contracted(1);
      Buffer noBias(ws[3], 0.0);
      Buffer &bias = st.has(ir::FusedStage::BiasAdd) ? in(2) : noBias;
      int64_t o = ws[3];
      Buffer y(ys[0] * ys[1] * ys[2] * o, 0.0);
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            y[win.out(b, r, q, k, o)] +=
                x[win.in(b, ih, iw, c)] *
                w[((i * ws[1] + j) * win.c + c) * o + k];
      });
      ir::ActivationKind act =
          st.has(ir::FusedStage::Activation)
              ? ir::activationKindOf(a, ir::AttrName::Activation)
              : ir::ActivationKind::Linear;
      bool relu = act == ir::ActivationKind::Relu;
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = activation(act, 0, y[i] + bias[i % o]);
      if (!st.has(ir::FusedStage::MaxPool2D)) {
        out(0) = y;
        break;
      }
      // With pack_bfloat16_pairs, the pooled result is packed into the
      // results before argmax.
      bool pack = st.has(ir::FusedStage::PackBfloat16Pairs);
      std::vector<int64_t> axes =
          pack ? a.getInts(ir::AttrName::Axes) : std::vector<int64_t>{};
      std::vector<int64_t> ps = a.getInts(ir::AttrName::PoolSize);
      std::vector<int64_t> pooledShape{ys[0], ys[1] / ps[0], ys[2] / ps[1], o};
      Buffer pooled(pack ? pooledShape[0] * pooledShape[1] * pooledShape[2] * o
                         : 0);
      Buffer &py = pack ? pooled : out(0);
      Buffer *argmax = st.has(ir::FusedStage::Argmax)
                           ? &out(pack ? axes.size() : 1)
                           : nullptr;
      fusedMaxPool(y, ys, ps, pooledShape, relu, py, argmax);
      if (st.has(ir::FusedStage::Dropout)) {
        // dropout after the pool; dropped elements pass no gradient.
        auto step = static_cast<int64_t>(
            in(2 + st.count({ir::FusedStage::BiasAdd}))[0]);
        for (size_t i = 0; i < py.size(); ++i) {
          double keep = dropoutScale(a, step, static_cast<int64_t>(i));
          py[i] *= keep;
          if (keep == 0 && argmax)
            (*argmax)[i] = -1;
        }
      }
      for (size_t r = 0; r < axes.size(); ++r)
        out(r) = packPairs(py, pooledShape, axes[r]);
      break;
    }
    case OpKind::MaxPool2DArgmaxGrad:
      out(0) = argmaxGradient(
          a, in(0), in(1), op.operands.size() == 3 ? &in(2) : nullptr,
          shape(op.operands[1]), a.getInts(ir::AttrName::InputShape));
      break;
    case OpKind::MaxPool2DArgmaxGradFused: {
      ir::FusedStageSet st = ir::checkedFusedStages(op.kind, a);
      std::vector<int64_t> xs = a.getInts(ir::AttrName::InputShape);
      Buffer dx = argmaxGradient(a, in(0), in(1),
                                 op.operands.size() == 3 ? &in(2) : nullptr,
                                 shape(op.operands[1]), xs);
      size_t next = 1;
      if (st.has(ir::FusedStage::PackBfloat16Pairs)) {
        std::vector<int64_t> axes = a.getInts(ir::AttrName::Axes);
        for (size_t r = 0; r < axes.size(); ++r)
          out(r) = packPairs(dx, xs, axes[r]);
        next = axes.size();
      } else {
        out(0) = dx;
      }
      if (st.has(ir::FusedStage::BiasGrad))
        sumChannels(dx, xs, next);
      break;
    }
    case OpKind::Conv2DBackwardFilterFused: {
      ir::FusedStageSet st = ir::checkedFusedStages(op.kind, a);
      bool pooled = st.has(ir::FusedStage::MaxPool2DArgmaxGrad);
      std::vector<int64_t> ks = a.getInts(ir::AttrName::KernelSize);
      const auto &xs = shape(op.operands[0]);
      std::vector<int64_t> s = a.getInts(ir::AttrName::Strides),
                           p = a.getInts(ir::AttrName::Padding);
      int64_t o = shape(op.results[0]).back();
      std::vector<int64_t> dys{xs[0], (xs[1] + p[0] + p[2] - ks[0]) / s[0] + 1,
                               (xs[2] + p[1] + p[3] - ks[1]) / s[1] + 1, o};
      Window win = window(xs, dys, ks[0], ks[1], a);
      Buffer pooledGrad;
      if (pooled) // dy as max_pool2d_argmax_grad(argmax, g [, mask]) computes
                  // it
        pooledGrad = argmaxGradient(a, in(1), in(2),
                                    op.operands.size() == 4 ? &in(3) : nullptr,
                                    shape(op.operands[1]), dys);
      Buffer &x = contracted(0), &dw = out(0);
      // bias_grad sums the gradient as it is; the contraction, rounded.
      Buffer &dy = pooled ? pooledGrad : in(1);
      Buffer dyRounded = bfloat16 ? roundedToBfloat16(dy) : Buffer();
      Buffer &dyc = bfloat16 ? dyRounded : dy;
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            dw[groupBase(b) + ((i * ks[1] + j) * win.c + c) * o + k] +=
                x[win.in(b, ih, iw, c)] * dyc[win.out(b, r, q, k, o)];
      });
      if (st.has(ir::FusedStage::BiasGrad))
        sumChannels(dy, dys, 1);
      break;
    }
    case OpKind::BatchNormSums:
    case OpKind::BatchNormGradSums: {
      // Per group of the batch (ir::batchGroupSize) and channel: the sums
      // of d = x - x[row 0] and d^2, or of dy and dy * xhat.
      const auto &xs = shape(op.operands[0]);
      int64_t c = xs.back(), batch = xs[0];
      int64_t rows = g_.type(op.operands[0]).numElements() / c;
      int64_t groups = a.getInt(ir::AttrName::BatchGroups);
      int64_t size = ir::batchGroupSize(batch, groups), perItem = rows / batch;
      Buffer &x = in(0), &sums = out(0);
      bool grad = op.kind == OpKind::BatchNormGradSums;
      for (int64_t gr = 0; gr < groups; ++gr)
        for (int64_t ch = 0; ch < c; ++ch) {
          double inv =
              grad
                  ? 1 / std::sqrt(in(2)[ch] + a.getFloat(ir::AttrName::Epsilon))
                  : 0;
          int64_t r0 = std::min(gr * size, batch) * perItem;
          int64_t r1 = std::min((gr + 1) * size, batch) * perItem;
          for (int64_t r = r0; r < r1; ++r) {
            double u = grad ? normDy()[r * c + ch] : x[r * c + ch] - x[ch];
            double v = grad ? u * (x[r * c + ch] - in(1)[ch]) * inv : u * u;
            sums[(gr * 2) * c + ch] += u;
            sums[(gr * 2 + 1) * c + ch] += v;
          }
        }
      break;
    }
    case OpKind::GroupSum: {
      Buffer &p = in(0), &y = out(0);
      for (size_t i = 0; i < p.size(); ++i)
        y[i % y.size()] += p[i];
      break;
    }
    case OpKind::GroupSumFused: {
      ir::FusedStageSet st = ir::checkedFusedStages(op.kind, a);
      Buffer &p = in(0), &y = out(0);
      for (size_t i = 0; i < p.size(); ++i)
        y[i % y.size()] += p[i];
      ir::ActivationKind act =
          st.has(ir::FusedStage::Activation)
              ? ir::activationKindOf(a, ir::AttrName::Activation)
              : ir::ActivationKind::Linear;
      size_t cols = static_cast<size_t>(shape(op.results[0]).back());
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = activation(
            act, 0,
            y[i] + (st.has(ir::FusedStage::BiasAdd) ? in(1)[i % cols] : 0.0));
      break;
    }
    case OpKind::RoundToBfloat16: {
      // The nearest bfloat16 of the float, ties to even (as the kernel).
      out(0) = roundedToBfloat16(in(0));
      break;
    }
    case OpKind::PackBfloat16Pairs: {
      std::vector<int64_t> axes = a.getInts(ir::AttrName::Axes);
      for (size_t r = 0; r < axes.size(); ++r)
        out(r) = packPairs(in(0), shape(op.operands[0]), axes[r]);
      break;
    }
    case OpKind::PackBfloat16ColumnPairs: {
      // Pixel (row, c) and its right neighbour, zero past the row.
      const auto &xs = shape(op.operands[0]);
      Buffer &x = in(0), &y = out(0);
      for (int64_t row = 0; row < xs[0] * xs[1]; ++row)
        for (int64_t c = 0; c < xs[2]; ++c) {
          y[(row * xs[2] + c) * 2] = roundToBfloat16(x[row * xs[2] + c]);
          if (c + 1 < xs[2])
            y[(row * xs[2] + c) * 2 + 1] =
                roundToBfloat16(x[row * xs[2] + c + 1]);
        }
      break;
    }
    case OpKind::Conv2DKernelTranspose: {
      const auto &ws = shape(op.operands[0]);
      Buffer &w = in(0), &wt = out(0);
      for (int64_t i = 0; i < ws[0]; ++i)
        for (int64_t j = 0; j < ws[1]; ++j)
          for (int64_t c = 0; c < ws[2]; ++c)
            for (int64_t k = 0; k < ws[3]; ++k)
              wt[((i * ws[1] + ws[1] - 1 - j) * ws[3] + k) * ws[2] + c] =
                  w[((i * ws[1] + j) * ws[2] + c) * ws[3] + k];
      break;
    }
    case OpKind::Conv2DBackwardDataTransposed: {
      const auto &wts = shape(op.operands[1]); // [KH, KW, O, C]
      Window win = window(a.getInts(ir::AttrName::InputShape),
                          shape(op.operands[0]), wts[0], wts[1], a);
      Buffer &dy = contracted(0), &wt = contracted(1), &dx = out(0);
      int64_t o = wts[2];
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            dx[win.in(b, ih, iw, c)] +=
                dy[win.out(b, r, q, k, o)] *
                wt[((i * wts[1] + wts[1] - 1 - j) * o + k) * win.c + c];
      });
      break;
    }
    case OpKind::MatMulFused: {
      ir::FusedStageSet st = ir::checkedFusedStages(op.kind, a);
      const auto &as = shape(op.operands[0]), &bs = shape(op.operands[1]);
      bool ta = a.getInt(ir::AttrName::TransposeA) != 0,
           tb = a.getInt(ir::AttrName::TransposeB) != 0;
      int64_t m = ta ? as[1] : as[0], k = ta ? as[0] : as[1];
      int64_t n = tb ? bs[0] : bs[1];
      Buffer &x = contracted(0), &w = contracted(1), &y = out(0);
      ir::ActivationKind act =
          st.has(ir::FusedStage::Activation)
              ? ir::activationKindOf(a, ir::AttrName::Activation)
              : ir::ActivationKind::Linear;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double v = st.has(ir::FusedStage::BiasAdd) ? in(2)[j] : 0.0;
          for (int64_t p = 0; p < k; ++p)
            v += x[ta ? p * as[1] + i : i * as[1] + p] *
                 w[tb ? j * bs[1] + p : p * bs[1] + j];
          y[i * n + j] = activation(act, 0, v);
        }
      break;
    }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<OpOutcome> interpretOp(ir::OpKind kind,
                                      std::vector<OpOperand> operands,
                                      const ir::Attrs &attrs) {
  ir::Graph g("reference");
  std::vector<ir::ValueId> ids;
  for (size_t k = 0; k < operands.size(); ++k) {
    std::string name = fmt::format("a{}", k);
    const ir::TensorType &t = operands[k].type;
    if (operands[k].data.size() != static_cast<size_t>(t.numElements()))
      return absl::InvalidArgumentError(fmt::format(
          "operand {}: {} values for {}", k, operands[k].data.size(), t.str()));
    switch (operands[k].kind) {
    case ir::ValueKind::Param:
      ids.push_back(g.addParam(name, t));
      break;
    case ir::ValueKind::State:
      ids.push_back(g.addState(name, t));
      break;
    default:
      ids.push_back(g.addInput(name, t));
    }
  }
  auto results = g.create(kind, ids, attrs);
  if (!results.ok())
    return results.status();
  Interpreter in(g);
  for (size_t k = 0; k < operands.size(); ++k)
    in[ids[k]] = std::move(operands[k].data);
  if (absl::Status s = in.run(); !s.ok())
    return s;
  OpOutcome out;
  for (ir::ValueId r : *results)
    out.results.push_back(in[r]);
  for (ir::ValueId v : ids)
    out.operands.push_back(in[v]);
  return out;
}

} // namespace cnnc::testing
