#include "passes/DeadCode.h"

#include "passes/Autodiff.h"
#include "passes/EvalGraph.h"
#include "passes/TestModels.h"

#include "ir/Verifier.h"

#include <gtest/gtest.h>

namespace cnnc::passes {
namespace {

using ir::OpKind;
using ir::ValueId;
using testing::countOps;

TEST(DeadCode, RemovesAnUnusedBranchAndKeepsUpdates) {
  ir::Graph g = buildTrainingGraph(testing::tutorialModel(2), {}).value();
  size_t before = g.ops().size();
  // A two-op branch whose result nobody reads.
  ValueId a =
      g.create1(OpKind::Activation, {g.findValue("flatten")},
                {{ir::AttrName::Kind, std::string("tanh")}}, {}, "dead_a")
          .value();
  ValueId b = g.create1(OpKind::Add, {a, a}, {}, {}, "dead_b").value();
  ASSERT_EQ(g.ops().size(), before + 2);

  eliminateDeadCode(g);
  EXPECT_EQ(g.ops().size(), before);
  EXPECT_TRUE(ir::verifyGraph(g).ok()) << ir::verifyGraph(g);
  EXPECT_EQ(countOps(g, OpKind::AdamUpdate), 8);
  EXPECT_EQ(countOps(g, OpKind::Activation), 3);
  // The value table is kept: ids stay valid, the dead values have no op.
  EXPECT_EQ(g.value(a).name, "dead_a");
  EXPECT_EQ(g.value(a).definingOp, -1);
  EXPECT_EQ(g.value(b).definingOp, -1);
  // definingOp links were renumbered.
  for (size_t i = 0; i < g.ops().size(); ++i)
    for (ValueId r : g.ops()[i].results)
      EXPECT_EQ(g.value(r).definingOp, static_cast<int32_t>(i));
}

TEST(DeadCode, LeavesLiveGraphsAlone) {
  ir::Graph fwd = testing::tutorialModel(2);
  for (ir::Graph g :
       {buildTrainingGraph(fwd, {}).value(), buildEvalGraph(fwd).value(),
        buildPredictGraph(fwd).value()}) {
    std::vector<OpKind> kinds;
    for (const ir::Op &op : g.ops())
      kinds.push_back(op.kind);
    eliminateDeadCode(g);
    ASSERT_EQ(g.ops().size(), kinds.size()) << g.name();
    for (size_t i = 0; i < kinds.size(); ++i)
      EXPECT_EQ(g.ops()[i].kind, kinds[i]);
  }
}

TEST(DeadCode, KeepsUpdatesAndWhatTheyRead) {
  // Nothing is an output: only the update and its gradient chain survive.
  ir::Graph g("upd");
  ValueId x = g.addInput("x", ir::f32({2, 3}));
  ValueId p = g.addParam("p", ir::f32({2, 3}));
  ValueId unused = g.create1(OpKind::Add, {x, x}, {}, {}, "unused").value();
  ValueId grad = g.create1(OpKind::Mul, {x, p}, {}, {}, "grad").value();
  ValueId lr = g.addInput("learning_rate", ir::f32({}));
  ASSERT_TRUE(g.create(OpKind::SgdUpdate, {p, grad, lr}, {}).ok());
  eliminateDeadCode(g);
  ASSERT_EQ(g.ops().size(), 2u);
  EXPECT_EQ(g.ops()[0].kind, OpKind::Mul);
  EXPECT_EQ(g.ops()[1].kind, OpKind::SgdUpdate);
  EXPECT_EQ(g.value(unused).definingOp, -1);
  EXPECT_EQ(g.value(grad).definingOp, 0);
}

TEST(DeadCode, KeepsAnOpWhenAnyResultIsUsed) {
  // softmax_cross_entropy's loss is unused, its probs are an output.
  ir::Graph g = buildEvalGraph(testing::dropoutModel(2)).value();
  g.outputs().erase(g.outputs().begin(), g.outputs().begin() + 2);
  ASSERT_EQ(g.outputs().size(), 1u);
  eliminateDeadCode(g);
  EXPECT_EQ(countOps(g, OpKind::SoftmaxCrossEntropy), 1);
  EXPECT_EQ(countOps(g, OpKind::CountCorrect), 0);
  EXPECT_TRUE(ir::verifyGraph(g).ok());
}

} // namespace
} // namespace cnnc::passes
