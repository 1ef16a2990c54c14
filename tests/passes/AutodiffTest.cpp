#include "passes/Autodiff.h"

#include "passes/TestModels.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

#include <set>

namespace cnnc::passes {
namespace {

using ir::OpKind;
using ir::ValueId;
using ir::ValueKind;
using testing::countOps;
using testing::opsOfKind;

ir::Graph train(const ir::Graph &forward, const ir::TrainingSpec &spec = {}) {
  auto g = buildTrainingGraph(forward, spec);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok())
    return ir::Graph();
  absl::Status s = ir::verifyGraph(*g);
  EXPECT_TRUE(s.ok()) << s << "\n" << ir::printGraph(*g);
  return *std::move(g);
}

ir::TrainingSpec sgd(double lr, double momentum = 0, bool nesterov = false) {
  ir::TrainingSpec spec;
  spec.optimizer.kind = ir::OptimizerKind::SGD;
  spec.optimizer.learningRate = lr;
  spec.optimizer.momentum = momentum;
  spec.optimizer.nesterov = nesterov;
  return spec;
}

// The op whose result is `v`.
const ir::Op &definer(const ir::Graph &g, ValueId v) {
  return g.ops().at(g.value(v).definingOp);
}

// The update op of param `name` (fails the test unless there is exactly one).
const ir::Op *updateOf(const ir::Graph &g, const std::string &name) {
  const ir::Op *found = nullptr;
  for (const ir::Op &op : g.ops())
    if ((ir::opInfo(op.kind).flags & ir::kWritesOperands) &&
        g.value(op.operands[0]).name == name) {
      EXPECT_EQ(found, nullptr) << "two updates of " << name;
      found = &op;
    }
  EXPECT_NE(found, nullptr) << "no update of " << name;
  return found;
}

TEST(Autodiff, TutorialNamesInputsAndOutputs) {
  ir::Graph fwd = testing::tutorialModel(4);
  ir::Graph g = train(fwd);
  EXPECT_EQ(g.name(), "mnist_train");
  ValueId labels = g.findValue("labels");
  ASSERT_GE(labels, 0);
  EXPECT_EQ(g.value(labels).kind, ValueKind::Input);
  EXPECT_EQ(g.type(labels), ir::i32({4}));

  ASSERT_EQ(g.outputs().size(), 3u);
  EXPECT_EQ(g.outputs()[0].name, "loss");
  EXPECT_EQ(g.outputs()[1].name, "correct");
  EXPECT_EQ(g.outputs()[2].name, "probs");
  EXPECT_EQ(g.type(g.output("loss")), ir::f32({}));
  EXPECT_EQ(g.type(g.output("correct")), ir::f32({}));
  EXPECT_EQ(g.type(g.output("probs")), ir::f32({4, 10}));
  EXPECT_EQ(definer(g, g.output("loss")).kind, OpKind::SoftmaxCrossEntropy);
  EXPECT_EQ(definer(g, g.output("probs")).kind, OpKind::SoftmaxCrossEntropy);
  EXPECT_EQ(definer(g, g.output("correct")).kind, OpKind::CountCorrect);
  // The loss reads the forward logits.
  EXPECT_EQ(g.value(definer(g, g.output("loss")).operands[0]).name,
            fwd.value(fwd.output("logits")).name);

  // Every forward value survives under its name and type.
  for (const ir::Value &v : fwd.values()) {
    ValueId id = g.findValue(v.name);
    ASSERT_GE(id, 0) << v.name;
    EXPECT_EQ(g.type(id), v.type) << v.name;
    EXPECT_EQ(g.value(id).kind, v.kind) << v.name;
  }
  EXPECT_EQ(g.value(g.findValue("conv2d.kernel")).attrs,
            fwd.value(fwd.findValue("conv2d.kernel")).attrs);
}

TEST(Autodiff, TutorialHasExactlyTheExpectedGradientOps) {
  ir::Graph g = train(testing::tutorialModel(4));
  EXPECT_EQ(countOps(g, OpKind::Softmax), 0);
  EXPECT_EQ(countOps(g, OpKind::SoftmaxCrossEntropy), 1);
  EXPECT_EQ(countOps(g, OpKind::SoftmaxCrossEntropyGrad), 1);
  EXPECT_EQ(countOps(g, OpKind::CountCorrect), 1);
  // Two convs; the first one's input is %x, which needs no gradient.
  EXPECT_EQ(countOps(g, OpKind::Conv2D), 2);
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardData), 1);
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardFilter), 2);
  EXPECT_EQ(countOps(g, OpKind::BiasGrad), 4);
  EXPECT_EQ(countOps(g, OpKind::ActivationGrad), 3); // dense_1 is linear
  EXPECT_EQ(countOps(g, OpKind::MaxPool2DGrad), 2);
  EXPECT_EQ(countOps(g, OpKind::MatMul), 2 + 4); // forward + dA, dB each
  EXPECT_EQ(countOps(g, OpKind::Reshape), 2);    // flatten and back
  EXPECT_EQ(countOps(g, OpKind::Dropout), 2);
  EXPECT_EQ(countOps(g, OpKind::Mul), 2); // dropout gradients
  EXPECT_EQ(countOps(g, OpKind::Add), 0); // nothing is used twice
  EXPECT_EQ(countOps(g, OpKind::AdamUpdate), 8);
  // 16 forward ops + loss + count, 20 backward ops, 8 updates.
  EXPECT_EQ(g.ops().size(), 18u + 20u + 8u);

  const ir::Op &bd = *opsOfKind(g, OpKind::Conv2DBackwardData)[0];
  EXPECT_EQ(g.value(bd.operands[1]).name, "conv2d_1.kernel");
  EXPECT_EQ(g.type(bd.results[0]), ir::f32({4, 13, 13, 32}));
  EXPECT_EQ(bd.attrs.getInts(ir::AttrName::InputShape),
            (std::vector<int64_t>{4, 13, 13, 32}));
  EXPECT_EQ(bd.attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{0, 0, 0, 0}));
  for (const ir::Op *bf : opsOfKind(g, OpKind::Conv2DBackwardFilter))
    EXPECT_EQ(bf->attrs.getInts(ir::AttrName::KernelSize),
              (std::vector<int64_t>{3, 3}));

  // Dropout's gradient multiplies by its own mask.
  for (const ir::Op *mul : opsOfKind(g, OpKind::Mul)) {
    const ir::Op &def = definer(g, mul->operands[1]);
    EXPECT_EQ(def.kind, OpKind::Dropout);
    EXPECT_EQ(def.results[1], mul->operands[1]);
    EXPECT_EQ(g.type(mul->results[0]), g.type(def.operands[0]));
  }
}

TEST(Autodiff, OpsComeForwardThenBackwardThenUpdates) {
  ir::Graph g = train(testing::tutorialModel(4));
  size_t firstGrad = g.ops().size(), lastForward = 0, firstUpdate = 0;
  for (size_t i = 0; i < g.ops().size(); ++i) {
    OpKind k = g.ops()[i].kind;
    if (k == OpKind::CountCorrect)
      lastForward = i;
    if (k == OpKind::SoftmaxCrossEntropyGrad)
      firstGrad = std::min(firstGrad, i);
    if (k == OpKind::AdamUpdate && firstUpdate == 0)
      firstUpdate = i;
  }
  EXPECT_LT(lastForward, firstGrad);
  EXPECT_EQ(firstUpdate, g.ops().size() - 8);
}

TEST(Autodiff, AdamUpdatesEveryParamOnceWithItsMoments) {
  ir::TrainingSpec spec;
  spec.optimizer.learningRate = 0.002;
  spec.optimizer.beta1 = 0.8;
  ir::Graph g = train(testing::tutorialModel(4), spec);
  std::vector<ValueId> params = g.valuesOfKind(ValueKind::Param);
  EXPECT_EQ(params.size(), 8u);
  EXPECT_EQ(g.valuesOfKind(ValueKind::State).size(), 16u);
  for (ValueId p : params) {
    const std::string &name = g.value(p).name;
    const ir::Op *u = updateOf(g, name);
    ASSERT_NE(u, nullptr);
    ASSERT_EQ(u->kind, OpKind::AdamUpdate);
    ASSERT_EQ(u->operands.size(), 6u);
    EXPECT_EQ(u->operands[0], p);
    EXPECT_EQ(g.value(u->operands[1]).kind, ValueKind::Temp);
    EXPECT_EQ(g.type(u->operands[1]), g.type(p));
    EXPECT_EQ(u->operands[2], g.findValue("learning_rate"));
    EXPECT_EQ(g.value(u->operands[3]).name, name + ".m");
    EXPECT_EQ(g.value(u->operands[4]).name, name + ".v");
    EXPECT_EQ(g.value(u->operands[3]).kind, ValueKind::State);
    EXPECT_EQ(g.type(u->operands[4]), g.type(p));
    EXPECT_EQ(g.value(u->operands[5]).name, "step");
    // The rate is an operand, never an attribute.
    EXPECT_EQ(u->attrs.getFloat(ir::AttrName::Beta1), 0.8);
    EXPECT_EQ(u->attrs.getFloat(ir::AttrName::Beta2), 0.999);
    EXPECT_EQ(u->attrs.getFloat(ir::AttrName::Epsilon), 1e-7);
  }
  // Each param's gradient comes from the op its kind implies.
  auto gradKind = [&](const std::string &name) {
    return definer(g, updateOf(g, name)->operands[1]).kind;
  };
  EXPECT_EQ(gradKind("conv2d.kernel"), OpKind::Conv2DBackwardFilter);
  EXPECT_EQ(gradKind("conv2d_1.bias"), OpKind::BiasGrad);
  EXPECT_EQ(gradKind("dense.kernel"), OpKind::MatMul);
  const ir::Op &dw = definer(g, updateOf(g, "dense.kernel")->operands[1]);
  EXPECT_EQ(dw.attrs.getInt(ir::AttrName::TransposeA), 1);
  EXPECT_EQ(g.value(dw.operands[0]).name, "flatten");
}

TEST(Autodiff, SgdWithMomentumKeepsAVelocityPerParam) {
  ir::Graph g = train(testing::samePaddingAvgPoolModel(2),
                      sgd(0.05, 0.9, /*nesterov=*/true));
  EXPECT_EQ(g.name(), "samepad_train");
  std::vector<ValueId> params = g.valuesOfKind(ValueKind::Param);
  EXPECT_EQ(params.size(), 8u);
  EXPECT_EQ(g.valuesOfKind(ValueKind::State).size(), 8u);
  EXPECT_EQ(countOps(g, OpKind::SgdUpdate), 8);
  for (ValueId p : params) {
    const ir::Op *u = updateOf(g, g.value(p).name);
    ASSERT_NE(u, nullptr);
    ASSERT_EQ(u->operands.size(), 4u);
    EXPECT_EQ(g.value(u->operands[2]).name, "learning_rate");
    EXPECT_EQ(g.value(u->operands[3]).name, g.value(p).name + ".velocity");
    EXPECT_EQ(g.value(u->operands[3]).kind, ValueKind::State);
    EXPECT_EQ(u->attrs.getFloat(ir::AttrName::Momentum), 0.9);
    EXPECT_EQ(u->attrs.getInt(ir::AttrName::Nesterov), 1);
  }
  EXPECT_EQ(countOps(g, OpKind::AvgPool2DGrad), 1);
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardData), 1);
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardFilter), 2);
  EXPECT_EQ(countOps(g, OpKind::ActivationGrad), 3); // relu, tanh, sigmoid
  const ir::Op &apg = *opsOfKind(g, OpKind::AvgPool2DGrad)[0];
  EXPECT_EQ(apg.attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(apg.attrs.getInts(ir::AttrName::InputShape),
            (std::vector<int64_t>{2, 9, 9, 4}));
  const ir::Op &bd = *opsOfKind(g, OpKind::Conv2DBackwardData)[0];
  EXPECT_EQ(bd.attrs.getInts(ir::AttrName::Strides),
            (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(bd.attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{1, 1, 1, 1}));
}

TEST(Autodiff, PlainSgdHasNoState) {
  ir::Graph g = train(testing::samePaddingAvgPoolModel(2), sgd(0.01));
  EXPECT_TRUE(g.valuesOfKind(ValueKind::State).empty());
  for (const ir::Op *u : opsOfKind(g, OpKind::SgdUpdate)) {
    EXPECT_EQ(u->operands.size(), 3u);
    EXPECT_EQ(u->attrs.getFloat(ir::AttrName::Momentum, -1), 0.0);
    EXPECT_EQ(u->attrs.getInt(ir::AttrName::Nesterov, -1), 0);
  }
}

TEST(Autodiff, RmspropKeepsAMeanSquare) {
  ir::TrainingSpec spec;
  spec.optimizer.kind = ir::OptimizerKind::RMSprop;
  spec.optimizer.rho = 0.8;
  ir::Graph g = train(testing::dropoutModel(3), spec);
  EXPECT_EQ(countOps(g, OpKind::RmspropUpdate), 4);
  for (ValueId p : g.valuesOfKind(ValueKind::Param)) {
    const ir::Op *u = updateOf(g, g.value(p).name);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(g.value(u->operands[3]).name, g.value(p).name + ".ms");
    EXPECT_EQ(u->attrs.getFloat(ir::AttrName::Rho), 0.8);
    EXPECT_EQ(u->attrs.getFloat(ir::AttrName::Epsilon), 1e-7);
  }
}

TEST(Autodiff, AccumulatesGradientsOfValuesUsedMoreThanOnce) {
  // r = relu(...); s = add(r, r); t = mul(s, r): r's gradient has three
  // contributions, summed by two adds.
  ir::Graph g = train(testing::sharedValueModel(2));
  EXPECT_EQ(countOps(g, OpKind::Add), 1 + 2);
  EXPECT_EQ(countOps(g, OpKind::Mul), 1 + 2);
  ValueId r = g.findValue("dense_act");
  ASSERT_GE(r, 0);
  // The relu's gradient reads the accumulated sum.
  const ir::Op &ag = *opsOfKind(g, OpKind::ActivationGrad)[0];
  EXPECT_EQ(ag.operands[0], r);
  const ir::Op &sum = definer(g, ag.operands[1]);
  EXPECT_EQ(sum.kind, OpKind::Add);
  // Its operands: (dr from mul + ds) + ds, with ds from add(r, r).
  const ir::Op &inner = definer(g, sum.operands[0]);
  EXPECT_EQ(inner.kind, OpKind::Add);
  ValueId ds = sum.operands[1];
  EXPECT_EQ(inner.operands[1], ds);
  const ir::Op &dr = definer(g, inner.operands[0]);
  EXPECT_EQ(dr.kind, OpKind::Mul);
  EXPECT_EQ(dr.operands[1], g.findValue("twice"));
  EXPECT_EQ(definer(g, ds).kind, OpKind::Mul);
  EXPECT_EQ(definer(g, ds).operands[1], r);
}

TEST(Autodiff, SkipsBranchesThatOnlyLeadToInputs) {
  testing::ModelBuilder m("inputs", {2, 6});
  ir::Graph &f = m.graph();
  // A param-free prefix on %x needs no gradient at all.
  ValueId xr =
      f.create1(OpKind::Activation, {m.x()},
                {{ir::AttrName::Kind, std::string("tanh")}}, {}, "x_tanh")
          .value();
  ValueId xs = f.create1(OpKind::Mul, {xr, m.x()}, {}, {}, "x_sq").value();
  ValueId h = m.dense("dense", xs, 4, "relu");
  ir::Graph g = train(m.finish(m.dense("out", h, 3)));
  EXPECT_EQ(countOps(g, OpKind::ActivationGrad), 1); // dense's relu only
  EXPECT_EQ(countOps(g, OpKind::Mul), 1);            // the forward one
  // The dense layers: dW, dW and dx of `out` only.
  EXPECT_EQ(countOps(g, OpKind::MatMul), 2 + 3);
}

TEST(Autodiff, ParamsWithoutAGradientAreNotUpdated) {
  testing::ModelBuilder m("unused", {2, 6});
  m.param("orphan", {3, 3});
  ir::Graph g = train(m.finish(m.dense("out", m.x(), 3)));
  EXPECT_EQ(countOps(g, OpKind::AdamUpdate), 2);
  std::set<std::string> states;
  for (ValueId s : g.valuesOfKind(ValueKind::State))
    states.insert(g.value(s).name);
  EXPECT_EQ(states, (std::set<std::string>{"out.kernel.m", "out.kernel.v",
                                           "out.bias.m", "out.bias.v"}));
}

TEST(Autodiff, AddsAStepInputWhenTheModelHasNone) {
  ir::Graph f("nostep");
  ValueId x = f.addInput("x", ir::f32({2, 4}));
  ValueId w = f.addParam("w", ir::f32({4, 3}));
  ValueId logits = f.create1(OpKind::MatMul, {x, w}, {}, {}, "logits").value();
  f.addOutput("probs", f.create1(OpKind::Softmax, {logits}).value());
  f.addOutput("logits", logits);
  ir::Graph g = train(f);
  ValueId step = g.findValue("step");
  ASSERT_GE(step, 0);
  EXPECT_EQ(g.type(step), ir::i32({}));
  EXPECT_EQ(opsOfKind(g, OpKind::AdamUpdate)[0]->operands[5], step);
}

// One scalar learning-rate input feeds every update, so that the runtime
// can change it per step without recompiling; it records the recipe's rate.
TEST(Autodiff, LearningRateIsOneScalarInputOfEveryUpdate) {
  ir::Graph g = train(testing::samePaddingAvgPoolModel(2), sgd(0.05, 0.9));
  ValueId lr = g.findValue("learning_rate");
  ASSERT_GE(lr, 0);
  EXPECT_EQ(g.value(lr).kind, ValueKind::Input);
  EXPECT_EQ(g.type(lr), ir::f32({}));
  EXPECT_EQ(g.value(lr).attrs.getFloat(ir::AttrName::Initial), 0.05);
  int updates = 0;
  for (const ir::Op &op : g.ops())
    if (op.kind == OpKind::SgdUpdate) {
      ++updates;
      EXPECT_EQ(op.operands[2], lr);
      EXPECT_FALSE(ir::writesOperand(op.kind, 2));
      EXPECT_TRUE(ir::writesOperand(op.kind, 3));
    }
  EXPECT_EQ(updates, 8);
}

TEST(Autodiff, NeedsAFinalSoftmax) {
  ir::Graph f("nosoftmax");
  ValueId x = f.addInput("x", ir::f32({2, 4}));
  ValueId w = f.addParam("w", ir::f32({4, 3}));
  f.addOutput("probs", f.create1(OpKind::MatMul, {x, w}).value());
  auto g = buildTrainingGraph(f, {});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("softmax"), absl::string_view::npos)
      << g.status();
  EXPECT_NE(g.status().message().find("logits"), absl::string_view::npos);

  // "logits" present but "probs" is not softmax(logits).
  f.addOutput("logits", f.output("probs"));
  g = buildTrainingGraph(f, {});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("softmax"), absl::string_view::npos)
      << g.status();
}

TEST(Autodiff, RejectsASoftmaxInsideTheModel) {
  testing::ModelBuilder m("midsoftmax", {2, 6});
  ValueId h = m.dense("dense", m.x(), 4);
  h = m.graph().create1(OpKind::Softmax, {h}, {}, {}, "mid").value();
  auto g = buildTrainingGraph(m.finish(m.dense("out", h, 3)), {});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(g.status().message().find("softmax"), absl::string_view::npos)
      << g.status();
}

TEST(Autodiff, RejectsAnInvalidForwardGraph) {
  ir::Graph f = testing::dropoutModel(2);
  f.ops()[0].operands[1] = f.findValue("x"); // matmul(x, x): wrong shapes
  auto g = buildTrainingGraph(f, {});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("invalid forward graph"),
            absl::string_view::npos)
      << g.status();
}

// A trainable param that the forward graph also updates in place would be
// updated twice per step, and the backward pass would read the new value.
TEST(Autodiff, RejectsTrainableParamsWrittenInPlaceByTheForwardGraph) {
  testing::ModelBuilder m("twice", {2, 6});
  ValueId avg = m.param("avg", {6, 3});
  ValueId out = m.dense("out", m.x(), 3);
  ValueId kernel = m.graph().findValue("out.kernel");
  ASSERT_GE(kernel, 0);
  m.graph()
      .create(OpKind::MovingAverageUpdate, {kernel, avg},
              {{ir::AttrName::Momentum, 0.9}})
      .value();
  auto g = buildTrainingGraph(m.finish(out), {});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("param %out.kernel is trainable"),
            absl::string_view::npos)
      << g.status();

  // The frontend's batch norm writes only its trainable = 0 statistics.
  ir::Graph bn = train(testing::batchNormConvModel(2));
  EXPECT_GT(countOps(bn, OpKind::MovingAverageUpdate), 0);
}

TEST(Autodiff, KeepsLocations) {
  ir::Graph f = testing::dropoutModel(2);
  for (size_t i = 0; i < f.ops().size(); ++i)
    f.ops()[i].loc = {"model.cnnc", static_cast<int>(i + 1), 1};
  ir::Graph g = train(f);
  for (const ir::Op &op : g.ops()) {
    if (op.kind != OpKind::AdamUpdate) {
      EXPECT_TRUE(op.loc.known()) << opName(op.kind);
    }
  }
  // The dense layer's kernel gradient points at the forward matmul.
  const ir::Op &dw = definer(g, updateOf(g, "dense.kernel")->operands[1]);
  EXPECT_EQ(dw.loc.line, 1);
}

} // namespace
} // namespace cnnc::passes
