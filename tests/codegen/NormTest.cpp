// batch_norm, batch_norm_grad, batch_norm_inference and
// moving_average_update against the reference interpreter running the same
// op and central finite differences of its batch_norm, on rank-2 and rank-4
// inputs with channel counts around the vector widths, with and without
// gamma/beta, at 1, 2 and 3 threads (bit-identical).
#include "KernelTestUtil.h"

#include <cstdio>

namespace cnnc::testing {
namespace {

using ir::OpKind;

struct NormCase {
  std::vector<int64_t> shape; // channels last
  bool scale = true, center = true;

  int64_t channels() const { return shape.back(); }
  int64_t rows() const { return ir::f32(shape).numElements() / channels(); }
  std::string str() const {
    return ir::f32(shape).str() + (scale ? " scale" : "") +
           (center ? " center" : "");
  }
  ir::Attrs attrs(double eps = 1e-3) const {
    return {{ir::AttrName::Epsilon, eps},
            {ir::AttrName::Scale, int64_t{scale ? 1 : 0}},
            {ir::AttrName::Center, int64_t{center ? 1 : 0}}};
  }
};

const NormCase kCases[] = {
    {{1, 1}},
    {{5, 3}},
    {{7, 16}, false},
    {{33, 17}, true, false},
    {{2, 5, 5, 33}},
    {{3, 4, 4, 64}, false, false},
    {{2, 13, 13, 32}},
    {{4, 3, 3, 10}},
    // More channels than a block of 256 (codegen/NormKernels.cpp)
    // on 1 to 3 threads, with a vector tail.
    {{3, 2, 601}, true, false},
};

struct Weights {
  std::vector<float> gamma, beta;
};

Weights randomWeights(std::mt19937 &rng, int64_t c) {
  return {randomFloats(rng, c, 0.5f, 2.0f), randomFloats(rng, c, -1, 1)};
}

std::vector<HostTensor>
normOperands(const NormCase &k, const std::vector<float> &x, const Weights &w) {
  std::vector<HostTensor> ops{HostTensor::floats(k.shape, x)};
  if (k.scale)
    ops.push_back(HostTensor::floats({k.channels()}, w.gamma));
  if (k.center)
    ops.push_back(HostTensor::floats({k.channels()}, w.beta));
  return ops;
}

struct NormRef {
  std::vector<double> y, mean, var;
};

// The interpreter's y = gamma (x - mean) / sqrt(var + eps) + beta with the
// batch's mean and biased variance (batch_norm), or the given ones
// (batch_norm_inference), in float64.
NormRef normRef(const NormCase &k, const std::vector<double> &x,
                const std::vector<double> &gamma,
                const std::vector<double> &beta, double eps,
                const NormRef *stats = nullptr) {
  int64_t c = k.channels();
  std::vector<OpOperand> operands{refOperand(k.shape, x)};
  if (stats) {
    operands.push_back(refOperand({c}, stats->mean));
    operands.push_back(refOperand({c}, stats->var));
  }
  if (k.scale)
    operands.push_back(refOperand({c}, gamma));
  if (k.center)
    operands.push_back(refOperand({c}, beta));
  OpOutcome o =
      interpretRef(stats ? OpKind::BatchNormInference : OpKind::BatchNorm,
                   std::move(operands), k.attrs(eps));
  if (o.results.empty())
    return {};
  if (stats)
    return {o.results[0], stats->mean, stats->var};
  return {o.results[0], o.results[1], o.results[2]};
}

// |y| bound used to scale errors: |gamma xhat| + |beta| + 1.
std::vector<double> normScale(const NormCase &k, const NormRef &ref,
                              const std::vector<double> &x, const Weights &w) {
  std::vector<double> s(x.size());
  int64_t c = k.channels();
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t ch = static_cast<int64_t>(i) % c;
    double xhat = (x[i] - ref.mean[ch]) / std::sqrt(ref.var[ch] + 1e-3);
    s[i] = std::fabs((k.scale ? w.gamma[ch] : 1) * xhat) +
           (k.center ? std::fabs(w.beta[ch]) : 0) + 1;
  }
  return s;
}

TEST(NormKernels, BatchNormMatchesReference) {
  std::mt19937 rng(41);
  for (const NormCase &k : kCases) {
    std::vector<float> x =
        randomFloats(rng, ir::f32(k.shape).numElements(), -2, 3);
    Weights w = randomWeights(rng, k.channels());
    auto run = runChecked(OpKind::BatchNorm, normOperands(k, x, w), k.attrs(),
                          k.str());
    ASSERT_EQ(run.results.size(), 3u) << k.str();
    std::vector<double> xd = toDouble(x);
    NormRef ref = normRef(k, xd, toDouble(w.gamma), toDouble(w.beta), 1e-3);
    ASSERT_EQ(ref.y.size(), xd.size()) << k.str();
    EXPECT_LT(maxRelError(run.results[1].f, ref.mean), 1e-6) << k.str();
    EXPECT_LT(maxRelError(run.results[2].f, ref.var), 1e-6) << k.str();
    EXPECT_LT(maxScaledError(run.results[0].f, ref.y, normScale(k, ref, xd, w)),
              2e-6)
        << k.str();
  }
}

// The statistics are summed in double around a shift from the data: a
// large common offset does not swamp the variance (a one-pass f32 E[x^2] -
// E[x]^2 would be off by about 10%).
TEST(NormKernels, VarianceSurvivesALargeOffset) {
  std::mt19937 rng(42);
  NormCase k{{64, 9, 9, 5}};
  std::vector<float> x = randomFloats(rng, ir::f32(k.shape).numElements());
  for (float &v : x)
    v += 1000.0f;
  Weights w = randomWeights(rng, 5);
  auto run = runChecked(OpKind::BatchNorm, normOperands(k, x, w), k.attrs());
  ASSERT_EQ(run.results.size(), 3u);
  NormRef ref =
      normRef(k, toDouble(x), toDouble(w.gamma), toDouble(w.beta), 1e-3);
  EXPECT_LT(maxRelError(run.results[2].f, ref.var), 1e-6);
  for (int64_t c = 0; c < 5; ++c)
    EXPECT_NEAR(run.results[2].f[c], ref.var[c], 1e-6 * ref.var[c]) << c;
}

// Inference with a batch's own statistics is the training op's output, bit
// for bit (same f32 formula); with other statistics it follows them.
TEST(NormKernels, InferenceMatchesTrainingAndReference) {
  std::mt19937 rng(43);
  for (const NormCase &k : kCases) {
    std::vector<float> x =
        randomFloats(rng, ir::f32(k.shape).numElements(), -2, 3);
    Weights w = randomWeights(rng, k.channels());
    auto train = runChecked(OpKind::BatchNorm, normOperands(k, x, w), k.attrs(),
                            k.str());
    ASSERT_EQ(train.results.size(), 3u);
    auto inferenceOperands = [&](const std::vector<float> &mean,
                                 const std::vector<float> &var) {
      std::vector<HostTensor> ops = normOperands(k, x, w);
      ops.insert(ops.begin() + 1, {HostTensor::floats({k.channels()}, mean),
                                   HostTensor::floats({k.channels()}, var)});
      return ops;
    };
    auto same =
        runChecked(OpKind::BatchNormInference,
                   inferenceOperands(train.results[1].f, train.results[2].f),
                   k.attrs(), k.str());
    ASSERT_EQ(same.results.size(), 1u);
    EXPECT_EQ(same.results[0].f, train.results[0].f) << k.str();

    std::vector<float> mean = randomFloats(rng, k.channels(), -1, 1);
    std::vector<float> var = randomFloats(rng, k.channels(), 0, 4);
    var[0] = 0; // epsilon keeps it finite
    auto moving = runChecked(OpKind::BatchNormInference,
                             inferenceOperands(mean, var), k.attrs(), k.str());
    ASSERT_EQ(moving.results.size(), 1u);
    NormRef stats{{}, toDouble(mean), toDouble(var)};
    std::vector<double> xd = toDouble(x);
    NormRef ref =
        normRef(k, xd, toDouble(w.gamma), toDouble(w.beta), 1e-3, &stats);
    EXPECT_LT(
        maxScaledError(moving.results[0].f, ref.y, normScale(k, ref, xd, w)),
        2e-6)
        << k.str();
  }
}

// batch_norm_inference_grad (a frozen batch normalization's input
// gradient): dx = dy gamma / sqrt(var + eps), against the interpreter and
// against the derivative of batch_norm_inference itself: for L = sum(r y),
// dL/dx is the op applied to r.
TEST(NormKernels, InferenceGradMatchesReferenceAndFiniteDifferences) {
  std::mt19937 rng(45);
  for (const NormCase &k : kCases) {
    int64_t c = k.channels(), n = ir::f32(k.shape).numElements();
    std::vector<float> dy = randomFloats(rng, n, -2, 2);
    std::vector<float> var = randomFloats(rng, c, 0, 4);
    Weights w = randomWeights(rng, c);
    std::vector<HostTensor> operands{HostTensor::floats(k.shape, dy),
                                     HostTensor::floats({c}, var)};
    std::vector<OpOperand> ref{refOperand(k.shape, toDouble(dy)),
                               refOperand({c}, toDouble(var))};
    if (k.scale) {
      operands.push_back(HostTensor::floats({c}, w.gamma));
      ref.push_back(refOperand({c}, toDouble(w.gamma)));
    }
    ir::Attrs attrs{{ir::AttrName::Epsilon, 1e-3},
                    {ir::AttrName::Scale, int64_t{k.scale ? 1 : 0}}};
    auto got = runChecked(OpKind::BatchNormInferenceGrad, std::move(operands),
                          attrs, k.str());
    ASSERT_EQ(got.results.size(), 1u);
    std::vector<double> want =
        interpretRef1(OpKind::BatchNormInferenceGrad, ref, attrs);
    EXPECT_LT(maxRelError(got.results[0].f, want), 1e-6) << k.str();

    // Finite differences of batch_norm_inference at a few elements.
    std::vector<double> x(n), mean(c);
    for (double &v : x)
      v = std::uniform_real_distribution<double>(-2, 2)(rng);
    for (double &v : mean)
      v = std::uniform_real_distribution<double>(-1, 1)(rng);
    auto loss = [&](const std::vector<double> &xs) {
      std::vector<OpOperand> ops{refOperand(k.shape, xs), refOperand({c}, mean),
                                 refOperand({c}, toDouble(var))};
      if (k.scale)
        ops.push_back(refOperand({c}, toDouble(w.gamma)));
      if (k.center)
        ops.push_back(refOperand({c}, toDouble(w.beta)));
      std::vector<double> y =
          interpretRef1(OpKind::BatchNormInference, ops, k.attrs());
      double l = 0;
      for (int64_t i = 0; i < n; ++i)
        l += dy[i] * y[i];
      return l;
    };
    for (int64_t i : {int64_t{0}, n / 2, n - 1}) {
      std::vector<double> plus = x, minus = x;
      plus[i] += 1e-4;
      minus[i] -= 1e-4;
      double numeric = (loss(plus) - loss(minus)) / 2e-4;
      EXPECT_NEAR(want[i], numeric, 1e-6 * (1 + std::fabs(numeric)))
          << k.str() << " element " << i;
    }
  }
}

// For L = sum(r * batch_norm(x, gamma, beta).y), batch_norm_grad(x, mean,
// var, r, gamma) gives dL/dx (through the batch statistics), dL/dgamma and
// dL/dbeta: central differences of the interpreter's batch_norm.
TEST(NormKernels, GradMatchesFiniteDifferences) {
  std::mt19937 rng(44);
  const NormCase cases[] = {{{6, 3}},
                            {{9, 17}, false, true},
                            {{2, 3, 3, 5}, true, false},
                            {{1, 4, 5, 8}}};
  for (const NormCase &k : cases) {
    int64_t c = k.channels(), n = ir::f32(k.shape).numElements();
    std::vector<float> x = randomFloats(rng, n, -2, 2);
    std::vector<float> r = randomFloats(rng, n);
    Weights w = randomWeights(rng, c);
    auto fwd = runChecked(OpKind::BatchNorm, normOperands(k, x, w), k.attrs());
    ASSERT_EQ(fwd.results.size(), 3u);
    std::vector<HostTensor> gradOperands{
        HostTensor::floats(k.shape, x),
        HostTensor::floats({c}, fwd.results[1].f),
        HostTensor::floats({c}, fwd.results[2].f),
        HostTensor::floats(k.shape, r)};
    if (k.scale)
      gradOperands.push_back(HostTensor::floats({c}, w.gamma));
    auto grad = runChecked(OpKind::BatchNormGrad, gradOperands,
                           {{ir::AttrName::Epsilon, 1e-3},
                            {ir::AttrName::Scale, int64_t{k.scale ? 1 : 0}}},
                           k.str());
    ASSERT_EQ(grad.results.size(), 3u) << k.str();

    std::vector<double> xd = toDouble(x), gd = toDouble(w.gamma),
                        bd = toDouble(w.beta), rd = toDouble(r);
    auto loss = [&](const std::vector<double> &xv,
                    const std::vector<double> &gv,
                    const std::vector<double> &bv) {
      std::vector<double> y = normRef(k, xv, gv, bv, 1e-3).y;
      double l = 0;
      for (size_t i = 0; i < y.size(); ++i)
        l += rd[i] * y[i];
      return l;
    };
    const double h = 1e-5;
    auto fd = [&](std::vector<double> &v, size_t i) {
      double v0 = v[i];
      v[i] = v0 + h;
      double up = loss(xd, gd, bd);
      v[i] = v0 - h;
      double down = loss(xd, gd, bd);
      v[i] = v0;
      return (up - down) / (2 * h);
    };
    for (size_t i = 0; i < xd.size(); ++i) {
      double want = fd(xd, i);
      EXPECT_NEAR(grad.results[0].f[i], want, 2e-4 + 1e-4 * std::fabs(want))
          << k.str() << " dx[" << i << "]";
    }
    for (int64_t ch = 0; ch < c; ++ch) {
      double dgamma = fd(gd, ch), dbeta = fd(bd, ch);
      if (k.scale) { // without gamma, dgamma is still sum(dy * xhat)
        EXPECT_NEAR(grad.results[1].f[ch], dgamma,
                    1e-4 + 1e-5 * std::fabs(dgamma))
            << k.str() << " dgamma[" << ch << "]";
      }
      if (k.center) {
        EXPECT_NEAR(grad.results[2].f[ch], dbeta,
                    1e-4 + 1e-5 * std::fabs(dbeta))
            << k.str() << " dbeta[" << ch << "]";
      }
    }
  }
}

// A larger case against the interpreter's batch_norm_grad (the closed form
// dbeta = sum dy, dgamma = sum dy xhat, dx = gamma inv (dy - dbeta/R -
// xhat dgamma/R)), also for thread-count determinism on many rows.
TEST(NormKernels, GradMatchesClosedFormOnMnistShape) {
  std::mt19937 rng(45);
  NormCase k{{8, 26, 26, 32}};
  int64_t c = 32, n = k.rows() * c;
  std::vector<float> x = randomFloats(rng, n, -2, 2), dy = randomFloats(rng, n);
  Weights w = randomWeights(rng, c);
  std::vector<float> mean(c), var(c);
  NormRef stats =
      normRef(k, toDouble(x), toDouble(w.gamma), toDouble(w.beta), 1e-3);
  for (int64_t ch = 0; ch < c; ++ch) {
    mean[ch] = static_cast<float>(stats.mean[ch]);
    var[ch] = static_cast<float>(stats.var[ch]);
  }
  std::vector<HostTensor> operands = {
      HostTensor::floats(k.shape, x), HostTensor::floats({c}, mean),
      HostTensor::floats({c}, var), HostTensor::floats(k.shape, dy),
      HostTensor::floats({c}, w.gamma)};
  ir::Attrs attrs = {{ir::AttrName::Epsilon, 1e-3}};
  auto grad = runChecked(OpKind::BatchNormGrad, operands, attrs);
  ASSERT_EQ(grad.results.size(), 3u);
  OpOutcome ref = interpret(OpKind::BatchNormGrad, operands, attrs);
  ASSERT_EQ(ref.results.size(), 3u);
  std::vector<double> scale(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t ch = i % c;
    double inv = 1 / std::sqrt(double(var[ch]) + 1e-3);
    scale[i] = w.gamma[ch] * inv * (std::fabs(dy[i]) + 1);
  }
  EXPECT_LT(maxScaledError(grad.results[0].f, ref.results[0], scale), 1e-5);
  EXPECT_LT(maxRelError(grad.results[1].f, ref.results[1]), 1e-5);
  EXPECT_LT(maxRelError(grad.results[2].f, ref.results[2]), 1e-5);
}

// moving = moving * momentum + value * (1 - momentum), in f32, in place:
// exactly that f32 formula, and within rounding of the interpreter's.
TEST(NormKernels, MovingAverageUpdate) {
  std::mt19937 rng(46);
  for (int64_t n : {1, 3, 16, 17, 64}) {
    for (double momentum : {0.99, 0.9, 0.0, 1.0}) {
      std::vector<float> m = randomFloats(rng, n, -2, 2);
      std::vector<float> v = randomFloats(rng, n, -2, 2);
      auto run = runChecked(OpKind::MovingAverageUpdate,
                            {HostTensor::floats({n}, m, ir::ValueKind::Param),
                             HostTensor::floats({n}, v)},
                            {{ir::AttrName::Momentum, momentum}});
      ASSERT_EQ(run.operands.size(), 2u);
      OpOutcome ref =
          interpret(OpKind::MovingAverageUpdate,
                    {HostTensor::floats({n}, m, ir::ValueKind::Param),
                     HostTensor::floats({n}, v)},
                    {{ir::AttrName::Momentum, momentum}});
      ASSERT_EQ(ref.operands.size(), 2u);
      for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(run.operands[0].f[i], ref.operands[0][i],
                    1e-6 * (std::fabs(m[i]) + std::fabs(v[i])))
            << "n=" << n << " i=" << i;
      float keep = static_cast<float>(momentum);
      float take = static_cast<float>(1 - momentum);
      for (int64_t i = 0; i < n; ++i) {
        float want = m[i] * keep + v[i] * take;
        EXPECT_EQ(run.operands[0].f[i], want) << "n=" << n << " i=" << i;
      }
      EXPECT_EQ(run.operands[1].f, v); // the value is only read
    }
  }
}

TEST(NormKernels, ShapeRulesRejectBadOperands) {
  ir::Graph g("bad");
  ir::ValueId x = g.addInput("x", ir::f32({4, 3}));
  ir::ValueId c3 = g.addInput("c3", ir::f32({3}));
  ir::ValueId c4 = g.addInput("c4", ir::f32({4}));
  auto message = [&](ir::OpKind kind, std::vector<ir::ValueId> operands,
                     ir::Attrs attrs) {
    auto r = g.create(kind, std::move(operands), std::move(attrs));
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  ir::Attrs eps{{ir::AttrName::Epsilon, 1e-3}};
  EXPECT_EQ(message(OpKind::BatchNorm, {x, c3}, eps),
            "batch_norm: expects 3 operands with scale = 1, center = 1, got 2");
  EXPECT_EQ(message(OpKind::BatchNorm, {x, c3, c4}, eps),
            "batch_norm: operand 2 must be f32[3] (one per channel), got "
            "f32[4]");
  EXPECT_EQ(message(OpKind::BatchNorm, {x, c3, c3}, {}),
            "batch_norm: attribute 'epsilon' must be positive");
  EXPECT_EQ(message(OpKind::BatchNorm, {c3},
                    {{ir::AttrName::Epsilon, 1e-3},
                     {ir::AttrName::Scale, int64_t{0}},
                     {ir::AttrName::Center, int64_t{0}}}),
            "batch_norm: input must have rank >= 2, got f32[3]");
  EXPECT_EQ(message(OpKind::BatchNorm, {x, c3, c3}, eps), "ok");
  EXPECT_EQ(message(OpKind::BatchNormInference, {x, c3, c3}, eps),
            "batch_norm_inference: expects 5 operands with scale = 1, center "
            "= 1, got 3");
  EXPECT_EQ(message(OpKind::BatchNormGrad, {x, c3, c3, c3}, eps),
            "batch_norm_grad: expects 5 operands with scale = 1, center = 0, "
            "got 4");
  EXPECT_EQ(message(OpKind::MovingAverageUpdate, {c3, c3},
                    {{ir::AttrName::Momentum, 1.5}}),
            "moving_average_update: attribute 'momentum' must be in [0, 1]");
  EXPECT_EQ(message(OpKind::MovingAverageUpdate, {c3, c4},
                    {{ir::AttrName::Momentum, 0.5}}),
            "moving_average_update: moving average and value must have the "
            "same type: f32[3] vs f32[4]");
}

} // namespace
} // namespace cnnc::testing
