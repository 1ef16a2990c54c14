// Naive float64 references for convolution and pooling (NHWC, HWIO), written
// for clarity from the definitions, plus helpers shared by ConvTest and
// PoolTest.
#pragma once

#include "KernelTestUtil.h"

#include "ir/ShapeRules.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace cnnc::testing {

// Window geometry of a conv or pool op on x [n, h, w, c].
struct Window {
  int64_t n, h, w, c;
  int64_t kh, kw;
  int64_t sh, sw;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;

  int64_t oh() const { return (h + pt + pb - kh) / sh + 1; }
  int64_t ow() const { return (w + pl + pr - kw) / sw + 1; }
  // TensorFlow "same" padding (else "valid", no padding).
  Window &same() {
    std::tie(pt, pb) = ir::samePadding(h, kh, sh);
    std::tie(pl, pr) = ir::samePadding(w, kw, sw);
    return *this;
  }
  std::vector<int64_t> strides() const { return {sh, sw}; }
  std::vector<int64_t> padding() const { return {pt, pl, pb, pr}; }
  std::vector<int64_t> xShape() const { return {n, h, w, c}; }
  std::string str() const {
    return fmt::format("x[{},{},{},{}] window {}x{} strides {},{} padding "
                       "{},{},{},{}",
                       n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr);
  }
  // Input coordinate of window tap k of output i along an axis, or -1 when
  // it falls in the padding.
  int64_t inRow(int64_t o, int64_t k) const {
    int64_t i = o * sh - pt + k;
    return i >= 0 && i < h ? i : -1;
  }
  int64_t inCol(int64_t o, int64_t k) const {
    int64_t i = o * sw - pl + k;
    return i >= 0 && i < w ? i : -1;
  }
};

inline int64_t idx4(const std::vector<int64_t> &s, int64_t a, int64_t b,
                    int64_t c, int64_t d) {
  return ((a * s[1] + b) * s[2] + c) * s[3] + d;
}

// y[n, oh, ow, o] = sum_{kh, kw, c} x[n, ih, iw, c] * w[kh, kw, c, o].
inline std::vector<double> refConv2D(const Window &g, int64_t o,
                                     const std::vector<double> &x,
                                     const std::vector<double> &w) {
  std::vector<int64_t> xs = g.xShape(), ws{g.kh, g.kw, g.c, o},
                       ys{g.n, g.oh(), g.ow(), o};
  std::vector<double> y(g.n * g.oh() * g.ow() * o, 0.0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.oh(); ++i)
      for (int64_t j = 0; j < g.ow(); ++j)
        for (int64_t kh = 0; kh < g.kh; ++kh)
          for (int64_t kw = 0; kw < g.kw; ++kw) {
            int64_t ih = g.inRow(i, kh), iw = g.inCol(j, kw);
            if (ih < 0 || iw < 0)
              continue;
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t k = 0; k < o; ++k)
                y[idx4(ys, n, i, j, k)] +=
                    x[idx4(xs, n, ih, iw, c)] * w[idx4(ws, kh, kw, c, k)];
          }
  return y;
}

// dx = the transpose of refConv2D in x applied to dy (scatter form).
inline std::vector<double> refConv2DBackwardData(const Window &g, int64_t o,
                                                 const std::vector<double> &dy,
                                                 const std::vector<double> &w) {
  std::vector<int64_t> xs = g.xShape(), ws{g.kh, g.kw, g.c, o},
                       ys{g.n, g.oh(), g.ow(), o};
  std::vector<double> dx(g.n * g.h * g.w * g.c, 0.0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.oh(); ++i)
      for (int64_t j = 0; j < g.ow(); ++j)
        for (int64_t kh = 0; kh < g.kh; ++kh)
          for (int64_t kw = 0; kw < g.kw; ++kw) {
            int64_t ih = g.inRow(i, kh), iw = g.inCol(j, kw);
            if (ih < 0 || iw < 0)
              continue;
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t k = 0; k < o; ++k)
                dx[idx4(xs, n, ih, iw, c)] +=
                    dy[idx4(ys, n, i, j, k)] * w[idx4(ws, kh, kw, c, k)];
          }
  return dx;
}

inline std::vector<double>
refConv2DBackwardFilter(const Window &g, int64_t o,
                        const std::vector<double> &x,
                        const std::vector<double> &dy) {
  std::vector<int64_t> xs = g.xShape(), ws{g.kh, g.kw, g.c, o},
                       ys{g.n, g.oh(), g.ow(), o};
  std::vector<double> dw(g.kh * g.kw * g.c * o, 0.0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.oh(); ++i)
      for (int64_t j = 0; j < g.ow(); ++j)
        for (int64_t kh = 0; kh < g.kh; ++kh)
          for (int64_t kw = 0; kw < g.kw; ++kw) {
            int64_t ih = g.inRow(i, kh), iw = g.inCol(j, kw);
            if (ih < 0 || iw < 0)
              continue;
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t k = 0; k < o; ++k)
                dw[idx4(ws, kh, kw, c, k)] +=
                    x[idx4(xs, n, ih, iw, c)] * dy[idx4(ys, n, i, j, k)];
          }
  return dw;
}

// Visits the in-image taps of every pooling window in row-major order:
// f(outIndex, inIndex, firstTapOfWindow).
inline void
forEachPoolTap(const Window &g,
               const std::function<void(int64_t, int64_t, bool)> &f) {
  std::vector<int64_t> xs = g.xShape(), ys{g.n, g.oh(), g.ow(), g.c};
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.oh(); ++i)
      for (int64_t j = 0; j < g.ow(); ++j)
        for (int64_t c = 0; c < g.c; ++c) {
          bool first = true;
          for (int64_t kh = 0; kh < g.kh; ++kh)
            for (int64_t kw = 0; kw < g.kw; ++kw) {
              int64_t ih = g.inRow(i, kh), iw = g.inCol(j, kw);
              if (ih < 0 || iw < 0)
                continue;
              f(idx4(ys, n, i, j, c), idx4(xs, n, ih, iw, c), first);
              first = false;
            }
        }
}

inline int64_t poolOutputSize(const Window &g) {
  return g.n * g.oh() * g.ow() * g.c;
}

inline std::vector<double> refMaxPool(const Window &g,
                                      const std::vector<double> &x) {
  std::vector<double> y(poolOutputSize(g));
  forEachPoolTap(g, [&](int64_t o, int64_t i, bool first) {
    y[o] = first ? x[i] : std::max(y[o], x[i]);
  });
  return y;
}

// Each output gradient goes to the first tap holding the window's maximum.
inline std::vector<double> refMaxPoolGrad(const Window &g,
                                          const std::vector<double> &x,
                                          const std::vector<double> &dy) {
  std::vector<double> y = refMaxPool(g, x);
  std::vector<bool> routed(y.size(), false);
  std::vector<double> dx(x.size(), 0.0);
  forEachPoolTap(g, [&](int64_t o, int64_t i, bool) {
    if (!routed[o] && x[i] == y[o]) {
      dx[i] += dy[o];
      routed[o] = true;
    }
  });
  return dx;
}

// Averages over the taps inside the image.
inline std::vector<double> refAvgPool(const Window &g,
                                      const std::vector<double> &x) {
  std::vector<double> sum(poolOutputSize(g), 0.0), count(sum.size(), 0.0);
  forEachPoolTap(g, [&](int64_t o, int64_t i, bool) {
    sum[o] += x[i];
    count[o] += 1;
  });
  for (size_t k = 0; k < sum.size(); ++k)
    sum[k] /= count[k];
  return sum;
}

inline std::vector<double> refAvgPoolGrad(const Window &g,
                                          const std::vector<double> &dy) {
  std::vector<double> count(poolOutputSize(g), 0.0);
  forEachPoolTap(g, [&](int64_t o, int64_t, bool) { count[o] += 1; });
  std::vector<double> dx(g.n * g.h * g.w * g.c, 0.0);
  forEachPoolTap(
      g, [&](int64_t o, int64_t i, bool) { dx[i] += dy[o] / count[o]; });
  return dx;
}

inline std::vector<double> toDouble(const std::vector<float> &v) {
  return {v.begin(), v.end()};
}

// Central finite difference of the scalar loss L(x) = sum(r * f(x)) at
// coordinate i of x, all in float64.
inline double finiteDifference(
    const std::function<std::vector<double>(const std::vector<double> &)> &f,
    std::vector<double> x, const std::vector<double> &r, int64_t i, double h) {
  auto loss = [&](const std::vector<double> &v) {
    std::vector<double> y = f(v);
    double l = 0;
    for (size_t k = 0; k < y.size(); ++k)
      l += r[k] * y[k];
    return l;
  };
  double x0 = x[i];
  x[i] = x0 + h;
  double up = loss(x);
  x[i] = x0 - h;
  double down = loss(x);
  return (up - down) / (2 * h);
}

struct OpCall {
  ir::OpKind kind;
  std::vector<HostTensor> operands; // f32, single result
  ir::Attrs attrs;
};

// Compiles all calls as independent ops of one graph (a single JIT compile:
// its fixed cost dominates these tests) and runs each op's kernel once per
// thread count; out[call][t] is the result with threadCounts[t] threads.
inline std::vector<std::vector<std::vector<float>>>
runOps(const std::vector<OpCall> &calls, const std::vector<int> &threadCounts) {
  ir::Graph g("test");
  std::vector<ir::ValueId> results;
  for (const OpCall &call : calls) {
    std::vector<ir::ValueId> ids;
    for (const HostTensor &t : call.operands)
      ids.push_back(g.addInput("a", t.type)); // names get unique suffixes
    auto r = g.create1(call.kind, ids, call.attrs);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok())
      return {};
    results.push_back(*r);
  }
  auto compiled = codegen::compileGraph(g);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok())
    return {};
  std::vector<std::vector<std::vector<float>>> out(calls.size());
  for (size_t k = 0; k < calls.size(); ++k) {
    codegen::KernelFn fn = (*compiled)->kernel(k);
    for (int threads : threadCounts) {
      std::vector<float> result(g.type(results[k]).numElements(),
                                std::nanf(""));
      std::vector<void *> args;
      for (const HostTensor &t : calls[k].operands)
        args.push_back(const_cast<float *>(t.f.data()));
      args.push_back(result.data());
      for (int t = 0; t < threads; ++t)
        fn(args.data(), t, threads);
      out[k].push_back(std::move(result));
    }
  }
  return out;
}

} // namespace cnnc::testing
