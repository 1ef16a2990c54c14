#include "passes/EvalGraph.h"

#include "passes/TestModels.h"

#include "ir/Verifier.h"

#include <gtest/gtest.h>

namespace cnnc::passes {
namespace {

using ir::OpKind;
using ir::ValueId;
using testing::countOps;

bool hasUpdates(const ir::Graph &g) {
  for (const ir::Op &op : g.ops())
    if (ir::opInfo(op.kind).flags & ir::kWritesOperands)
      return true;
  return false;
}

TEST(EvalGraph, TutorialHasLossAccuracyAndNoDropout) {
  ir::Graph fwd = testing::tutorialModel(4);
  auto g = buildEvalGraph(fwd);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(ir::verifyGraph(*g).ok()) << ir::verifyGraph(*g);
  EXPECT_EQ(g->name(), "mnist_eval");
  EXPECT_EQ(countOps(*g, OpKind::Dropout), 0);
  EXPECT_EQ(countOps(*g, OpKind::Softmax), 0);
  EXPECT_EQ(countOps(*g, OpKind::SoftmaxCrossEntropy), 1);
  EXPECT_EQ(countOps(*g, OpKind::CountCorrect), 1);
  EXPECT_FALSE(hasUpdates(*g));
  EXPECT_TRUE(g->valuesOfKind(ir::ValueKind::State).empty());
  // 17 forward ops - 2 dropouts - softmax + loss + count.
  EXPECT_EQ(g->ops().size(), 16u);
  ASSERT_EQ(g->outputs().size(), 3u);
  EXPECT_EQ(g->outputs()[0].name, "loss");
  EXPECT_EQ(g->outputs()[1].name, "correct");
  EXPECT_EQ(g->outputs()[2].name, "probs");
  EXPECT_EQ(g->type(g->findValue("labels")), ir::i32({4}));
  // The second conv reads the pooled activations directly.
  const ir::Op &conv = *testing::opsOfKind(*g, OpKind::Conv2D)[1];
  EXPECT_EQ(g->value(conv.operands[0]).name, "max_pooling2d");
  EXPECT_EQ(
      g->value(testing::opsOfKind(*g, OpKind::Reshape)[0]->operands[0]).name,
      "max_pooling2d_1");
  // Dropout's results are gone.
  EXPECT_LT(g->findValue("dropout"), 0);
  EXPECT_LT(g->findValue("dropout_mask"), 0);
}

TEST(EvalGraph, PredictKeepsTheSoftmaxAndOutputsProbs) {
  ir::Graph fwd = testing::tutorialModel(4);
  auto g = buildPredictGraph(fwd);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(ir::verifyGraph(*g).ok()) << ir::verifyGraph(*g);
  EXPECT_EQ(g->name(), "mnist_predict");
  EXPECT_EQ(countOps(*g, OpKind::Dropout), 0);
  EXPECT_EQ(countOps(*g, OpKind::Softmax), 1);
  EXPECT_EQ(countOps(*g, OpKind::SoftmaxCrossEntropy), 0);
  EXPECT_EQ(g->ops().size(), 15u);
  EXPECT_LT(g->findValue("labels"), 0);
  EXPECT_FALSE(hasUpdates(*g));
  ASSERT_EQ(g->outputs().size(), 1u);
  EXPECT_EQ(g->outputs()[0].name, "probs");
  EXPECT_EQ(g->type(g->output("probs")), ir::f32({4, 10}));
  EXPECT_EQ(g->ops()[g->value(g->output("probs")).definingOp].kind,
            OpKind::Softmax);
}

TEST(EvalGraph, PredictWorksWithoutASoftmax) {
  ir::Graph f("linear");
  ValueId x = f.addInput("x", ir::f32({2, 4}));
  ValueId w = f.addParam("w", ir::f32({4, 3}));
  f.addOutput("probs", f.create1(OpKind::MatMul, {x, w}).value());
  auto p = buildPredictGraph(f);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ops().size(), 1u);
  auto e = buildEvalGraph(f);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("logits"), absl::string_view::npos);
}

TEST(EvalGraph, PredictNeedsProbs) {
  ir::Graph f("noout");
  f.addInput("x", ir::f32({2, 4}));
  auto p = buildPredictGraph(f);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("probs"), absl::string_view::npos);
}

TEST(EvalGraph, RefusesToDropADropoutWhoseMaskIsUsed) {
  testing::ModelBuilder m("maskuse", {2, 6});
  ir::Graph &f = m.graph();
  ValueId h = m.dense("dense", m.x(), 4);
  ValueId y = f.create(OpKind::Dropout, {h, m.step()},
                       {{ir::AttrName::Rate, 0.5},
                        {ir::AttrName::Seed, int64_t{1}},
                        {ir::AttrName::Salt, int64_t{1}}},
                       {}, {"drop", "drop_mask"})
                  .value()[0];
  ValueId mask = f.findValue("drop_mask");
  ValueId z = f.create1(OpKind::Mul, {y, mask}, {}, {}, "twice_masked").value();
  auto g = buildEvalGraph(m.finish(m.dense("out", z, 3)));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("drop_mask"), absl::string_view::npos)
      << g.status();
}

} // namespace
} // namespace cnnc::passes
