// Batch normalization, global average pooling and the parametric
// activations through the passes: training vs inference graphs, moving
// statistics, autodiff's structure and errors, rebatching. Numeric gradient
// checks are in GradientCheckTest.cpp.
#include "common/Interpreter.h"
#include "passes/Autodiff.h"
#include "passes/EvalGraph.h"
#include "passes/Rebatch.h"
#include "passes/TestModels.h"

#include "ir/Verifier.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace cnnc::passes {
namespace {

using ir::OpKind;
using ir::ValueId;
using testing::countOps;
using testing::opsOfKind;

ir::TrainingSpec sgdSpec() {
  ir::TrainingSpec spec;
  spec.optimizer.kind = ir::OptimizerKind::SGD;
  spec.optimizer.learningRate = 0.1;
  return spec;
}

TEST(NormPasses, TrainingGraphUsesBatchStatisticsAndUpdatesMovingOnes) {
  ir::Graph f = testing::batchNormConvModel(3);
  auto g = buildTrainingGraph(f, sgdSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(countOps(*g, OpKind::BatchNorm), 1);
  EXPECT_EQ(countOps(*g, OpKind::BatchNormInference), 0);
  EXPECT_EQ(countOps(*g, OpKind::MovingAverageUpdate), 2);
  ASSERT_EQ(countOps(*g, OpKind::BatchNormGrad), 1);
  // The gradient op reads the forward op's input, statistics and gamma.
  const ir::Op &bn = *opsOfKind(*g, OpKind::BatchNorm)[0];
  const ir::Op &grad = *opsOfKind(*g, OpKind::BatchNormGrad)[0];
  EXPECT_EQ(grad.operands[0], bn.operands[0]);
  EXPECT_EQ(grad.operands[1], bn.results[1]);
  EXPECT_EQ(grad.operands[2], bn.results[2]);
  EXPECT_EQ(grad.operands[4], g->findValue("bn.gamma"));
  EXPECT_EQ(g->value(grad.results[1]).name, "bn.gamma.grad");
  EXPECT_EQ(g->value(grad.results[2]).name, "bn.beta.grad");
  // One optimizer update per trainable param: conv kernel, gamma, beta, the
  // dense kernel and bias; none for the moving statistics.
  std::set<std::string> updated;
  for (const ir::Op *op : opsOfKind(*g, OpKind::SgdUpdate))
    updated.insert(g->value(op->operands[0]).name);
  EXPECT_EQ(updated,
            (std::set<std::string>{"conv.kernel", "bn.gamma", "bn.beta",
                                   "out.kernel", "out.bias"}));
  EXPECT_LT(g->findValue("bn.moving_mean.grad"), 0);
  // Global average pooling's gradient spreads over the pooled input.
  ASSERT_EQ(countOps(*g, OpKind::GlobalAvgPool2DGrad), 1);
  EXPECT_EQ(opsOfKind(*g, OpKind::GlobalAvgPool2DGrad)[0]->attrs.getInts(
                ir::AttrName::InputShape),
            (std::vector<int64_t>{3, 4, 4, 3}));
  // leaky_relu's gradient carries its slope.
  const ir::Op &ag = *opsOfKind(*g, OpKind::ActivationGrad)[0];
  EXPECT_EQ(ag.attrs.getString(ir::AttrName::Kind), "leaky_relu");
  EXPECT_EQ(ag.attrs.getFloat(ir::AttrName::NegativeSlope), 0.3);
}

TEST(NormPasses, WithoutScaleTheGradientHasNoGammaOperand) {
  ir::Graph f = testing::batchNormDenseModel(4);
  ir::Graph g = buildTrainingGraph(f, sgdSpec()).value();
  auto grads = opsOfKind(g, OpKind::BatchNormGrad);
  ASSERT_EQ(grads.size(), 2u);
  // Backward order: bn_1 (scale, no center) first, then bn (center only).
  EXPECT_EQ(grads[0]->operands.size(), 5u);
  EXPECT_EQ(g.value(grads[0]->results[2]).name, "bn_1.dbeta");
  EXPECT_EQ(grads[1]->operands.size(), 4u);
  EXPECT_EQ(grads[1]->attrs.getInt(ir::AttrName::Scale, 1), 0);
  EXPECT_EQ(g.value(grads[1]->results[1]).name, "bn.dgamma");
  EXPECT_EQ(g.value(grads[1]->results[2]).name, "bn.beta.grad");
}

TEST(NormPasses, InferenceGraphsUseMovingStatistics) {
  ir::Graph f = testing::batchNormDenseModel(4);
  for (bool eval : {true, false}) {
    auto g = eval ? buildEvalGraph(f) : buildPredictGraph(f);
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_TRUE(ir::verifyGraph(*g).ok()) << ir::verifyGraph(*g);
    EXPECT_EQ(countOps(*g, OpKind::BatchNorm), 0);
    EXPECT_EQ(countOps(*g, OpKind::MovingAverageUpdate), 0);
    auto inference = opsOfKind(*g, OpKind::BatchNormInference);
    ASSERT_EQ(inference.size(), 2u);
    // bn: (x, moving_mean, moving_variance, beta); bn_1: (..., gamma).
    EXPECT_EQ(inference[0]->operands[1], g->findValue("bn.moving_mean"));
    EXPECT_EQ(inference[0]->operands[2], g->findValue("bn.moving_variance"));
    EXPECT_EQ(inference[0]->operands[3], g->findValue("bn.beta"));
    EXPECT_EQ(inference[1]->operands[3], g->findValue("bn_1.gamma"));
    EXPECT_EQ(g->value(inference[0]->results[0]).name, "bn");
    EXPECT_LT(g->findValue("bn.mean"), 0);
  }
}

// With the moving statistics set to a batch's own statistics, evaluation
// (inference mode) gives the training step's loss on that batch.
TEST(NormPasses, InferenceOnBatchStatisticsMatchesTraining) {
  ir::Graph f = testing::batchNormConvModel(3);
  ir::Graph train = buildTrainingGraph(f, sgdSpec()).value();
  ir::Graph eval = buildEvalGraph(f).value();
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> uni(-1, 1);
  testing::Interpreter t(train), e(eval);
  for (const ir::Value &v : f.values())
    if (v.kind == ir::ValueKind::Param || v.name == "x") {
      std::vector<double> data(v.type.numElements());
      for (double &d : data)
        d = uni(rng);
      t.at(v.name) = data;
      e.at(v.name) = data;
    }
  t.at("labels") = e.at("labels") = {0, 3, 1};
  ASSERT_TRUE(t.run().ok());
  e.at("bn.moving_mean") = t.at("bn.mean");
  e.at("bn.moving_variance") = t.at("bn.variance");
  ASSERT_TRUE(e.run().ok());
  EXPECT_NEAR(e.at("loss")[0], t.at("loss")[0], 1e-12);
  // Not vacuous: with other moving statistics the loss differs.
  e.at("bn.moving_variance") = {2, 2, 2};
  ASSERT_TRUE(e.run().ok());
  EXPECT_GT(std::abs(e.at("loss")[0] - t.at("loss")[0]), 1e-6);
}

TEST(NormPasses, InferenceNeedsTheMovingAverages) {
  // A batch_norm whose statistics no moving_average_update keeps.
  testing::ModelBuilder m("nomoving", {2, 4});
  ir::Graph &g = m.graph();
  ValueId gamma = m.param("bn.gamma", {4}), beta = m.param("bn.beta", {4});
  ValueId y =
      g.create(OpKind::BatchNorm, {m.x(), gamma, beta},
               {{ir::AttrName::Epsilon, 1e-3}}, {}, {"bn", "bn.mean", "bn.var"})
          .value()[0];
  ir::Graph f = m.finish(m.dense("out", y, 3));
  auto eval = buildEvalGraph(f);
  ASSERT_FALSE(eval.ok());
  EXPECT_NE(eval.status().message().find("batch_norm %bn has no moving mean"),
            std::string::npos)
      << eval.status();
  // Training does not need them.
  EXPECT_TRUE(buildTrainingGraph(f, sgdSpec()).ok());
}

TEST(NormPasses, NoGradientThroughBatchStatistics) {
  // The batch mean feeds the loss: batch_norm's VJP does not cover that.
  testing::ModelBuilder m("statloss", {2, 4});
  ir::Graph &g = m.graph();
  ValueId h = m.dense("dense", m.x(), 4);
  ValueId gamma = m.param("bn.gamma", {4}), beta = m.param("bn.beta", {4});
  std::vector<ValueId> r =
      g.create(OpKind::BatchNorm, {h, gamma, beta},
               {{ir::AttrName::Epsilon, 1e-3}}, {}, {"bn", "bn.mean", "bn.var"})
          .value();
  ValueId shifted =
      g.create1(OpKind::BiasAdd, {r[0], r[1]}, {}, {}, "shifted").value();
  ir::Graph f = m.finish(m.dense("out", shifted, 3));
  auto train = buildTrainingGraph(f, sgdSpec());
  ASSERT_FALSE(train.ok());
  EXPECT_EQ(train.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(train.status().message().find("batch_norm has no gradient"),
            std::string::npos)
      << train.status();
}

TEST(NormPasses, RebatchKeepsNormalizationAndPooling) {
  ir::Graph f = testing::batchNormConvModel(3);
  auto r = rebatch(f, 7);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(ir::verifyGraph(*r).ok());
  EXPECT_EQ(r->type(r->findValue("bn")), ir::f32({7, 4, 4, 3}));
  EXPECT_EQ(r->type(r->findValue("gap")), ir::f32({7, 3}));
  EXPECT_EQ(countOps(*r, OpKind::MovingAverageUpdate), 2);
  ir::Graph train = buildTrainingGraph(*r, sgdSpec()).value();
  EXPECT_EQ(opsOfKind(train, OpKind::GlobalAvgPool2DGrad)[0]->attrs.getInts(
                ir::AttrName::InputShape),
            (std::vector<int64_t>{7, 4, 4, 3}));
}

} // namespace
} // namespace cnnc::passes
