// The fusion pass: which chains fuse and which must not, that fused graphs
// verify, and that the float64 reference interpreter computes the same
// loss, probabilities and parameter updates on the fused training graph as
// on the unfused one (the interpreter evaluates each fused op as the
// composition it replaces).
#include "passes/Fusion.h"
#include "common/FusedStageSets.h"
#include "common/Interpreter.h"
#include "passes/Autodiff.h"
#include "passes/BatchGroups.h"
#include "passes/DeadCode.h"
#include "passes/EvalGraph.h"
#include "passes/Pipeline.h"
#include "passes/TestModels.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

namespace cnnc::passes {
namespace {

using ir::OpKind;
using ir::ValueId;
using ir::ValueKind;
using testing::countOps;
using testing::Interpreter;
using testing::kActivationGrad;
using testing::kArgmaxGradBiasGrad;
using testing::kBiasAct;
using testing::kBiasActPool;
using testing::kBiasActPoolArgmax;
using testing::kBiasActPoolArgmaxDropout;
using testing::kBiasGrad;

ir::Graph trainingGraph(const ir::Graph &forward) {
  auto g = buildTrainingGraph(forward, ir::TrainingSpec{});
  EXPECT_TRUE(g.ok()) << g.status();
  eliminateDeadCode(*g);
  return *std::move(g);
}

ir::Graph fused(ir::Graph g) {
  absl::Status s = fuseOps(g);
  EXPECT_TRUE(s.ok()) << s;
  absl::Status v = ir::verifyGraph(g);
  EXPECT_TRUE(v.ok()) << v << "\n" << ir::printGraph(g);
  return g;
}

TEST(Fusion, TutorialTrainingGraph) {
  ir::Graph g = fused(trainingGraph(testing::tutorialModel(4)));
  // Both conv layers: conv + bias + relu + 2x2 pool + dropout, with the
  // argmax that the pool and relu gradients and dropout's mask multiply
  // become.
  EXPECT_EQ(countOps(g, OpKind::Conv2DFused, kBiasActPoolArgmaxDropout), 2);
  // The second layer's gradient feeds backward data and the filter
  // gradient; the first layer's only the filter gradient, which reads the
  // pooled gradient and argmax itself.
  EXPECT_EQ(countOps(g, OpKind::MaxPool2DArgmaxGrad), 1);
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardFilterFused, kBiasGrad), 1);
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardFilterFused, kArgmaxGradBiasGrad),
            1);
  for (OpKind k :
       {OpKind::MaxPool2DArgmaxGrad, OpKind::Conv2DBackwardFilterFused})
    for (const ir::Op *op : testing::opsOfKind(g, k)) {
      bool filter = k == OpKind::Conv2DBackwardFilterFused;
      if (filter && !op->attrs.has(ir::AttrName::Prologue))
        continue;
      EXPECT_EQ(op->operands.size(), filter ? 3u : 2u)
          << "no mask operand: dropout is in the argmax";
      EXPECT_FLOAT_EQ(op->attrs.getFloat(ir::AttrName::Scale), 1 / 0.75);
    }
  EXPECT_EQ(countOps(g, OpKind::Conv2DKernelTranspose), 1);
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardDataTransposed), 1);
  EXPECT_EQ(countOps(g, OpKind::MatMulFused, kBiasAct), 2);
  // Transposed once, first, so it runs beside the first layer.
  EXPECT_EQ(g.ops()[0].kind, OpKind::Conv2DKernelTranspose);
  for (OpKind gone : {OpKind::Conv2D, OpKind::BiasAdd, OpKind::Activation,
                      OpKind::MaxPool2D, OpKind::MaxPool2DGrad, OpKind::Mul,
                      OpKind::Conv2DBackwardFilter, OpKind::Conv2DBackwardData})
    EXPECT_EQ(countOps(g, gone), 0) << ir::opName(gone);
  // The dense layers' gradients are not fused: relu grad, two bias grads.
  EXPECT_EQ(countOps(g, OpKind::ActivationGrad), 1);
  EXPECT_EQ(countOps(g, OpKind::BiasGrad), 2);
  EXPECT_EQ(countOps(g, OpKind::Dropout), 0);
  EXPECT_EQ(countOps(g, OpKind::AdamUpdate), 8);
}

TEST(Fusion, TutorialEvalAndPredictGraphs) {
  for (bool predict : {false, true}) {
    ir::Graph f = testing::tutorialModel(5);
    auto g = predict ? buildPredictGraph(f) : buildEvalGraph(f);
    ASSERT_TRUE(g.ok()) << g.status();
    ir::Graph e = fused(*std::move(g));
    EXPECT_EQ(countOps(e, OpKind::Conv2DFused, kBiasActPool), 2);
    EXPECT_EQ(countOps(e, OpKind::MatMulFused, kBiasAct), 2);
    EXPECT_EQ(countOps(e, OpKind::Conv2DFused, kBiasActPoolArgmax), 0);
    EXPECT_EQ(countOps(e, OpKind::MaxPool2D), 0);
    EXPECT_EQ(countOps(e, OpKind::BiasAdd), 0);
  }
}

// A value with a second user (or that is a graph output) stays with its
// op: the conv's raw output is also an output, so nothing fuses into it;
// the second conv's activation is also read by an add, so its pool stays.
TEST(Fusion, ValuesWithTwoUsersAreNotFused) {
  testing::ModelBuilder b("shared", {2, 9, 9, 2});
  ir::Graph &g = b.graph();
  ValueId w = b.param("c1.kernel", {3, 3, 2, 4});
  ValueId bias = b.param("c1.bias", {4});
  ir::Attrs conv = {{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
                    {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}};
  ValueId c = g.create1(OpKind::Conv2D, {b.x(), w}, conv).value();
  ValueId z = g.create1(OpKind::BiasAdd, {c, bias}).value();
  ValueId a = g.create1(OpKind::Activation, {z}, {{ir::AttrName::Kind, "relu"}})
                  .value();
  ValueId a2 = b.conv("c2", a, 4, 3);
  ValueId sum = g.create1(OpKind::Add, {a2, a2}).value();
  ValueId p = b.maxPool("p", a2, 2, 2);
  ValueId flat = b.flatten("f", p);
  ValueId flat2 = b.flatten("f2", sum);
  ValueId l1 = b.dense("d1", flat, 3);
  ValueId l2 = b.dense("d2", flat2, 3);
  ValueId logits = g.create1(OpKind::Add, {l1, l2}).value();
  ir::Graph forward = b.finish(logits);
  forward.addOutput("raw", c);

  auto evalGraph = buildEvalGraph(forward);
  ASSERT_TRUE(evalGraph.ok()) << evalGraph.status();
  evalGraph->addOutput("raw", evalGraph->findValue(forward.value(c).name));
  ir::Graph e = fused(*std::move(evalGraph));
  EXPECT_EQ(countOps(e, OpKind::Conv2D), 1) << ir::printGraph(e);
  // The second conv fuses bias + relu but keeps its separate pool.
  EXPECT_EQ(countOps(e, OpKind::Conv2DFused, kBiasAct), 1);
  EXPECT_EQ(countOps(e, OpKind::MaxPool2D), 1);
  EXPECT_EQ(countOps(e, OpKind::Conv2DFused, kBiasActPool), 0);
}

// A dropout whose mask has another reader (here: a graph output) keeps its
// op; its backward mul still folds into the pool gradient as a mask
// operand.
TEST(Fusion, DropoutWithAnotherMaskReaderStays) {
  ir::Graph train = trainingGraph(testing::tutorialModel(2));
  ValueId mask = train.findValue("dropout_mask");
  ASSERT_GE(mask, 0);
  train.addOutput("mask", mask);
  ir::Graph g = fused(train);
  EXPECT_EQ(countOps(g, OpKind::Conv2DFused, kBiasActPoolArgmaxDropout), 1);
  EXPECT_EQ(countOps(g, OpKind::Conv2DFused, kBiasActPoolArgmax), 1);
  EXPECT_EQ(countOps(g, OpKind::Dropout), 1);
  auto filter = testing::opsOfKind(g, OpKind::Conv2DBackwardFilterFused,
                                   kArgmaxGradBiasGrad);
  ASSERT_EQ(filter.size(), 1u);
  EXPECT_EQ(filter[0]->operands.size(), 4u) << "x, argmax, gradient, mask";
  EXPECT_FALSE(filter[0]->attrs.has(ir::AttrName::Scale));
}

// Pools the fused kernels do not handle keep their ops: overlapping or
// padded windows, and (in training) pools after a sigmoid, whose gradient
// the argmax form cannot express. Their gradient takes the activation's
// gradient as an epilogue instead.
TEST(Fusion, UnsupportedPoolsStaySeparate) {
  ir::Graph tiny = fused(trainingGraph(testing::tinyConvModel(2)));
  // tinyConvModel: overlapping padded max pool after a relu conv.
  EXPECT_EQ(countOps(tiny, OpKind::Conv2DFused, kBiasActPoolArgmax), 0);
  EXPECT_EQ(countOps(tiny, OpKind::MaxPool2D), 1);
  EXPECT_EQ(countOps(tiny, OpKind::MaxPool2DGrad), 0);
  EXPECT_EQ(countOps(tiny, OpKind::MaxPool2DGradFused, kActivationGrad), 1);
  EXPECT_GE(countOps(tiny, OpKind::Conv2DFused, kBiasAct), 1);

  testing::ModelBuilder b("sigpool", {2, 8, 8, 1});
  ValueId a = b.conv("c", b.x(), 3, 3, 1, false, "sigmoid");
  ValueId p = b.maxPool("p", a, 2, 2);
  ir::Graph forward = b.finish(b.dense("d", b.flatten("f", p), 4));
  ir::Graph train = fused(trainingGraph(forward));
  EXPECT_EQ(countOps(train, OpKind::Conv2DFused, kBiasActPoolArgmax), 0);
  EXPECT_EQ(countOps(train, OpKind::Conv2DFused, kBiasAct), 1);
  auto poolGrad =
      testing::opsOfKind(train, OpKind::MaxPool2DGradFused, kActivationGrad);
  ASSERT_EQ(poolGrad.size(), 1u);
  EXPECT_EQ(poolGrad[0]->attrs.getString(ir::AttrName::Activation), "sigmoid");
  EXPECT_EQ(countOps(train, OpKind::MaxPool2DGrad), 0);
  // Evaluation has no gradient: the pool fuses there.
  auto eval = buildEvalGraph(forward);
  ASSERT_TRUE(eval.ok());
  EXPECT_EQ(
      countOps(fused(*std::move(eval)), OpKind::Conv2DFused, kBiasActPool), 1);
}

// conv -> batch_norm -> activation -> max_pool: the pool stays outside the
// convolution. With a relu (or linear) activation it moves into the
// batch_norm with an argmax, and its gradient becomes a prologue of the
// normalization's gradient (no full-size dy); with another kind without a
// parameter, the pool's gradient takes the activation's gradient as an
// epilogue when that gradient reads the pool's input (the activation's
// output).
ir::Graph batchNormPoolModel(const std::string &kind, double param = 0,
                             int64_t size = 9) {
  testing::ModelBuilder b("bnpool", {2, size, size, 1});
  ValueId h = b.conv("c", b.x(), 3, 3, 1, false, "");
  h = b.batchNorm("bn", h);
  h = b.activation("a", h, kind, param);
  h = b.maxPool("p", h, 2, 2);
  return b.finish(b.dense("d", b.flatten("f", h), 4));
}

TEST(Fusion, ReluPoolMovesIntoTheNormalization) {
  ir::Graph g = fused(trainingGraph(batchNormPoolModel("relu")));
  auto bn = testing::opsOfKind(g, OpKind::BatchNorm, testing::kActPoolArgmax);
  ASSERT_EQ(bn.size(), 1u);
  EXPECT_EQ(g.value(bn[0]->results[0]).name, "p");
  EXPECT_EQ(bn[0]->results.size(), 4u);
  auto grad =
      testing::opsOfKind(g, OpKind::BatchNormGrad, testing::kArgmaxGrad);
  ASSERT_EQ(grad.size(), 1u);
  // (x, mean, variance, argmax, g, gamma): the argmax is the batch_norm's.
  EXPECT_EQ(grad[0]->operands[3], bn[0]->results[3]);
  for (OpKind k : {OpKind::MaxPool2D, OpKind::MaxPool2DGrad,
                   OpKind::MaxPool2DGradFused, OpKind::MaxPool2DArgmaxGrad,
                   OpKind::ActivationGrad, OpKind::Activation})
    EXPECT_EQ(countOps(g, k), 0) << ir::opName(k);
  // The batch-groups pass takes the prologue along into the sums.
  splitBatchGroups(g, 2);
  EXPECT_TRUE(ir::verifyGraph(g).ok()) << ir::printGraph(g);
  EXPECT_EQ(countOps(g, OpKind::BatchNormGradSums, testing::kArgmaxGrad), 1);
}

TEST(Fusion, PoolGradientTakesTheActivationGradient) {
  for (const char *kind : {"tanh", "sigmoid"}) {
    ir::Graph g = fused(trainingGraph(batchNormPoolModel(kind)));
    auto poolGrad =
        testing::opsOfKind(g, OpKind::MaxPool2DGradFused, kActivationGrad);
    ASSERT_EQ(poolGrad.size(), 1u) << kind;
    EXPECT_EQ(poolGrad[0]->attrs.getString(ir::AttrName::Activation), kind);
    EXPECT_EQ(countOps(g, OpKind::MaxPool2DGrad), 0) << kind;
    EXPECT_EQ(countOps(g, OpKind::ActivationGrad), 0) << kind;
    EXPECT_EQ(countOps(g, OpKind::BatchNorm, testing::kAct), 1) << kind;
    // The fused gradient defines what the activation's gradient did.
    EXPECT_EQ(g.value(poolGrad[0]->results[0]).name, "bn.grad") << kind;
  }
  // leaky_relu has a parameter; gelu's gradient reads its input, not the
  // pool's: both keep two ops.
  for (auto [kind, param] : std::vector<std::pair<const char *, double>>{
           {"leaky_relu", 0.2}, {"gelu", 0}}) {
    ir::Graph g = fused(trainingGraph(batchNormPoolModel(kind, param)));
    EXPECT_EQ(countOps(g, OpKind::MaxPool2DGradFused), 0) << kind;
    EXPECT_EQ(countOps(g, OpKind::MaxPool2DGrad), 1) << kind;
    EXPECT_EQ(countOps(g, OpKind::ActivationGrad), 1) << kind;
  }
}

// Activations with parameters (leaky_relu, elu) and convs without a bias
// (before batch_norm) are left alone.
TEST(Fusion, LeavesOtherChainsAlone) {
  ir::Graph g = fused(trainingGraph(testing::batchNormConvModel(3)));
  EXPECT_EQ(countOps(g, OpKind::Conv2DFused, kBiasAct), 0);
  EXPECT_GE(countOps(g, OpKind::Activation), 1);
  ir::Graph d = fused(trainingGraph(testing::batchNormDenseModel(3)));
  EXPECT_GE(countOps(d, OpKind::Activation), 1);
}

// Activations without a parameter fuse (ir/Activations.def), gelu and
// swish included; in training their gradient reads the activation's input,
// a second reader, so the activation stays its own op there.
TEST(Fusion, GeluAndSwishFuseWhenNothingElseReadsTheirInput) {
  testing::ModelBuilder m("gs", {2, 6, 6, 1});
  ValueId h = m.conv("conv", m.x(), 2, 3, 1, false, "gelu");
  h = m.flatten("flatten", h);
  ir::Graph f = m.finish(m.dense("out", h, 3, "swish"));
  auto eval = buildEvalGraph(f);
  ASSERT_TRUE(eval.ok());
  ir::Graph e = fused(*std::move(eval));
  EXPECT_EQ(countOps(e, OpKind::Activation), 0);
  ASSERT_EQ(countOps(e, OpKind::Conv2DFused, kBiasAct), 1);
  ASSERT_EQ(countOps(e, OpKind::MatMulFused, kBiasAct), 1);
  EXPECT_EQ(
      testing::opsOfKind(e, OpKind::Conv2DFused, kBiasAct)[0]->attrs.getString(
          ir::AttrName::Activation),
      "gelu");
  EXPECT_EQ(
      testing::opsOfKind(e, OpKind::MatMulFused, kBiasAct)[0]->attrs.getString(
          ir::AttrName::Activation),
      "swish");
  ir::Graph t = fused(trainingGraph(f));
  EXPECT_EQ(countOps(t, OpKind::Activation), 2);
  EXPECT_EQ(countOps(t, OpKind::ActivationGrad), 2);
}

// ---- Same numbers through the reference interpreter ----

using testing::Tensors;

Tensors randomTensors(const ir::Graph &train, uint32_t seed) {
  return testing::randomStepTensors(train, seed, /*paramScale=*/0.5);
}

// Runs g; returns every output and every param and state after the step.
Tensors runStep(const ir::Graph &g, const Tensors &t) {
  Interpreter in(g);
  for (const auto &[name, data] : t)
    if (g.findValue(name) >= 0)
      in.at(name) = data;
  absl::Status s = in.run();
  EXPECT_TRUE(s.ok()) << s;
  Tensors out;
  for (const ir::GraphOutput &o : g.outputs())
    out["out:" + o.name] = in[o.value];
  for (size_t v = 0; v < g.values().size(); ++v)
    if (g.values()[v].kind == ValueKind::Param ||
        g.values()[v].kind == ValueKind::State)
      out[g.values()[v].name] = in[static_cast<ValueId>(v)];
  return out;
}

void expectSameStep(const ir::Graph &forward, const std::string &what) {
  ir::Graph train = trainingGraph(forward);
  ir::Graph f = fused(train);
  EXPECT_LT(f.ops().size(), train.ops().size()) << what << ": nothing fused";
  Tensors t = randomTensors(train, 7);
  Tensors a = runStep(train, t), b = runStep(f, t);
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto &[name, va] : a) {
    const std::vector<double> &vb = b.at(name);
    ASSERT_EQ(va.size(), vb.size()) << what << " " << name;
    for (size_t i = 0; i < va.size(); ++i)
      EXPECT_NEAR(va[i], vb[i], 1e-12 * (1 + std::fabs(va[i])))
          << what << " " << name << "[" << i << "]";
  }
}

TEST(Fusion, FusedTrainingStepComputesTheSameInTheInterpreter) {
  expectSameStep(testing::tutorialModel(2), "tutorial");
  {
    // As above, with one dropout kept (its mask is an output).
    testing::ModelBuilder b("partial", {2, 12, 12, 1});
    ValueId h = b.conv("c1", b.x(), 4, 3);
    h = b.maxPool("p1", h, 2, 2);
    h = b.dropout("d1", h, 0.5);
    ir::Graph forward = b.finish(b.dense("out", b.flatten("f", h), 3));
    ir::Graph train = trainingGraph(forward);
    ValueId mask = train.findValue("d1_mask");
    ASSERT_GE(mask, 0);
    train.addOutput("mask", mask);
    ir::Graph f = fused(train);
    EXPECT_EQ(countOps(f, OpKind::Conv2DFused, kBiasActPoolArgmax), 1);
    Tensors t = randomTensors(train, 9);
    Tensors x = runStep(train, t), y = runStep(f, t);
    for (const auto &[name, v] : x)
      for (size_t i = 0; i < v.size(); ++i)
        EXPECT_NEAR(v[i], y.at(name)[i], 1e-12 * (1 + std::fabs(v[i])))
            << "partial " << name << "[" << i << "]";
  }
  expectSameStep(testing::tinyConvModel(2), "tiny conv");
  expectSameStep(batchNormPoolModel("relu"), "batch norm, relu, pool");
  expectSameStep(batchNormPoolModel("relu", 0, 10),
                 "batch norm, relu, pool covering the image");
  expectSameStep(batchNormPoolModel("linear"), "batch norm, linear, pool");
  expectSameStep(batchNormPoolModel("tanh"), "batch norm, tanh, pool");
  expectSameStep(testing::samePaddingAvgPoolModel(2), "same padding");
  expectSameStep(testing::dropoutModel(3), "dropout");
}

// cnnc-opt runs it by name.
TEST(Fusion, IsRegisteredAsAPass) {
  const PassInfo *p = findPass("fusion");
  ASSERT_NE(p, nullptr);
  ir::Graph g = trainingGraph(testing::tutorialModel(2));
  PassContext ctx;
  ASSERT_TRUE(p->run(g, PassOptions{}, ctx).ok());
  EXPECT_EQ(countOps(g, OpKind::Conv2DBackwardFilterFused, kArgmaxGradBiasGrad),
            1);
}

} // namespace
} // namespace cnnc::passes
