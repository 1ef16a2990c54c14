// activation and activation_grad (relu, sigmoid, tanh, leaky_relu, elu,
// gelu, swish) against the reference interpreter's activation and finite
// differences of it, at 1, 2 and 3 threads (bit-identical).
#include "KernelTestUtil.h"

namespace cnnc::testing {
namespace {

using ir::OpKind;

const char *const kKinds[] = {"relu", "sigmoid", "tanh"};

// The interpreter's activation (kind and parameter in attrs) of each x.
std::vector<double> activationOf(const ir::Attrs &attrs,
                                 std::vector<double> x) {
  auto n = static_cast<int64_t>(x.size());
  return interpretRef1(OpKind::Activation, {refOperand({n}, std::move(x))},
                       attrs);
}

// r[i] d act(x[i]) / dx by central differences of the interpreter's
// activation, step h.
std::vector<double> activationFd(const ir::Attrs &attrs,
                                 const std::vector<float> &x,
                                 const std::vector<float> &r, double h) {
  std::vector<double> up = toDouble(x), down = toDouble(x);
  for (size_t i = 0; i < x.size(); ++i) {
    up[i] += h;
    down[i] -= h;
  }
  up = activationOf(attrs, up);
  down = activationOf(attrs, down);
  std::vector<double> fd(x.size());
  for (size_t i = 0; i < x.size() && i < up.size() && i < down.size(); ++i)
    fd[i] = r[i] * (up[i] - down[i]) / (2 * h);
  return fd;
}

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
                            {{ir::AttrName::Kind, std::string(kind)}}, what);
      ASSERT_EQ(run.results.size(), 1u) << what;
      std::vector<double> ref =
          activationOf({{ir::AttrName::Kind, std::string(kind)}}, toDouble(x));
      ASSERT_EQ(ref.size(), size_t(n)) << what;
      for (int64_t i = 0; i < n; ++i) {
        double want = ref[i];
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

// relu follows x <= 0 ? 0 : x: -0.0 gives +0.0, NaN stays NaN.
TEST(ActivationKernels, ReluOfNegativeZeroIsPositiveZeroAndNaNStaysNaN) {
  auto run =
      runChecked(OpKind::Activation,
                 {HostTensor::floats({4}, {-0.0f, std::nanf(""), 2.0f, -3.0f})},
                 {{ir::AttrName::Kind, std::string("relu")}});
  ASSERT_EQ(run.results.size(), 1u);
  const std::vector<float> &y = run.results[0].f;
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_FALSE(std::signbit(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(y[2], 2.0f);
  EXPECT_EQ(y[3], 0.0f);
}

// For L(x) = sum(R * act(x)), dL/dx = activation_grad(act(x), R), with
// act(x) from the kernel: compare with central differences of the
// interpreter's activation.
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
      ir::Attrs attrs{{ir::AttrName::Kind, std::string(kind)}};
      auto fwd = runChecked(OpKind::Activation, {HostTensor::floats({n}, x)},
                            attrs, what);
      ASSERT_EQ(fwd.results.size(), 1u) << what;
      auto grad = runChecked(OpKind::ActivationGrad,
                             {HostTensor::floats({n}, fwd.results[0].f),
                              HostTensor::floats({n}, r)},
                             attrs, what);
      ASSERT_EQ(grad.results.size(), 1u) << what;
      std::vector<double> fd = activationFd(attrs, x, r, 1e-4);
      for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(grad.results[0].f[i], fd[i], 1e-6 + 1e-5 * std::fabs(fd[i]))
            << what << " x=" << x[i];
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
                 {{ir::AttrName::Kind, std::string("relu")}});
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0].f,
            (std::vector<float>{0.0f, 0.0f, 0.0f, -7.0f, 5.0f, 0.0f}));
}

// ---- leaky_relu and elu: activations with a parameter ----

struct ParamKind {
  const char *kind;
  ir::AttrName attr; // the parameter's attribute
  double param;
};

// leaky_relu's slopes are floats, so that the kernel's one f32 multiply is
// the interpreter's exact float64 product rounded once.
const ParamKind kParamKinds[] = {
    {"leaky_relu", ir::AttrName::NegativeSlope, double(0.2f)},
    {"leaky_relu", ir::AttrName::NegativeSlope, double(0.3f)},
    {"leaky_relu", ir::AttrName::NegativeSlope, 0.0},
    {"elu", ir::AttrName::Alpha, 1.0},
    {"elu", ir::AttrName::Alpha, 0.5}};

ir::Attrs paramAttrs(const ParamKind &p) {
  return {{ir::AttrName::Kind, std::string(p.kind)}, {p.attr, p.param}};
}

std::string describe(const ParamKind &p) {
  return std::string(p.kind) + "(" + std::to_string(p.param) + ")";
}

TEST(ActivationKernels, LeakyReluAndEluMatchReference) {
  std::mt19937 rng(23);
  for (const ParamKind &p : kParamKinds)
    for (int64_t n : {1, 16, 17, 4099}) {
      auto x = activationInputs(rng, n);
      std::string what = describe(p) + " n=" + std::to_string(n);
      auto run = runChecked(OpKind::Activation, {HostTensor::floats({n}, x)},
                            paramAttrs(p), what);
      ASSERT_EQ(run.results.size(), 1u) << what;
      std::vector<double> ref = activationOf(paramAttrs(p), toDouble(x));
      ASSERT_EQ(ref.size(), size_t(n)) << what;
      for (int64_t i = 0; i < n; ++i) {
        float got = run.results[0].f[i];
        if (std::string(p.kind) == "leaky_relu") {
          // One f32 multiply: exact against the exact product rounded once.
          float want = static_cast<float>(ref[i]);
          if (std::isnan(want)) // -inf * 0
            EXPECT_TRUE(std::isnan(got)) << what << " x=" << x[i];
          else
            EXPECT_EQ(got, want) << what << " x=" << x[i];
          continue;
        }
        // elu: relative accuracy near 0 too (the expm1 polynomial).
        double want = ref[i];
        if (std::isinf(want)) {
          EXPECT_EQ(got, want) << what << " x=" << x[i];
          continue;
        }
        EXPECT_NEAR(got, want, 2e-7 * std::fabs(want) + 1e-37)
            << what << " x=" << x[i];
      }
    }
}

// NaN stays NaN (x > 0 is false, and the negative branch keeps it); elu
// saturates at -alpha without overflow for large |x|.
TEST(ActivationKernels, LeakyReluAndEluSpecialValues) {
  std::vector<float> x = {std::nanf(""), -INFINITY, INFINITY, -0.0f, -1e30f};
  auto leaky = runChecked(OpKind::Activation, {HostTensor::floats({5}, x)},
                          paramAttrs(kParamKinds[1]));
  auto elu = runChecked(OpKind::Activation, {HostTensor::floats({5}, x)},
                        paramAttrs(kParamKinds[4]));
  ASSERT_EQ(leaky.results.size(), 1u);
  ASSERT_EQ(elu.results.size(), 1u);
  EXPECT_TRUE(std::isnan(leaky.results[0].f[0]));
  EXPECT_TRUE(std::isnan(elu.results[0].f[0]));
  EXPECT_EQ(leaky.results[0].f[1], -INFINITY);
  EXPECT_EQ(elu.results[0].f[1], -0.5f);
  EXPECT_EQ(leaky.results[0].f[2], INFINITY);
  EXPECT_EQ(elu.results[0].f[2], INFINITY);
  EXPECT_EQ(elu.results[0].f[3], 0.0f);
  EXPECT_EQ(elu.results[0].f[4], -0.5f);
}

// activation_grad from the kernel's own forward output against central
// differences of the interpreter's activation, off the kink at 0.
TEST(ActivationKernels, LeakyReluAndEluGradMatchFiniteDifferences) {
  std::mt19937 rng(24);
  for (const ParamKind &p : kParamKinds)
    for (int64_t n : {1, 17, 1000}) {
      auto x = randomFloats(rng, n, -6, 6), r = randomFloats(rng, n);
      for (float &v : x)
        if (std::fabs(v) < 0.01f)
          v = -0.5f;
      std::string what = describe(p) + " n=" + std::to_string(n);
      auto fwd = runChecked(OpKind::Activation, {HostTensor::floats({n}, x)},
                            paramAttrs(p), what);
      ASSERT_EQ(fwd.results.size(), 1u) << what;
      auto grad = runChecked(OpKind::ActivationGrad,
                             {HostTensor::floats({n}, fwd.results[0].f),
                              HostTensor::floats({n}, r)},
                             paramAttrs(p), what);
      ASSERT_EQ(grad.results.size(), 1u) << what;
      std::vector<double> fd = activationFd(paramAttrs(p), x, r, 1e-4);
      for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(grad.results[0].f[i], fd[i], 1e-6 + 1e-5 * std::fabs(fd[i]))
            << what << " x=" << x[i];
    }
}

// The gradient selects on y > 0: at y = 0 (x = 0, or a zero slope) the
// negative branch applies, dy * slope or dy * (0 + alpha).
TEST(ActivationKernels, LeakyReluAndEluGradAtZero) {
  std::vector<float> y = {0.0f, -0.0f, 2.0f, -0.5f};
  std::vector<float> dy = {3.0f, -2.0f, 5.0f, 4.0f};
  auto leaky =
      runChecked(OpKind::ActivationGrad,
                 {HostTensor::floats({4}, y), HostTensor::floats({4}, dy)},
                 paramAttrs(kParamKinds[0]));
  auto elu =
      runChecked(OpKind::ActivationGrad,
                 {HostTensor::floats({4}, y), HostTensor::floats({4}, dy)},
                 paramAttrs(kParamKinds[3]));
  ASSERT_EQ(leaky.results.size(), 1u);
  ASSERT_EQ(elu.results.size(), 1u);
  EXPECT_EQ(leaky.results[0].f,
            (std::vector<float>{3.0f * 0.2f, -2.0f * 0.2f, 5.0f, 4.0f * 0.2f}));
  EXPECT_EQ(elu.results[0].f, (std::vector<float>{3.0f, -2.0f, 5.0f, 2.0f}));
}

TEST(ActivationKernels, ParameterIsRequiredAndNonNegative) {
  ir::Graph g("bad");
  ir::ValueId x = g.addInput("x", ir::f32({4}));
  auto message = [&](ir::Attrs attrs) {
    auto r = g.create1(OpKind::Activation, {x}, std::move(attrs));
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(message({{ir::AttrName::Kind, std::string("leaky_relu")}}),
            "activation: leaky_relu needs attribute 'negative_slope' >= 0");
  EXPECT_EQ(message({{ir::AttrName::Kind, std::string("elu")},
                     {ir::AttrName::Alpha, -1.0}}),
            "activation: elu needs attribute 'alpha' >= 0");
  EXPECT_EQ(message({{ir::AttrName::Kind, std::string("elu")},
                     {ir::AttrName::Alpha, 1.0}}),
            "ok");
  EXPECT_EQ(message({{ir::AttrName::Kind, std::string("selu")}}),
            "activation: unknown activation kind 'selu'");
  // activation_grad checks the same.
  auto grad = g.create1(OpKind::ActivationGrad, {x, x},
                        {{ir::AttrName::Kind, std::string("elu")}});
  ASSERT_FALSE(grad.ok());
  EXPECT_EQ(std::string(grad.status().message()),
            "activation_grad: elu needs attribute 'alpha' >= 0");
}

// ---- gelu and swish: gradients from the input ----

const char *const kInputKinds[] = {"gelu", "swish"};

// Random finite values with magnitudes from 1e-6 to 30, both signs.
std::vector<float> spreadInputs(std::mt19937 &rng, int64_t n) {
  std::uniform_real_distribution<double> exponent(-6, 1.5);
  std::vector<float> x(n);
  for (float &v : x)
    v = static_cast<float>((rng() % 2 ? 1 : -1) * std::pow(10, exponent(rng)));
  return x;
}

// Within a few float ulps of the value, plus an absolute 2e-7 |x| for the
// negative tail, where gelu's 1 + erf(x / sqrt 2) cancels as TF's does.
TEST(ActivationKernels, GeluAndSwishMatchReference) {
  std::mt19937 rng(25);
  for (const char *kind : kInputKinds)
    for (int64_t n : {1, 16, 17, 4099}) {
      auto x = spreadInputs(rng, n);
      std::string what = std::string(kind) + " n=" + std::to_string(n);
      auto run = runChecked(OpKind::Activation, {HostTensor::floats({n}, x)},
                            {{ir::AttrName::Kind, std::string(kind)}}, what);
      ASSERT_EQ(run.results.size(), 1u) << what;
      // The interpreter's x Phi(x) (Keras's exact gelu) and x sigmoid(x).
      std::vector<double> ref =
          activationOf({{ir::AttrName::Kind, std::string(kind)}}, toDouble(x));
      ASSERT_EQ(ref.size(), size_t(n)) << what;
      for (int64_t i = 0; i < n; ++i) {
        double want = ref[i];
        EXPECT_NEAR(run.results[0].f[i], want,
                    1e-6 * std::fabs(want) + 2e-7 * std::fabs(x[i]))
            << what << " x=" << x[i];
      }
    }
}

// Large magnitudes saturate to x or 0 without overflow; NaN stays NaN.
TEST(ActivationKernels, GeluAndSwishSpecialValues) {
  std::vector<float> x = {std::nanf(""), 100.0f, -100.0f, 0.0f, 1e30f};
  for (const char *kind : kInputKinds) {
    auto run = runChecked(OpKind::Activation, {HostTensor::floats({5}, x)},
                          {{ir::AttrName::Kind, std::string(kind)}}, kind);
    ASSERT_EQ(run.results.size(), 1u) << kind;
    const std::vector<float> &y = run.results[0].f;
    EXPECT_TRUE(std::isnan(y[0])) << kind;
    EXPECT_EQ(y[1], 100.0f) << kind;
    EXPECT_EQ(y[2], 0.0f) << kind;
    EXPECT_EQ(y[3], 0.0f) << kind;
    EXPECT_EQ(y[4], 1e30f) << kind;
  }
}

// activation_grad(x, r) = r * act'(x) for these kinds (the table's gradFrom
// is Input): against central differences of the interpreter's activation.
TEST(ActivationKernels, GeluAndSwishGradMatchFiniteDifferences) {
  std::mt19937 rng(26);
  for (const char *kind : kInputKinds)
    for (int64_t n : {1, 17, 1000}) {
      auto x = randomFloats(rng, n, -7, 7), r = randomFloats(rng, n);
      std::string what = std::string(kind) + " n=" + std::to_string(n);
      auto grad =
          runChecked(OpKind::ActivationGrad,
                     {HostTensor::floats({n}, x), HostTensor::floats({n}, r)},
                     {{ir::AttrName::Kind, std::string(kind)}}, what);
      ASSERT_EQ(grad.results.size(), 1u) << what;
      std::vector<double> fd =
          activationFd({{ir::AttrName::Kind, std::string(kind)}}, x, r, 1e-4);
      for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(grad.results[0].f[i], fd[i], 1e-6 + 1e-5 * std::fabs(fd[i]))
            << what << " x=" << x[i];
    }
}

// ---- softplus: log(1 + e^x), its gradient sigmoid(x) from the input ----

// Within 4 float ulps of the interpreter's float64 softplus, including the
// tail below -15 where log(1 + e^x) alone would round to 0; where e^x
// leaves float's range, within the smallest normal float.
TEST(ActivationKernels, SoftplusMatchesReference) {
  std::mt19937 rng(27);
  ir::Attrs attrs{{ir::AttrName::Kind, std::string("softplus")}};
  for (int64_t n : {1, 16, 17, 4099}) {
    auto x = spreadInputs(rng, n);
    for (float extra : {-80.0f, -20.0f, -15.5f, 15.5f, 40.0f})
      x.push_back(extra);
    auto m = static_cast<int64_t>(x.size());
    std::string what = "n=" + std::to_string(m);
    auto run = runChecked(OpKind::Activation, {HostTensor::floats({m}, x)},
                          attrs, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    std::vector<double> ref = activationOf(attrs, toDouble(x));
    ASSERT_EQ(ref.size(), size_t(m)) << what;
    for (int64_t i = 0; i < m; ++i)
      EXPECT_NEAR(run.results[0].f[i], ref[i], 4.8e-7 * ref[i] + 1.2e-38)
          << what << " x=" << x[i];
  }
}

TEST(ActivationKernels, SoftplusSpecialValues) {
  std::vector<float> x = {std::nanf(""), 100.0f,   -100.0f,
                          0.0f,          INFINITY, -INFINITY};
  auto run =
      runChecked(OpKind::Activation, {HostTensor::floats({6}, x)},
                 {{ir::AttrName::Kind, std::string("softplus")}}, "softplus");
  ASSERT_EQ(run.results.size(), 1u);
  const std::vector<float> &y = run.results[0].f;
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 100.0f);
  EXPECT_GE(y[2], 0.0f);
  EXPECT_LT(y[2], 1e-38f);
  EXPECT_NEAR(y[3], std::log(2.0), 6e-8);
  EXPECT_EQ(y[4], INFINITY);
  EXPECT_EQ(y[5], 0.0f);
}

TEST(ActivationKernels, SoftplusGradMatchesFiniteDifferences) {
  std::mt19937 rng(28);
  ir::Attrs attrs{{ir::AttrName::Kind, std::string("softplus")}};
  for (int64_t n : {1, 17, 1000}) {
    auto x = randomFloats(rng, n, -12, 12), r = randomFloats(rng, n);
    std::string what = "n=" + std::to_string(n);
    auto grad = runChecked(
        OpKind::ActivationGrad,
        {HostTensor::floats({n}, x), HostTensor::floats({n}, r)}, attrs, what);
    ASSERT_EQ(grad.results.size(), 1u) << what;
    std::vector<double> fd = activationFd(attrs, x, r, 1e-4);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(grad.results[0].f[i], fd[i], 1e-6 + 1e-5 * std::fabs(fd[i]))
          << what << " x=" << x[i];
  }
}

// The verifier names activation_grad's operand 0 by the table's gradFrom.
TEST(ActivationKernels, GradOperandIsNamedByKind) {
  ir::Graph g("bad");
  ir::ValueId a = g.addInput("a", ir::f32({4}));
  ir::ValueId b = g.addInput("b", ir::f32({5}));
  auto message = [&](const char *kind) {
    auto r = g.create1(OpKind::ActivationGrad, {a, b},
                       {{ir::AttrName::Kind, std::string(kind)}});
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(message("gelu"),
            "activation_grad: input and the output's gradient must have the "
            "same type: f32[4] vs f32[5]");
  EXPECT_EQ(message("tanh"),
            "activation_grad: output and its gradient must have the same "
            "type: f32[4] vs f32[5]");
  // The IR has one spelling per kind; "silu" is only a DSL alias.
  EXPECT_EQ(message("silu"), "activation_grad: unknown activation kind 'silu'");
}

} // namespace
} // namespace cnnc::testing
