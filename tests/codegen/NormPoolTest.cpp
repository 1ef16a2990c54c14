// A max pool fused into batch normalization (passes/Fusion.cpp): batch_norm
// with the activation, max_pool2d and argmax epilogue against batch_norm
// then the max_pool2d kernel, and batch_norm_grad / batch_norm_grad_sums
// with the max_pool2d_argmax_grad prologue against the same ops fed the
// max_pool2d_argmax_grad kernel's dy: bit for bit (the gradient's sums,
// which run over the pooled cells instead of the rows, within 1e-12), on
// odd sizes (rows and columns past the last window), channel tails and
// non-square windows, at 1 to 3 threads (runChecked).
#include "GraphRunner.h"
#include "KernelTestUtil.h"

#include "ir/FusedStages.h"

#include <fmt/format.h>

namespace cnnc::testing {
namespace {

using ir::AttrName;
using ir::FusedStage;
using ir::OpKind;
using ir::ValueId;

struct PoolCase {
  std::vector<int64_t> shape; // N, H, W, C
  std::vector<int64_t> pool;
  const char *activation;

  int64_t c() const { return shape[3]; }
  std::vector<int64_t> pooled() const {
    return {shape[0], shape[1] / pool[0], shape[2] / pool[1], shape[3]};
  }
  std::string str() const {
    return fmt::format("{} pool {}x{} {}", ir::f32(shape).str(), pool[0],
                       pool[1], activation);
  }
};

const PoolCase kCases[] = {
    {{2, 7, 5, 17}, {2, 2}, "relu"},   {{3, 6, 8, 33}, {2, 2}, "relu"},
    {{2, 7, 7, 16}, {3, 2}, "relu"},   {{4, 5, 5, 3}, {2, 2}, "linear"},
    {{2, 26, 26, 32}, {2, 2}, "relu"},
};

ir::Attrs normAttrs(const PoolCase &k, ir::FusedStageSet stages) {
  ir::Attrs a{{AttrName::Epsilon, 1e-3},
              {AttrName::Activation, std::string(k.activation)},
              {AttrName::PoolSize, k.pool}};
  ir::setFusedStages(a, stages);
  return a;
}

std::vector<HostTensor> normInputs(const PoolCase &k, std::mt19937 &rng) {
  int64_t n = ir::f32(k.shape).numElements();
  // Coarse values: equal taps in a window (the first one wins) occur.
  std::vector<float> x = randomFloats(rng, n, -2, 2);
  for (float &v : x)
    v = std::round(v * 4) / 4;
  return {HostTensor::floats(k.shape, x),
          HostTensor::floats({k.c()}, randomFloats(rng, k.c(), 0.5f, 2)),
          HostTensor::floats({k.c()}, randomFloats(rng, k.c(), -1, 1))};
}

// The max_pool2d kernel's output for the case's windows.
OpRunResult maxPool(const PoolCase &k, const HostTensor &x) {
  return runChecked(OpKind::MaxPool2D, {x},
                    {{AttrName::PoolSize, k.pool},
                     {AttrName::Strides, k.pool},
                     {AttrName::Padding, std::vector<int64_t>(4, 0)}},
                    k.str());
}

TEST(NormPool, PooledNormalizationEqualsNormalizationThenPool) {
  std::mt19937 rng(71);
  for (const PoolCase &k : kCases) {
    std::vector<HostTensor> in = normInputs(k, rng);
    auto fused =
        runChecked(OpKind::BatchNorm, in,
                   normAttrs(k, {FusedStage::Activation, FusedStage::MaxPool2D,
                                 FusedStage::Argmax}),
                   k.str());
    auto plain = runChecked(OpKind::BatchNorm, in,
                            normAttrs(k, {FusedStage::Activation}), k.str());
    ASSERT_EQ(fused.results.size(), 4u) << k.str();
    ASSERT_EQ(plain.results.size(), 3u) << k.str();
    auto pooled = maxPool(k, plain.results[0]);
    ASSERT_EQ(pooled.results.size(), 1u) << k.str();
    EXPECT_EQ(fused.results[0].f, pooled.results[0].f) << k.str();
    EXPECT_EQ(fused.results[1].f, plain.results[1].f) << k.str();
    EXPECT_EQ(fused.results[2].f, plain.results[2].f) << k.str();
    // The argmax from the unpooled y: the first tap equal to the maximum,
    // -1 after a relu when the maximum is not positive.
    std::vector<int64_t> p = k.pooled(), s = k.shape;
    const std::vector<float> &y = plain.results[0].f;
    const std::vector<int32_t> &argmax = fused.results[3].i;
    ASSERT_EQ(argmax.size(), pooled.results[0].f.size()) << k.str();
    bool relu = std::string(k.activation) == "relu";
    int64_t i = 0;
    for (int64_t b = 0; b < p[0]; ++b)
      for (int64_t r = 0; r < p[1]; ++r)
        for (int64_t q = 0; q < p[2]; ++q)
          for (int64_t ch = 0; ch < p[3]; ++ch, ++i) {
            int32_t want = -1;
            float m = -INFINITY;
            for (int64_t t = 0; t < k.pool[0] * k.pool[1]; ++t) {
              float v = y[((b * s[1] + r * k.pool[0] + t / k.pool[1]) * s[2] +
                           q * k.pool[1] + t % k.pool[1]) *
                              s[3] +
                          ch];
              if (v > m) {
                m = v;
                want = static_cast<int32_t>(t);
              }
            }
            if (relu && !(m > 0))
              want = -1;
            ASSERT_EQ(argmax[i], want) << k.str() << " at " << i;
          }
  }
}

// One graph: the pooled batch_norm's argmax, max_pool2d_argmax_grad's dy,
// and batch_norm_grad_sums and batch_norm_grad (grouped and not) reading
// either dy or the pooled (argmax, g).
TEST(NormPool, GradientFromThePooledArgmaxEqualsTheFullGradient) {
  std::mt19937 rng(72);
  for (const PoolCase &k : kCases) {
    std::string what = k.str();
    std::vector<HostTensor> in = normInputs(k, rng);
    Builder b;
    ValueId x = b.input(k.shape, in[0].f), gamma = b.input({k.c()}, in[1].f),
            beta = b.input({k.c()}, in[2].f);
    ValueId g =
        b.input(k.pooled(),
                randomFloats(rng, ir::f32(k.pooled()).numElements(), -1, 1));
    std::vector<ValueId> fwd =
        b.op(OpKind::BatchNorm, {x, gamma, beta},
             normAttrs(k, {FusedStage::Activation, FusedStage::MaxPool2D,
                           FusedStage::Argmax}));
    ASSERT_EQ(fwd.size(), 4u) << what;
    ValueId mean = fwd[1], var = fwd[2], argmax = fwd[3];
    ValueId dy =
        b.op1(OpKind::MaxPool2DArgmaxGrad, {argmax, g},
              {{AttrName::PoolSize, k.pool}, {AttrName::InputShape, k.shape}});
    ir::Attrs plain{{AttrName::Epsilon, 1e-3}};
    ir::Attrs pooled = plain;
    pooled.set(AttrName::PoolSize, k.pool);
    ir::setFusedStages(pooled, {FusedStage::MaxPool2DArgmaxGrad});
    // {full dy, pooled} x {ungrouped, grouped}: dx, dgamma, dbeta, and the
    // grouped sums.
    std::vector<ValueId> results[2][2];
    ValueId sums[2];
    for (int p = 0; p < 2; ++p) {
      std::vector<ValueId> d =
          p ? std::vector<ValueId>{argmax, g} : std::vector<ValueId>{dy};
      ir::Attrs attrs = p ? pooled : plain;
      std::vector<ValueId> operands{x, mean, var};
      operands.insert(operands.end(), d.begin(), d.end());
      ir::Attrs grouped = attrs;
      grouped.set(AttrName::BatchGroups, int64_t{2});
      sums[p] = b.op1(OpKind::BatchNormGradSums, operands, grouped);
      operands.push_back(gamma);
      results[p][0] = b.op(OpKind::BatchNormGrad, operands, attrs);
      operands.push_back(sums[p]);
      results[p][1] = b.op(OpKind::BatchNormGrad, operands, grouped);
    }
    Runs runs = b.run();
    ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;
    for (size_t t = 0; t < runs.size(); ++t) {
      const Buffers &r = runs[t];
      std::string at = fmt::format("{} threads={}", what, kGraphThreads[t]);
      // The pooled sums add the same nonzero terms (dy is 0 off the argmax
      // taps) in the pooled cells' order: the same up to the rounding of
      // the f64 additions, and the same bits on every thread count.
      EXPECT_LT(maxRelError(r.d.at(sums[1]), r.d.at(sums[0])), 1e-12)
          << at << " sums";
      EXPECT_EQ(r.d.at(sums[1]), runs[0].d.at(sums[1])) << at << " sums";
      for (int grouped = 0; grouped < 2; ++grouped)
        for (size_t i = 0; i < 3; ++i) {
          ValueId v = results[1][grouped][i];
          // dx reads the sums rounded to f32, so it may move by a rounding.
          EXPECT_LT(maxRelError(r.f.at(v), r.f.at(results[0][grouped][i])),
                    1e-6)
              << at << " grouped=" << grouped << " result " << i;
          EXPECT_EQ(r.f.at(v), runs[0].f.at(v))
              << at << " grouped=" << grouped << " result " << i;
        }
    }
    // The interpreter computes the pooled ops' dy itself.
    for (int grouped = 0; grouped < 2; ++grouped)
      for (size_t i = 0; i < 3; ++i) {
        ValueId v = results[1][grouped][i];
        EXPECT_LT(maxRelError(runs[0].f.at(v), runs.ref.at(v)), 2e-5)
            << what << " grouped=" << grouped << " result " << i;
      }
  }
}

// batch_norm_inference with the activation (and max_pool2d) epilogue, as
// evaluation graphs fuse it, against batch_norm_inference, the activation
// kernel and the max_pool2d kernel: bit for bit, on 1 to 3 threads.
TEST(NormPool, InferenceEpiloguesEqualTheSeparateOps) {
  std::mt19937 rng(73);
  for (const PoolCase &k : kCases) {
    std::vector<HostTensor> in = normInputs(k, rng);
    std::vector<HostTensor> ops{
        in[0],
        HostTensor::floats({k.c()}, randomFloats(rng, k.c(), -0.5f, 0.5f)),
        HostTensor::floats({k.c()}, randomFloats(rng, k.c(), 0.1f, 3)), in[1],
        in[2]};
    ir::Attrs plain{{AttrName::Epsilon, 1e-3}};
    auto y = runChecked(OpKind::BatchNormInference, ops, plain, k.str());
    ASSERT_EQ(y.results.size(), 1u) << k.str();
    auto a = runChecked(OpKind::Activation, {y.results[0]},
                        {{AttrName::Kind, std::string(k.activation)}}, k.str());
    ASSERT_EQ(a.results.size(), 1u) << k.str();
    auto p = maxPool(k, a.results[0]);
    ASSERT_EQ(p.results.size(), 1u) << k.str();
    ir::Attrs activated = normAttrs(k, {FusedStage::Activation});
    activated.erase(AttrName::PoolSize);
    auto fusedA = runChecked(OpKind::BatchNormInference, ops, activated,
                             k.str() + " activation");
    auto fusedP = runChecked(
        OpKind::BatchNormInference, ops,
        normAttrs(k, {FusedStage::Activation, FusedStage::MaxPool2D}),
        k.str() + " pooled");
    ASSERT_EQ(fusedA.results.size(), 1u) << k.str();
    ASSERT_EQ(fusedP.results.size(), 1u) << k.str();
    EXPECT_EQ(fusedA.results[0].f, a.results[0].f) << k.str();
    EXPECT_EQ(fusedP.results[0].f, p.results[0].f) << k.str();
  }
}

} // namespace
} // namespace cnnc::testing
