// activation and activation_grad against float64 references and finite
// differences, at 1, 2 and 3 threads (bit-identical).
#include "DenseReference.h"

namespace cnnc::testing {
namespace {

using ir::OpKind;

const char *const kKinds[] = {"relu", "sigmoid", "tanh"};

// Random values in [-8, 8] with special values mixed in: signed zeros, the
// tanh branch point 1/8, tiny and huge magnitudes, infinities.
std::vector<float> activationInputs(std::mt19937 &rng, int64_t n) {
  std::vector<float> x = randomFloats(rng, n, -8, 8);
  const float special[] = {0.0f,   -0.0f,  1e-6f,   -1e-6f,   0.01f,
                           -0.03f, 0.125f, -0.125f, 0.1249f,  -0.1251f,
                           0.7f,   -2.5f,  20.0f,   -20.0f,   100.0f,
                           -100.f, 1e30f,  -1e30f,  INFINITY, -INFINITY};
  for (size_t i = 0; i < x.size() && i < std::size(special); ++i)
    x[(i * 7919) % x.size()] = special[i];
  return x;
}

TEST(ActivationKernels, ForwardMatchesReference) {
  std::mt19937 rng(21);
  for (const char *kind : kKinds)
    for (int64_t n : {1, 16, 17, 4099}) {
      auto x = activationInputs(rng, n);
      std::string what = std::string(kind) + " n=" + std::to_string(n);
      auto run = runChecked(OpKind::Activation, {HostTensor::floats({n}, x)},
                            {{"kind", std::string(kind)}}, what);
      ASSERT_EQ(run.results.size(), 1u) << what;
      for (int64_t i = 0; i < n; ++i) {
        double want = activationRef(kind, x[i]);
        float got = run.results[0].f[i];
        if (std::string(kind) == "relu") {
          EXPECT_EQ(got, static_cast<float>(want)) << what << " x=" << x[i];
          continue;
        }
        // A few ulps; the floor covers sigmoid results below f32's range.
        EXPECT_NEAR(got, want, 1e-6 * std::fabs(want) + 1e-37)
            << what << " x=" << x[i];
      }
    }
}

// relu follows x > 0 ? x : 0: -0.0 and NaN give +0.0.
TEST(ActivationKernels, ReluOfNegativeZeroAndNaNIsPositiveZero) {
  auto run =
      runChecked(OpKind::Activation,
                 {HostTensor::floats({4}, {-0.0f, std::nanf(""), 2.0f, -3.0f})},
                 {{"kind", std::string("relu")}});
  ASSERT_EQ(run.results.size(), 1u);
  const std::vector<float> &y = run.results[0].f;
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_FALSE(std::signbit(y[0]));
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_FALSE(std::signbit(y[1]));
  EXPECT_EQ(y[2], 2.0f);
  EXPECT_EQ(y[3], 0.0f);
}

// For L(x) = sum(R * act(x)), dL/dx = activation_grad(act(x), R), with
// act(x) from the kernel: compare with central differences of the float64
// activation.
TEST(ActivationKernels, GradMatchesFiniteDifferences) {
  std::mt19937 rng(22);
  for (const char *kind : kKinds)
    for (int64_t n : {1, 17, 1000}) {
      auto x = randomFloats(rng, n, -6, 6), r = randomFloats(rng, n);
      // Keep relu's inputs off its kink.
      for (float &v : x)
        if (std::fabs(v) < 0.01f)
          v = 0.5f;
      std::string what = std::string(kind) + " n=" + std::to_string(n);
      ir::Attrs attrs{{"kind", std::string(kind)}};
      auto fwd = runChecked(OpKind::Activation, {HostTensor::floats({n}, x)},
                            attrs, what);
      ASSERT_EQ(fwd.results.size(), 1u) << what;
      auto grad = runChecked(OpKind::ActivationGrad,
                             {HostTensor::floats({n}, fwd.results[0].f),
                              HostTensor::floats({n}, r)},
                             attrs, what);
      ASSERT_EQ(grad.results.size(), 1u) << what;
      for (int64_t i = 0; i < n; ++i) {
        const double h = 1e-4;
        double fd = r[i] *
                    (activationRef(kind, double(x[i]) + h) -
                     activationRef(kind, double(x[i]) - h)) /
                    (2 * h);
        EXPECT_NEAR(grad.results[0].f[i], fd, 1e-6 + 1e-5 * std::fabs(fd))
            << what << " x=" << x[i];
      }
    }
}

// relu's gradient is a select on y > 0: a NaN or infinite dy under a dead
// unit stays 0, and a live unit passes dy through unchanged.
TEST(ActivationKernels, ReluGradSelectsOnPositiveOutput) {
  std::vector<float> y = {0.0f, -0.0f, 0.0f, 1.5f, 2e-30f, 0.0f};
  std::vector<float> dy = {std::nanf(""), INFINITY, 3.0f, -7.0f, 5.0f, -1.0f};
  auto run =
      runChecked(OpKind::ActivationGrad,
                 {HostTensor::floats({6}, y), HostTensor::floats({6}, dy)},
                 {{"kind", std::string("relu")}});
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0].f,
            (std::vector<float>{0.0f, 0.0f, 0.0f, -7.0f, 5.0f, 0.0f}));
}

} // namespace
} // namespace cnnc::testing
