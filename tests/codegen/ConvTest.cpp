// conv2d, conv2d_backward_data and conv2d_backward_filter kernels against
// the reference interpreter running the same op and against finite
// differences of its conv2d, on odd shapes, strides 1 and 2, valid and same
// padding, and 1, 2 and 3 threads.
#include "KernelTestUtil.h"

#include <gtest/gtest.h>

namespace cnnc::testing {
namespace {

using ir::OpKind;

const std::vector<int> kThreads = {1, 2, 3};

struct ConvCase {
  Window g;
  int64_t o;
  std::string str() const { return fmt::format("{} o={}", g.str(), o); }
};

// Every kernel size x stride x padding, with input/output channel counts
// cycling through odd and vector-multiple sizes.
std::vector<ConvCase> convCases(std::mt19937 &rng, int64_t maxSize,
                                int64_t maxBatch, std::vector<int64_t> cs,
                                std::vector<int64_t> os) {
  std::vector<ConvCase> cases;
  std::uniform_int_distribution<int64_t> size(5, maxSize), batch(1, maxBatch);
  std::vector<std::pair<int64_t, int64_t>> kernels = {
      {1, 1}, {2, 3}, {3, 3}, {5, 5}};
  size_t i = 0;
  for (auto [kh, kw] : kernels)
    for (int64_t s : {1, 2})
      for (bool same : {false, true}) {
        ConvCase c{
            {batch(rng), size(rng), size(rng), cs[i % cs.size()], kh, kw, s, s},
            os[i % os.size()]};
        if (same)
          c.g.same();
        cases.push_back(c);
        ++i;
      }
  // Unequal strides.
  cases.push_back({{2, 9, 8, 3, 3, 2, 2, 1}, 7});
  cases.back().g.same();
  return cases;
}

std::vector<int64_t> kernelShape(const ConvCase &c) {
  return {c.g.kh, c.g.kw, c.g.c, c.o};
}
std::vector<int64_t> outShape(const ConvCase &c) {
  return {c.g.n, c.g.oh(), c.g.ow(), c.o};
}

ir::Attrs convAttrs(const Window &g) {
  return {{ir::AttrName::Strides, g.strides()},
          {ir::AttrName::Padding, g.padding()}};
}

int64_t numElements(const std::vector<int64_t> &s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

// The interpreter's result for the same op on the same operands.
std::vector<double> reference(const OpCall &call) {
  return interpret1(call.kind, call.operands, call.attrs);
}

// conv2d(x, w) of case c in float64, for finite differences.
std::vector<double> conv(const ConvCase &c, const std::vector<double> &x,
                         const std::vector<double> &w) {
  return interpretRef1(
      OpKind::Conv2D,
      {refOperand(c.g.xShape(), x), refOperand(kernelShape(c), w)},
      convAttrs(c.g));
}

// Checks that every thread count gave the same bits and the first matches
// the reference.
void expectMatches(const std::vector<std::vector<float>> &got,
                   const std::vector<double> &want, double tol,
                   const std::string &what) {
  ASSERT_EQ(got.size(), kThreads.size()) << what;
  for (size_t t = 1; t < got.size(); ++t)
    EXPECT_EQ(got[t], got[0]) << what << " threads=" << kThreads[t];
  EXPECT_LT(maxRelError(got[0], want), tol) << what;
}

OpCall forwardCall(const ConvCase &c, const std::vector<float> &x,
                   const std::vector<float> &w) {
  return {OpKind::Conv2D,
          {HostTensor::floats(c.g.xShape(), x),
           HostTensor::floats(kernelShape(c), w)},
          convAttrs(c.g)};
}

OpCall dataCall(const ConvCase &c, const std::vector<float> &dy,
                const std::vector<float> &w) {
  ir::Attrs attrs = convAttrs(c.g);
  attrs.set(ir::AttrName::InputShape, c.g.xShape());
  return {OpKind::Conv2DBackwardData,
          {HostTensor::floats(outShape(c), dy),
           HostTensor::floats(kernelShape(c), w)},
          attrs};
}

OpCall filterCall(const ConvCase &c, const std::vector<float> &x,
                  const std::vector<float> &dy) {
  ir::Attrs attrs = convAttrs(c.g);
  attrs.set(ir::AttrName::KernelSize, std::vector<int64_t>{c.g.kh, c.g.kw});
  return {OpKind::Conv2DBackwardFilter,
          {HostTensor::floats(c.g.xShape(), x),
           HostTensor::floats(outShape(c), dy)},
          attrs};
}

// Random operands for each case; the kernel's result on every thread count
// against the interpreter's.
void checkAgainstReference(
    uint32_t seed,
    const std::function<OpCall(const ConvCase &, const std::vector<float> &,
                               const std::vector<float> &)> &makeCall,
    const std::function<std::pair<int64_t, int64_t>(const ConvCase &)>
        &operandSizes) {
  std::mt19937 rng(seed);
  std::vector<ConvCase> cases =
      convCases(rng, 13, 3, {1, 3, 17}, {1, 5, 16, 33});
  std::vector<OpCall> calls;
  std::vector<std::pair<std::vector<float>, std::vector<float>>> operands;
  for (const ConvCase &c : cases) {
    auto [na, nb] = operandSizes(c);
    operands.emplace_back(randomFloats(rng, na), randomFloats(rng, nb));
    calls.push_back(makeCall(c, operands.back().first, operands.back().second));
  }
  auto got = runOps(calls, kThreads);
  ASSERT_EQ(got.size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k)
    expectMatches(got[k], reference(calls[k]), 1e-5, cases[k].str());
}

TEST(ConvKernels, ForwardMatchesReference) {
  checkAgainstReference(1, forwardCall, [](const ConvCase &c) {
    return std::make_pair(numElements(c.g.xShape()),
                          numElements(kernelShape(c)));
  });
}

TEST(ConvKernels, BackwardDataMatchesReference) {
  checkAgainstReference(2, dataCall, [](const ConvCase &c) {
    return std::make_pair(numElements(outShape(c)),
                          numElements(kernelShape(c)));
  });
}

TEST(ConvKernels, BackwardFilterMatchesReference) {
  checkAgainstReference(3, filterCall, [](const ConvCase &c) {
    return std::make_pair(numElements(c.g.xShape()), numElements(outShape(c)));
  });
}

// Channel counts beyond one register block (several output chunks, a
// channel-block tail in the filter gradient), a kernel too large for the
// stack scratch of backward_data, and kernels of over 192 KiB, which the
// gather reads from a packed copy (chunks of 16 and 12 channels).
TEST(ConvKernels, WideChannelsAndLargeKernels) {
  std::mt19937 rng(8);
  std::vector<ConvCase> cases = {ConvCase{{2, 6, 7, 70, 3, 3, 1, 1}, 80},
                                 ConvCase{{1, 6, 5, 130, 3, 3, 2, 2}, 128},
                                 ConvCase{{2, 7, 6, 45, 5, 5, 1, 1}, 60}};
  cases[0].g.same();
  cases[2].g.same();
  std::vector<std::vector<float>> xs, ws, dys;
  std::vector<OpCall> calls;
  for (const ConvCase &c : cases) {
    xs.push_back(randomFloats(rng, numElements(c.g.xShape())));
    ws.push_back(randomFloats(rng, numElements(kernelShape(c))));
    dys.push_back(randomFloats(rng, numElements(outShape(c))));
    calls.push_back(forwardCall(c, xs.back(), ws.back()));
    calls.push_back(dataCall(c, dys.back(), ws.back()));
    calls.push_back(filterCall(c, xs.back(), dys.back()));
  }
  auto got = runOps(calls, kThreads);
  // Sums of over a thousand float32 products; a wrong or missing tap would
  // be off by ~0.1.
  double tol = 5e-5;
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const ConvCase &c = cases[k];
    expectMatches(got[3 * k], reference(calls[3 * k]), tol,
                  fmt::format("forward {}", c.str()));
    expectMatches(got[3 * k + 1], reference(calls[3 * k + 1]), tol,
                  fmt::format("backward_data {}", c.str()));
    expectMatches(got[3 * k + 2], reference(calls[3 * k + 2]), tol,
                  fmt::format("backward_filter {}", c.str()));
  }
}

// The backward kernels against central differences of the interpreter's
// conv2d for L = sum(r * conv(x, w)), whose gradients are the kernels'
// outputs with dy = r.
TEST(ConvKernels, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(4);
  struct Sample {
    ConvCase c;
    std::vector<float> x, w, r;
  };
  std::vector<Sample> samples;
  std::vector<OpCall> calls;
  for (const ConvCase &c : convCases(rng, 9, 2, {1, 3}, {5, 2})) {
    Sample s{c, randomFloats(rng, numElements(c.g.xShape())),
             randomFloats(rng, numElements(kernelShape(c))),
             randomFloats(rng, numElements(outShape(c)))};
    calls.push_back(dataCall(c, s.r, s.w));
    calls.push_back(filterCall(c, s.x, s.r));
    samples.push_back(std::move(s));
  }
  auto got = runOps(calls, {3});
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < samples.size(); ++k) {
    const Sample &s = samples[k];
    const std::vector<float> &dx = got[2 * k][0], &dw = got[2 * k + 1][0];
    auto x = toDouble(s.x), w = toDouble(s.w), r = toDouble(s.r);
    auto fx = [&](const std::vector<double> &v) { return conv(s.c, v, w); };
    auto fw = [&](const std::vector<double> &v) { return conv(s.c, x, v); };
    std::uniform_int_distribution<int64_t> xi(0, x.size() - 1),
        wi(0, w.size() - 1);
    for (int j = 0; j < 12; ++j) {
      int64_t i = xi(rng);
      double fd = finiteDifference(fx, x, r, i, 1e-3);
      EXPECT_NEAR(dx[i], fd, 1e-5 * (1 + std::fabs(fd)))
          << s.c.str() << " dx[" << i << "]";
      i = wi(rng);
      fd = finiteDifference(fw, w, r, i, 1e-3);
      EXPECT_NEAR(dw[i], fd, 1e-5 * (1 + std::fabs(fd)))
          << s.c.str() << " dw[" << i << "]";
    }
  }
}

// A padded convolution reads its input rows between zero columns, so that
// border columns take every tap (ConvKernels.cpp, padColumns): its result
// is that of zero padding then a valid convolution, bit for bit (the zero
// taps add exact zeros; skipped rows add none), on every thread count.
TEST(ConvKernels, PaddingEqualsZerosThenValid) {
  std::mt19937 rng(8);
  for (ConvCase c : {ConvCase{{2, 14, 14, 32, 5, 5, 1, 1}, 64},
                     ConvCase{{3, 8, 8, 3, 3, 3, 1, 1}, 16},
                     ConvCase{{1, 9, 7, 17, 3, 3, 1, 1}, 33},
                     ConvCase{{2, 13, 11, 5, 3, 3, 2, 2}, 8},
                     ConvCase{{1, 6, 12, 4, 1, 5, 1, 1}, 5}}) {
    c.g.same();
    std::string what = c.str();
    auto x = randomFloats(rng, numElements(c.g.xShape()));
    auto w = randomFloats(rng, numElements(kernelShape(c)));
    auto same = runChecked(OpKind::Conv2D,
                           {HostTensor::floats(c.g.xShape(), x),
                            HostTensor::floats(kernelShape(c), w)},
                           convAttrs(c.g), what);
    auto padded =
        runChecked(OpKind::Pad2D, {HostTensor::floats(c.g.xShape(), x)},
                   {{ir::AttrName::Padding, c.g.padding()}}, what + " pad2d");
    ASSERT_EQ(same.results.size(), 1u) << what;
    ASSERT_EQ(padded.results.size(), 1u) << what;
    Window valid{c.g.n,
                 c.g.h + c.g.pt + c.g.pb,
                 c.g.w + c.g.pl + c.g.pr,
                 c.g.c,
                 c.g.kh,
                 c.g.kw,
                 c.g.sh,
                 c.g.sw};
    auto then =
        runChecked(OpKind::Conv2D,
                   {HostTensor::floats(valid.xShape(), padded.results[0].f),
                    HostTensor::floats(kernelShape(c), w)},
                   convAttrs(valid), what + " valid");
    ASSERT_EQ(then.results.size(), 1u) << what;
    EXPECT_EQ(same.results[0].f, then.results[0].f) << what;
  }
}

// The Keras MNIST tutorial's two convolutions at batch 32: forward, and the
// gradients training needs (no input gradient for the first layer).
TEST(ConvKernels, MnistTutorialShapes) {
  std::mt19937 rng(6);
  std::vector<ConvCase> cases = {ConvCase{{32, 28, 28, 1, 3, 3, 1, 1}, 32},
                                 ConvCase{{32, 13, 13, 32, 3, 3, 1, 1}, 64}};
  std::vector<std::vector<float>> xs, ws, dys;
  std::vector<OpCall> calls;
  for (const ConvCase &c : cases) {
    xs.push_back(randomFloats(rng, numElements(c.g.xShape()), 0, 1));
    ws.push_back(randomFloats(rng, numElements(kernelShape(c)), -0.1f, 0.1f));
    dys.push_back(randomFloats(rng, numElements(outShape(c)), -0.01f, 0.01f));
    calls.push_back(forwardCall(c, xs.back(), ws.back()));
    calls.push_back(filterCall(c, xs.back(), dys.back()));
  }
  calls.push_back(dataCall(cases[1], dys[1], ws[1]));
  auto got = runOps(calls, kThreads);
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const ConvCase &c = cases[k];
    expectMatches(got[2 * k], reference(calls[2 * k]), 1e-5,
                  fmt::format("forward {}", c.str()));
    expectMatches(got[2 * k + 1], reference(calls[2 * k + 1]), 1e-5,
                  fmt::format("backward_filter {}", c.str()));
  }
  expectMatches(got[4], reference(calls[4]), 1e-5,
                fmt::format("backward_data {}", cases[1].str()));
}

} // namespace
} // namespace cnnc::testing
