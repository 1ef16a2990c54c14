// The mixed_bfloat16 dtype policy on the tutorial's training step, through
// the pipelines, the JIT and the executor. With SGD at learning rate 1 a
// step moves each weight by minus its gradient, so the weights after one
// step give the gradients. Under mixed_bfloat16 every gradient tensor must
// agree with float32's to the documented tolerance (docs/dsl.md, "Dtype
// policies"): relative L2 error at most kGradientTolerance (measured
// 0.07-8 %: bfloat16 rounding flips a few max-pool choices and ReLUs, each
// moving a whole gradient element), yet differ (the policy is in effect);
// the loss to kLossTolerance; and the step stays bit-identical across
// thread counts.
#include "frontend/Frontend.h"
#include "ir/AttrEnums.h"
#include "ir/DtypePolicy.h"
#include "passes/Pipelines.h"
#include "runtime/Executor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

namespace cnnc::testing {
namespace {

constexpr double kGradientTolerance = 0.15;
constexpr double kLossTolerance = 5e-3;
constexpr double kPairsTolerance = 1e-3;

struct Step {
  float loss = 0;
  std::map<std::string, std::vector<float>> before, after;
};

// pairs: the forward convolutions read bfloat16 pairs (vdpbf16ps on
// AVX512_BF16 hosts, its two-FMA form here otherwise).
ir::Graph trainingGraph(ir::DtypePolicy policy, bool pairs = false) {
  auto parsed = frontend::parseFile(CNNC_SOURCE_DIR "/models/mnist.dsl");
  EXPECT_FALSE(parsed.error) << parsed.error->str();
  ir::TrainingSpec spec = frontend::trainingSpec(*parsed.program);
  spec.fit.batchSize = 32;
  spec.optimizer = ir::OptimizerSpec{};
  spec.optimizer.kind = ir::OptimizerKind::SGD;
  spec.optimizer.learningRate = 1.0;
  spec.dtypePolicy = policy;
  auto lowered = frontend::lowerModel(*parsed.program, spec);
  EXPECT_FALSE(lowered.error) << lowered.error->str();
  auto g = passes::runTrainingPipeline(lowered.model->forward, spec, {}, pairs);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : ir::Graph("none");
}

// One step from the same weights and batch whatever the graph.
Step step(const ir::Graph &g, int threads) {
  runtime::ParamStore store;
  auto ex = runtime::Executor::create(g, store);
  EXPECT_TRUE(ex.ok()) << ex.status();
  if (!ex.ok())
    return {};
  runtime::Executor &e = **ex;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f), px(0, 1);
  Step out;
  for (const std::string &name : store.names()) {
    const ir::TensorType *t = store.typeOf(name);
    float *p = store.find(name);
    for (int64_t i = 0; i < t->numElements(); ++i)
      p[i] = u(rng);
    out.before[name].assign(p, p + t->numElements());
  }
  ir::ValueId x = g.findValue("x"), labels = g.findValue("labels");
  for (int64_t i = 0; i < g.type(x).numElements(); ++i)
    e.f32(x)[i] = px(rng) < 0.7f ? 0.0f : px(rng);
  for (int64_t i = 0; i < g.type(labels).numElements(); ++i)
    e.i32(labels)[i] = static_cast<int32_t>(rng() % 10);
  *e.i32(g.findValue("step")) = 1;
  *e.f32(g.findValue("learning_rate")) = 1.0f;
  runtime::ThreadPool pool(threads);
  e.run(pool);
  out.loss = e.f32(g.output("loss"))[0];
  for (const std::string &name : store.names())
    out.after[name].assign(
        store.find(name), store.find(name) + store.typeOf(name)->numElements());
  return out;
}

TEST(MixedPrecision, PolicyMarksEveryContraction) {
  for (ir::DtypePolicy policy :
       {ir::DtypePolicy::Float32, ir::DtypePolicy::MixedBfloat16}) {
    ir::Graph g = trainingGraph(policy);
    int contractions = 0, marked = 0;
    for (const ir::Op &op : g.ops()) {
      bool contracts = ir::opInfo(op.kind).flags & ir::kContracts;
      contractions += contracts;
      marked += ir::computeDtypeOf(op.attrs) == ir::ComputeDtype::Bfloat16;
      EXPECT_TRUE(contracts || !op.attrs.has(ir::AttrName::ComputeDtype))
          << ir::opName(op.kind);
    }
    // Two convolutions and two dense layers, forward and backward.
    EXPECT_GE(contractions, 10);
    EXPECT_EQ(marked, policy == ir::DtypePolicy::Float32 ? 0 : contractions);
  }
}

// Relative L2 error of each gradient of `got` against `want`.
std::map<std::string, double> gradientErrors(const Step &want,
                                             const Step &got) {
  std::map<std::string, double> out;
  for (const auto &[name, w0] : want.before) {
    const std::vector<float> &w1 = want.after.at(name),
                             &b0 = got.before.at(name),
                             &b1 = got.after.at(name);
    EXPECT_EQ(w0, b0) << name << ": not the same starting weights";
    double err = 0, norm = 0;
    for (size_t i = 0; i < w0.size() && i < b0.size(); ++i) {
      double gw = double(w0[i]) - w1[i], gb = double(b0[i]) - b1[i];
      err += (gb - gw) * (gb - gw);
      norm += gw * gw;
    }
    EXPECT_GT(norm, 0) << name << ": no gradient";
    out[name] = std::sqrt(err / norm);
  }
  return out;
}

TEST(MixedPrecision, GradientsAgreeWithFloat32) {
  ir::Graph f32 = trainingGraph(ir::DtypePolicy::Float32);
  Step want = step(f32, 1);
  ASSERT_FALSE(want.after.empty());
  for (bool pairs : {false, true}) {
    ir::Graph bf16 = trainingGraph(ir::DtypePolicy::MixedBfloat16, pairs);
    Step got = step(bf16, 1);
    EXPECT_NEAR(got.loss, want.loss, kLossTolerance * want.loss) << pairs;
    int differing = 0;
    for (const auto &[name, rel] : gradientErrors(want, got)) {
      EXPECT_LE(rel, kGradientTolerance) << name << (pairs ? ", pairs" : "");
      differing += rel > 0;
      std::printf("%-16s%s relative L2 error of the gradient %.2e\n",
                  name.c_str(), pairs ? " (pairs)" : "", rel);
    }
    EXPECT_GT(differing, 0) << "mixed_bfloat16 computed float32's gradients";
  }
}

// Reading bfloat16 pairs changes only the order of the contractions' sums
// (a pair, then the next); the products are the same.
TEST(MixedPrecision, PairsAgreeWithRoundedOperands) {
  Step rounded = step(trainingGraph(ir::DtypePolicy::MixedBfloat16), 1);
  ir::Graph pairsGraph = trainingGraph(ir::DtypePolicy::MixedBfloat16, true);
  // Every contraction reads packed operands where it can: the convolutions
  // forward and backward data, the second one's filter gradient (split
  // from its bias_grad), the first one's x (its kernel computes dy from the
  // pool's argmax and pairs it in registers), the matmuls.
  int packed = 0;
  for (const ir::Op &op : pairsGraph.ops()) {
    if (!(ir::opInfo(op.kind).flags & ir::kContracts))
      continue;
    for (size_t k = 0; k < 2; ++k)
      EXPECT_EQ(pairsGraph.type(op.operands[k]).dtype == ir::DType::BF16,
                ir::bfloat16PairAxis(op.kind, op.attrs, k) >= 0)
          << ir::opName(op.kind) << " operand " << k;
    packed += pairsGraph.type(op.operands[0]).dtype == ir::DType::BF16;
  }
  EXPECT_EQ(packed, 11); // 2 forward, 1 backward data, 2 filter, 2 x 3 matmuls
  Step pairs = step(pairsGraph, 1);
  ASSERT_FALSE(rounded.after.empty());
  EXPECT_NEAR(pairs.loss, rounded.loss, 1e-5 * rounded.loss);
  for (const auto &[name, rel] : gradientErrors(rounded, pairs)) {
    EXPECT_LE(rel, kPairsTolerance) << name;
    std::printf("%-16s pairs against rounded operands: %.2e\n", name.c_str(),
                rel);
  }
  for (int threads : {2, 3}) {
    Step other = step(pairsGraph, threads);
    for (const auto &[name, w] : pairs.after)
      EXPECT_TRUE(other.after.at(name) == w) << name << ", " << threads;
  }
}

// The pass's round_to_bfloat16 ops only save the kernels rounding at every
// load: the float32 step with compute_dtype set on its contractions (every
// operand rounded in the kernels) gives the same bits.
TEST(MixedPrecision, RoundingOncePerStepChangesNoBit) {
  ir::Graph withRounding = trainingGraph(ir::DtypePolicy::MixedBfloat16);
  ir::Graph inKernels = trainingGraph(ir::DtypePolicy::Float32);
  int rounds = 0;
  for (const ir::Op &op : withRounding.ops())
    rounds += op.kind == ir::OpKind::RoundToBfloat16;
  EXPECT_GE(rounds, 8);
  for (ir::Op &op : inKernels.ops())
    if (ir::opInfo(op.kind).flags & ir::kContracts)
      op.attrs.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
  Step a = step(withRounding, 2), b = step(inKernels, 2);
  ASSERT_FALSE(a.after.empty());
  EXPECT_EQ(std::memcmp(&a.loss, &b.loss, 4), 0);
  for (const auto &[name, w] : a.after)
    EXPECT_EQ(std::memcmp(w.data(), b.after.at(name).data(), w.size() * 4), 0)
        << name;
}

TEST(MixedPrecision, BitIdenticalAcrossThreadCounts) {
  ir::Graph bf16 = trainingGraph(ir::DtypePolicy::MixedBfloat16);
  Step one = step(bf16, 1);
  for (int threads : {2, 3, 4}) {
    Step other = step(bf16, threads);
    EXPECT_EQ(std::memcmp(&one.loss, &other.loss, 4), 0) << threads;
    for (const auto &[name, w] : one.after)
      EXPECT_TRUE(other.after.at(name) == w) << name << ", " << threads;
  }
}

} // namespace
} // namespace cnnc::testing
