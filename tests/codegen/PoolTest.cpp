// max_pool2d, avg_pool2d and their gradient kernels against the reference
// interpreter running the same op and against finite differences of its
// pools, on odd shapes, overlapping and non-overlapping windows, valid and
// same padding, and 1, 2 and 3 threads.
#include "KernelTestUtil.h"

#include <gtest/gtest.h>

namespace cnnc::testing {
namespace {

using ir::OpKind;

const std::vector<int> kThreads = {1, 2, 3};

// Every pool size x stride x padding, channel counts cycling through odd and
// vector-multiple sizes; plus a stride larger than the window (cells that
// no window covers).
std::vector<Window> poolCases(std::mt19937 &rng, int64_t maxSize,
                              std::vector<int64_t> cs) {
  std::vector<Window> cases;
  std::uniform_int_distribution<int64_t> size(5, maxSize), batch(1, 3);
  std::vector<std::pair<int64_t, int64_t>> pools = {{2, 2}, {3, 3}, {2, 3}};
  size_t i = 0;
  for (auto [kh, kw] : pools)
    for (int64_t s : {1, 2})
      for (bool same : {false, true}) {
        Window g{batch(rng), size(rng), size(rng), cs[i++ % cs.size()],
                 kh,         kw,        s,         s};
        cases.push_back(same ? g.same() : g);
      }
  cases.push_back({2, 11, 10, 5, 2, 2, 3, 3});
  cases.push_back(Window{1, 7, 9, 17, 3, 2, 3, 2}.same());
  return cases;
}

ir::Attrs poolAttrs(const Window &g) {
  return {{ir::AttrName::PoolSize, std::vector<int64_t>{g.kh, g.kw}},
          {ir::AttrName::Strides, g.strides()},
          {ir::AttrName::Padding, g.padding()}};
}

std::vector<int64_t> outShape(const Window &g) {
  return {g.n, g.oh(), g.ow(), g.c};
}

// The interpreter's result for the same op on the same operands.
std::vector<double> reference(const OpCall &call) {
  return interpret1(call.kind, call.operands, call.attrs);
}

// A pool of kind `kind` on window g over float64 x, for finite differences.
std::vector<double> pool(OpKind kind, const Window &g,
                         const std::vector<double> &x) {
  return interpretRef1(kind, {refOperand(g.xShape(), x)}, poolAttrs(g));
}

void expectMatches(const std::vector<std::vector<float>> &got,
                   const std::vector<double> &want, double tol,
                   const std::string &what) {
  ASSERT_EQ(got.size(), kThreads.size()) << what;
  for (size_t t = 1; t < got.size(); ++t)
    EXPECT_EQ(got[t], got[0]) << what << " threads=" << kThreads[t];
  EXPECT_LT(maxRelError(got[0], want), tol) << what;
}

OpCall maxPoolCall(const Window &g, const std::vector<float> &x) {
  return {OpKind::MaxPool2D, {HostTensor::floats(g.xShape(), x)}, poolAttrs(g)};
}

OpCall avgPoolCall(const Window &g, const std::vector<float> &x) {
  return {OpKind::AvgPool2D, {HostTensor::floats(g.xShape(), x)}, poolAttrs(g)};
}

OpCall maxPoolGradCall(const Window &g, const std::vector<float> &x,
                       const std::vector<float> &dy) {
  // The forward output operand comes from the interpreter (exact in float).
  std::vector<float> y = toFloat(pool(OpKind::MaxPool2D, g, toDouble(x)));
  return {OpKind::MaxPool2DGrad,
          {HostTensor::floats(g.xShape(), x),
           HostTensor::floats(outShape(g), y),
           HostTensor::floats(outShape(g), dy)},
          poolAttrs(g)};
}

OpCall avgPoolGradCall(const Window &g, const std::vector<float> &dy) {
  ir::Attrs attrs = poolAttrs(g);
  attrs.set(ir::AttrName::InputShape, g.xShape());
  return {OpKind::AvgPool2DGrad, {HostTensor::floats(outShape(g), dy)}, attrs};
}

int64_t inSize(const Window &g) { return g.n * g.h * g.w * g.c; }
int64_t outSize(const Window &g) { return g.n * g.oh() * g.ow() * g.c; }

// Forward and gradient kernels of both pool kinds on every case in one
// compile, each against the interpreter.
TEST(PoolKernels, MatchReference) {
  std::mt19937 rng(11);
  std::vector<Window> cases = poolCases(rng, 13, {1, 3, 17, 32});
  std::vector<std::vector<float>> xs, dys;
  std::vector<OpCall> calls;
  for (const Window &g : cases) {
    xs.push_back(randomFloats(rng, inSize(g)));
    dys.push_back(randomFloats(rng, outSize(g)));
    calls.push_back(maxPoolCall(g, xs.back()));
    calls.push_back(avgPoolCall(g, xs.back()));
    calls.push_back(maxPoolGradCall(g, xs.back(), dys.back()));
    calls.push_back(avgPoolGradCall(g, dys.back()));
  }
  auto got = runOps(calls, kThreads);
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const Window &g = cases[k];
    // A maximum of floats is exact.
    expectMatches(got[4 * k], reference(calls[4 * k]), 1e-30,
                  fmt::format("max {}", g.str()));
    expectMatches(got[4 * k + 1], reference(calls[4 * k + 1]), 1e-6,
                  fmt::format("avg {}", g.str()));
    expectMatches(got[4 * k + 2], reference(calls[4 * k + 2]), 1e-6,
                  fmt::format("max grad {}", g.str()));
    expectMatches(got[4 * k + 3], reference(calls[4 * k + 3]), 1e-6,
                  fmt::format("avg grad {}", g.str()));
  }
}

// Inputs with few distinct values: each window's gradient must go to its
// first maximum in row-major order, and only there.
TEST(PoolKernels, MaxPoolGradRoutesTiesToFirstMax) {
  std::mt19937 rng(14);
  std::uniform_int_distribution<int> level(-2, 1);
  std::vector<Window> cases = poolCases(rng, 11, {3, 17});
  // A constant image: every window's first cell takes its gradient.
  cases.push_back({1, 4, 4, 1, 2, 2, 1, 1});
  std::vector<std::vector<float>> xs, dys;
  std::vector<OpCall> calls;
  for (const Window &g : cases) {
    bool constant = &g == &cases.back();
    std::vector<float> x(inSize(g));
    for (float &v : x)
      v = constant ? 1.0f : level(rng) * 0.5f;
    xs.push_back(std::move(x));
    dys.push_back(randomFloats(rng, outSize(g)));
    calls.push_back(maxPoolGradCall(g, xs.back(), dys.back()));
  }
  auto got = runOps(calls, kThreads);
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k)
    expectMatches(got[k], reference(calls[k]), 1e-6, cases[k].str());
  ASSERT_FALSE(got.back().empty());
  const std::vector<float> &dy = dys.back(), &dx = got.back()[0];
  std::vector<float> want = {dy[0], dy[1], dy[2], 0, dy[3], dy[4], dy[5], 0,
                             dy[6], dy[7], dy[8], 0, 0,     0,     0,     0};
  EXPECT_EQ(dx, want);
}

// The gradient kernels against central differences of the interpreter's
// forward pools for L = sum(r * pool(x)).
TEST(PoolKernels, GradsMatchFiniteDifferences) {
  std::mt19937 rng(16);
  std::vector<Window> cases = poolCases(rng, 9, {1, 3, 17});
  std::vector<std::vector<float>> xs, rs;
  std::vector<OpCall> calls;
  for (const Window &g : cases) {
    xs.push_back(randomFloats(rng, inSize(g)));
    rs.push_back(randomFloats(rng, outSize(g)));
    calls.push_back(maxPoolGradCall(g, xs.back(), rs.back()));
    calls.push_back(avgPoolGradCall(g, rs.back()));
  }
  auto got = runOps(calls, {2});
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const Window &g = cases[k];
    auto x = toDouble(xs[k]), r = toDouble(rs[k]);
    const std::vector<float> &maxDx = got[2 * k][0], &avgDx = got[2 * k + 1][0];
    auto maxF = [&](const std::vector<double> &v) {
      return pool(OpKind::MaxPool2D, g, v);
    };
    auto avgF = [&](const std::vector<double> &v) {
      return pool(OpKind::AvgPool2D, g, v);
    };
    std::uniform_int_distribution<int64_t> coord(0, x.size() - 1);
    for (int j = 0; j < 16; ++j) {
      int64_t i = coord(rng);
      // Small enough that no window's argmax changes for random inputs.
      double fdMax = finiteDifference(maxF, x, r, i, 1e-7);
      double fdAvg = finiteDifference(avgF, x, r, i, 1e-3);
      EXPECT_NEAR(maxDx[i], fdMax, 1e-5 * (1 + std::fabs(fdMax)))
          << g.str() << " max x[" << i << "]";
      EXPECT_NEAR(avgDx[i], fdAvg, 1e-5 * (1 + std::fabs(fdAvg)))
          << g.str() << " avg x[" << i << "]";
    }
  }
}

// The tutorial's pooling: 26x26x32 -> 13x13x32 and 11x11x64 -> 5x5x64.
TEST(PoolKernels, MnistTutorialShapes) {
  std::mt19937 rng(17);
  std::vector<Window> cases = {{32, 26, 26, 32, 2, 2, 2, 2},
                               {32, 11, 11, 64, 2, 2, 2, 2}};
  std::vector<std::vector<float>> xs, dys;
  std::vector<OpCall> calls;
  for (const Window &g : cases) {
    xs.push_back(randomFloats(rng, inSize(g)));
    dys.push_back(randomFloats(rng, outSize(g)));
    calls.push_back(maxPoolCall(g, xs.back()));
    calls.push_back(maxPoolGradCall(g, xs.back(), dys.back()));
  }
  auto got = runOps(calls, kThreads);
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    expectMatches(got[2 * k], reference(calls[2 * k]), 1e-30, cases[k].str());
    expectMatches(got[2 * k + 1], reference(calls[2 * k + 1]), 1e-6,
                  cases[k].str());
  }
}

} // namespace
} // namespace cnnc::testing
