// dropout: the mask is the documented counter-based RNG of (seed, salt,
// step, element), the reference interpreter's, keeps about 1 - rate of the
// elements, scales kept ones by 1/(1-rate), and is the same for any thread
// count.
#include "KernelTestUtil.h"

namespace cnnc::testing {
namespace {

using ir::OpKind;

ir::Attrs dropoutAttrs(double rate, int64_t seed, int64_t salt) {
  return {{ir::AttrName::Rate, rate},
          {ir::AttrName::Seed, seed},
          {ir::AttrName::Salt, salt}};
}

std::vector<HostTensor> dropoutOperands(std::vector<int64_t> shape,
                                        std::vector<float> x, int32_t step) {
  return {HostTensor::floats(std::move(shape), std::move(x)),
          HostTensor::ints({}, {step})};
}

TEST(DropoutKernels, MaskMatchesCounterBasedReference) {
  std::mt19937 rng(31);
  struct Case {
    std::vector<int64_t> shape;
    double rate;
    int64_t seed, salt;
    int32_t step;
  };
  for (const Case &c : {Case{{1}, 0.5, 1, 2, 0}, Case{{17}, 0.25, 0, 0, 1},
                        Case{{3, 7, 11}, 0.1, 12345, 7, 99},
                        Case{{32, 13, 13, 32}, 0.25, -5, 3, 1875},
                        Case{{1000}, 0.9, 42, 1, 2147483647}}) {
    int64_t n = ir::f32(c.shape).numElements();
    auto x = randomFloats(rng, n, -4, 4);
    std::string what =
        ir::shapeStr(c.shape) + " rate=" + std::to_string(c.rate);
    auto run = runChecked(OpKind::Dropout, dropoutOperands(c.shape, x, c.step),
                          dropoutAttrs(c.rate, c.seed, c.salt), what);
    ASSERT_EQ(run.results.size(), 2u) << what;
    // The interpreter's mask: the scheme documented in
    // codegen/ElementwiseKernels.cpp, written the obvious way (a float
    // comparison where the kernel compares integers), 1/(1-rate) or 0.
    std::vector<double> ref =
        interpret1(OpKind::Dropout, dropoutOperands(c.shape, x, c.step),
                   dropoutAttrs(c.rate, c.seed, c.salt), 1);
    ASSERT_EQ(ref.size(), size_t(n)) << what;
    const std::vector<float> &y = run.results[0].f, &mask = run.results[1].f;
    int64_t mismatches = 0;
    for (int64_t i = 0; i < n; ++i) {
      float want = static_cast<float>(ref[i]);
      mismatches += mask[i] != want;
      ASSERT_EQ(y[i], x[i] * mask[i]) << what << " at " << i;
    }
    EXPECT_EQ(mismatches, 0) << what;
  }
}

// 100k elements: the kept fraction is within 5 standard deviations of
// 1 - rate (also in each half, so the stream has no drift), and every mask
// value is exactly 0 or 1/(1-rate).
TEST(DropoutKernels, KeepFractionMatchesRate) {
  std::mt19937 rng(32);
  const int64_t n = 100000;
  auto x = randomFloats(rng, n);
  for (double rate : {0.1, 0.25, 0.5, 0.75}) {
    CompiledOp op(OpKind::Dropout, dropoutOperands({n}, x, 0),
                  dropoutAttrs(rate, 7, 1));
    for (int32_t step : {1, 2}) {
      auto operands = dropoutOperands({n}, x, step);
      auto res = op.run(operands, 2);
      ASSERT_EQ(res.size(), 2u);
      float scale = static_cast<float>(1 / (1 - rate));
      int64_t kept[2] = {0, 0}, bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        float m = res[1].f[i];
        bad += m != 0.0f && m != scale;
        kept[i * 2 / n] += m == scale;
      }
      EXPECT_EQ(bad, 0) << "rate " << rate;
      double sigma = std::sqrt(rate * (1 - rate) / (n / 2));
      for (int h = 0; h < 2; ++h)
        EXPECT_NEAR(double(kept[h]) / (n / 2), 1 - rate, 5 * sigma)
            << "rate " << rate << " step " << step << " half " << h;
    }
  }
}

// Fraction of positions where two masks differ; about 2 r (1 - r) for
// independent masks.
double differingFraction(const std::vector<float> &a,
                         const std::vector<float> &b) {
  int64_t d = 0;
  for (size_t i = 0; i < a.size(); ++i)
    d += a[i] != b[i];
  return double(d) / double(a.size());
}

TEST(DropoutKernels, StepSaltAndSeedChangeTheMask) {
  std::mt19937 rng(33);
  const int64_t n = 20000;
  const double rate = 0.5; // independent masks differ in half the positions
  auto x = randomFloats(rng, n);
  auto maskOf = [&](int64_t seed, int64_t salt, int32_t step) {
    auto run = runChecked(OpKind::Dropout, dropoutOperands({n}, x, step),
                          dropoutAttrs(rate, seed, salt));
    return run.results.size() == 2 ? run.results[1].f : std::vector<float>{};
  };
  std::vector<float> base = maskOf(1, 1, 5);
  ASSERT_EQ(base.size(), size_t(n));
  EXPECT_EQ(maskOf(1, 1, 5), base); // deterministic
  for (auto [seed, salt, step] :
       {std::tuple<int64_t, int64_t, int32_t>{1, 1, 6}, // next step
        {1, 2, 5},                                      // another layer
        {2, 1, 5}}) {                                   // another seed
    std::vector<float> other = maskOf(seed, salt, step);
    ASSERT_EQ(other.size(), size_t(n));
    EXPECT_NEAR(differingFraction(base, other), 0.5, 0.03)
        << "seed " << seed << " salt " << salt << " step " << step;
  }
}

// rate 0 copies x bit for bit and the mask is all ones.
TEST(DropoutKernels, RateZeroIsIdentity) {
  std::mt19937 rng(34);
  for (int64_t n : {1, 33, 1000}) {
    auto x = randomFloats(rng, n);
    x[0] = -0.0f;
    auto run = runChecked(OpKind::Dropout, dropoutOperands({n}, x, 3),
                          dropoutAttrs(0.0, 9, 9));
    ASSERT_EQ(run.results.size(), 2u);
    EXPECT_EQ(std::memcmp(run.results[0].f.data(), x.data(), n * sizeof(float)),
              0);
    EXPECT_EQ(run.results[1].f, std::vector<float>(n, 1.0f));
  }
}

} // namespace
} // namespace cnnc::testing
