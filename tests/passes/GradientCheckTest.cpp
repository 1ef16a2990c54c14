// Numeric gradient checks of the whole autodiff, without the JIT: the
// reference interpreter runs the training graph with SGD at learning rate 1
// (so a param's gradient is its value before minus after the step) and
// compares every param element against central finite differences of the
// loss, computed by the same interpreter.
#include "common/Interpreter.h"
#include "frontend/Frontend.h"
#include "passes/Autodiff.h"
#include "passes/EvalGraph.h"
#include "passes/TestModels.h"

#include "ir/Printer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>

namespace cnnc::passes {
namespace {

using ir::OpKind;
using ir::ValueId;
using ir::ValueKind;
using testing::Interpreter;

using testing::Tensors;

Tensors randomTensors(const ir::Graph &train, uint32_t seed) {
  return testing::randomStepTensors(train, seed, /*paramScale=*/0.7);
}

// Runs g on the tensors; returns the interpreter (params updated in place).
std::unique_ptr<Interpreter> run(const ir::Graph &g, const Tensors &t) {
  auto in = std::make_unique<Interpreter>(g);
  for (const auto &[name, data] : t)
    if (g.findValue(name) >= 0)
      in->at(name) = data;
  absl::Status s = in->run();
  EXPECT_TRUE(s.ok()) << s;
  return in;
}

double lossOf(const ir::Graph &g, const Tensors &t) {
  return (*run(g, t))[g.output("loss")][0];
}

// Checks d loss / d param for every param element of `forward`. The finite
// differences use the training graph itself when `fdOnTrainingGraph` (its
// dropout masks are a fixed function of the step), else the eval graph.
void checkGradients(const ir::Graph &forward, bool fdOnTrainingGraph,
                    uint32_t seed = 1,
                    const std::function<void(Tensors &)> &adjust = nullptr) {
  ir::TrainingSpec spec;
  spec.optimizer.kind = ir::OptimizerKind::SGD;
  spec.optimizer.learningRate = 1;
  auto train = buildTrainingGraph(forward, spec);
  ASSERT_TRUE(train.ok()) << train.status();
  auto eval = buildEvalGraph(forward);
  ASSERT_TRUE(eval.ok()) << eval.status();
  const ir::Graph &fdGraph = fdOnTrainingGraph ? *train : *eval;

  Tensors t = randomTensors(*train, seed);
  if (adjust)
    adjust(t);
  std::unique_ptr<Interpreter> after = run(*train, t);
  if (!fdOnTrainingGraph) {
    EXPECT_NEAR((*after)[train->output("loss")][0], lossOf(*eval, t), 1e-12);
  }

  const double eps = 1e-6;
  int checked = 0;
  for (ValueId p : train->valuesOfKind(ValueKind::Param)) {
    const std::string &name = train->value(p).name;
    if (train->value(p).attrs.getInt(ir::AttrName::Trainable, 1) == 0)
      continue; // moving statistics: updated by the step, not trained
    const std::vector<double> &before = t.at(name);
    const std::vector<double> &stepped = (*after)[p];
    double largest = 0;
    for (size_t i = 0; i < before.size(); ++i) {
      double analytic = before[i] - stepped[i]; // SGD, lr 1
      Tensors plus = t, minus = t;
      plus[name][i] += eps;
      minus[name][i] -= eps;
      double numeric =
          (lossOf(fdGraph, plus) - lossOf(fdGraph, minus)) / (2 * eps);
      EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-5 * std::abs(numeric))
          << name << "[" << i << "]";
      largest = std::max(largest, std::abs(analytic));
      ++checked;
    }
    // Not vacuous: every param moves the loss.
    EXPECT_GT(largest, 1e-4) << name;
  }
  EXPECT_GT(checked, 0);
}

TEST(GradientCheck, TinyConvNet) {
  // conv valid + relu, overlapping padded max pool, conv with asymmetric
  // same padding + sigmoid, stride-1 padded average pool, flatten, dense.
  checkGradients(testing::tinyConvModel(2), false);
}

TEST(GradientCheck, SamePaddingStridedConvAndAvgPool) {
  checkGradients(testing::samePaddingAvgPoolModel(3), false);
}

TEST(GradientCheck, ValueUsedThreeTimes) {
  checkGradients(testing::sharedValueModel(3), false);
}

TEST(GradientCheck, AllMatmulTransposes) {
  ir::Graph f = testing::matmulModel(3);
  // The graph covers all four transpose combinations in the forward pass.
  std::set<std::pair<int64_t, int64_t>> combos;
  for (const ir::Op *op : testing::opsOfKind(f, OpKind::MatMul))
    combos.insert({op->attrs.getInt(ir::AttrName::TransposeA),
                   op->attrs.getInt(ir::AttrName::TransposeB)});
  EXPECT_EQ(combos.size(), 4u);
  checkGradients(f, false);
}

TEST(GradientCheck, DropoutUsesItsMask) {
  ir::Graph f = testing::dropoutModel(4);
  checkGradients(f, /*fdOnTrainingGraph=*/true);

  // Structurally: the one dropout's input gradient is mul(dy, mask).
  ir::Graph g = buildTrainingGraph(f, {}).value();
  auto muls = testing::opsOfKind(g, OpKind::Mul);
  ASSERT_EQ(muls.size(), 1u);
  const ir::Op &drop = *testing::opsOfKind(g, OpKind::Dropout)[0];
  EXPECT_EQ(muls[0]->operands[1], drop.results[1]);
  // It feeds the relu's gradient below the dropout.
  const ir::Op &ag = *testing::opsOfKind(g, OpKind::ActivationGrad)[0];
  EXPECT_EQ(ag.operands[1], muls[0]->results[0]);

  // The masks really drop something at this step, so the check above
  // covered zeroed and scaled units.
  Tensors t = randomTensors(g, 1);
  std::unique_ptr<Interpreter> in = run(g, t);
  const std::vector<double> &mask = (*in)[drop.results[1]];
  EXPECT_GT(std::count(mask.begin(), mask.end(), 0.0), 0);
  EXPECT_GT(std::count(mask.begin(), mask.end(), 2.0), 0);
}

TEST(GradientCheck, TutorialShapesAtTinyBatch) {
  // The real model's graph structure, checked on a few elements only (the
  // full check would take minutes): the last dense layer and first conv.
  ir::Graph f = testing::tutorialModel(1);
  ir::TrainingSpec spec;
  spec.optimizer.kind = ir::OptimizerKind::SGD;
  spec.optimizer.learningRate = 1;
  ir::Graph train = buildTrainingGraph(f, spec).value();
  Tensors t = randomTensors(train, 7);
  for (auto &[name, data] : t)
    if (name.find("kernel") != std::string::npos)
      for (double &d : data)
        d *= 0.2; // keep activations moderate through two conv layers
  // With dropout at step 3 the training loss differs from eval; use the
  // training graph for the finite differences.
  std::unique_ptr<Interpreter> after = run(train, t);
  const double eps = 1e-6;
  for (const char *name : {"conv2d.kernel", "conv2d_1.bias", "dense_1.kernel"})
    for (size_t i : {size_t{0}, size_t{5}, size_t{17}}) {
      double analytic = t.at(name)[i] - after->at(name)[i];
      Tensors plus = t, minus = t;
      plus[name][i] += eps;
      minus[name][i] -= eps;
      double numeric = (lossOf(train, plus) - lossOf(train, minus)) / (2 * eps);
      EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-5 * std::abs(numeric))
          << name << "[" << i << "]";
    }
}

TEST(GradientCheck, AdamStepUsesTheGradient) {
  // First Adam step (step = 1): m = (1 - b1) g, v = (1 - b2) g^2 and
  // alpha = lr sqrt(1 - b2) / (1 - b1), so
  // p -= lr sqrt(1 - b2) g / (sqrt(1 - b2) |g| + eps), about lr * sign(g).
  ir::Graph f = testing::dropoutModel(3);
  ir::TrainingSpec sgd;
  sgd.optimizer.kind = ir::OptimizerKind::SGD;
  sgd.optimizer.learningRate = 1;
  ir::Graph gs = buildTrainingGraph(f, sgd).value();
  ir::Graph ga = buildTrainingGraph(f, {}).value();
  Tensors t = randomTensors(gs, 3);
  t["step"] = {1};
  std::unique_ptr<Interpreter> s = run(gs, t);
  t["learning_rate"] = {0.001};
  std::unique_ptr<Interpreter> a = run(ga, t);
  const double lr = 0.001, root = std::sqrt(1 - 0.999), eps = 1e-7;
  int moved = 0;
  for (ValueId p : ga.valuesOfKind(ValueKind::Param)) {
    const std::string &name = ga.value(p).name;
    for (size_t i = 0; i < t.at(name).size(); ++i) {
      double g = t.at(name)[i] - s->at(name)[i];
      double delta = t.at(name)[i] - a->at(name)[i];
      EXPECT_NEAR(delta, lr * root * g / (root * std::abs(g) + eps), 1e-15)
          << name << "[" << i << "]";
      EXPECT_NEAR(a->at(name + ".m")[i], 0.1 * g, 1e-15);
      EXPECT_NEAR(a->at(name + ".v")[i], 0.001 * g * g, 1e-15);
      moved += std::abs(delta) > lr / 2;
    }
  }
  EXPECT_GT(moved, 20);
}

// ---- Batch normalization, global average pooling, leaky_relu, elu ----

// The full batch-norm VJP (through the batch mean and variance), leaky_relu
// and global average pooling. The training loss uses the batch statistics,
// so the finite differences run on the training graph.
TEST(GradientCheck, BatchNormLeakyReluGlobalAvgPool) {
  checkGradients(testing::batchNormConvModel(3), /*fdOnTrainingGraph=*/true);
}

// Rank-2 batch norm over the batch only, without gamma, then elu, then one
// without beta.
TEST(GradientCheck, BatchNormDenseWithoutScaleOrCenterAndElu) {
  checkGradients(testing::batchNormDenseModel(4), /*fdOnTrainingGraph=*/true,
                 5);
}

// The step moves each moving statistic towards the batch's:
// moving = moving * momentum + stat * (1 - momentum), with the biased
// variance, and the optimizer leaves them alone.
TEST(GradientCheck, BatchNormUpdatesMovingStatistics) {
  ir::Graph f = testing::batchNormConvModel(2);
  ir::TrainingSpec spec;
  spec.optimizer.kind = ir::OptimizerKind::SGD;
  spec.optimizer.learningRate = 1;
  ir::Graph train = buildTrainingGraph(f, spec).value();
  Tensors t = randomTensors(train, 11);
  t["bn.moving_mean"] = {0.5, -1, 2};
  t["bn.moving_variance"] = {1, 3, 0.25};
  std::unique_ptr<Interpreter> after = run(train, t);
  const std::vector<double> &conv = after->at("conv");
  int64_t rows = static_cast<int64_t>(conv.size()) / 3;
  for (int64_t c = 0; c < 3; ++c) {
    double mean = 0, var = 0;
    for (int64_t r = 0; r < rows; ++r)
      mean += conv[r * 3 + c] / static_cast<double>(rows);
    for (int64_t r = 0; r < rows; ++r)
      var += std::pow(conv[r * 3 + c] - mean, 2) / static_cast<double>(rows);
    EXPECT_NEAR(after->at("bn.moving_mean")[c],
                t["bn.moving_mean"][c] * 0.9 + mean * 0.1, 1e-12);
    EXPECT_NEAR(after->at("bn.moving_variance")[c],
                t["bn.moving_variance"][c] * 0.9 + var * 0.1, 1e-12);
  }
  // Exactly one update each: no optimizer update of the moving statistics.
  for (const ir::Op &op : train.ops()) {
    if (op.kind == OpKind::SgdUpdate) {
      EXPECT_EQ(train.value(op.operands[0]).name.find("moving"),
                std::string::npos);
    }
  }
}

// ---- gelu, swish and zero padding ----

// conv + gelu, pad2d, conv + swish, dense, on random shapes and paddings.
// gelu's and swish's gradients read the activation's input, pad2d's crops.
ir::Graph geluSwishPadModel(std::mt19937 &rng) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng() % (hi - lo + 1));
  };
  testing::ModelBuilder m("gelu_swish_pad",
                          {pick(1, 2), pick(3, 5), pick(3, 5), pick(1, 2)});
  ValueId h = m.conv("conv", m.x(), pick(1, 3), 2, 1, false, "gelu");
  std::vector<int64_t> pad{pick(0, 2), pick(0, 2), pick(0, 2), pick(0, 2)};
  h = m.graph()
          .create1(OpKind::Pad2D, {h}, {{ir::AttrName::Padding, pad}}, {},
                   "pad")
          .value();
  h = m.conv("conv_1", h, 2, 2, 1, false, "swish");
  h = m.flatten("flatten", h);
  return m.finish(m.dense("out", h, 3));
}

// softplus fused into a conv epilogue and on its own after a dense layer.
TEST(GradientCheck, Softplus) {
  std::mt19937 rng(43);
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    int64_t batch = 1 + static_cast<int64_t>(rng() % 2);
    int64_t size = 3 + static_cast<int64_t>(rng() % 3);
    testing::ModelBuilder m("softplus", {batch, size, size, 1});
    ValueId h = m.conv("conv", m.x(), 2, 2, 1, false, "softplus");
    h = m.flatten("flatten", h);
    h = m.dense("dense", h, 4);
    h = m.activation("act", h, "softplus");
    ir::Graph f = m.finish(m.dense("out", h, 3));
    SCOPED_TRACE(ir::printGraph(f));
    checkGradients(f, false, seed);
  }
}

// global_max_pooling2d as the frontend lowers it (a max_pool2d over the
// whole image, then flat), on random image sizes.
TEST(GradientCheck, GlobalMaxPooling2DLayer) {
  for (int size : {3, 4, 6}) {
    std::string source =
        fmt::format("model g {{\n  input shape=({}, {}, 2)\n  conv2d 3 2 "
                    "activation=tanh\n  global_max_pooling2d\n  dense 4 "
                    "activation=softmax\n}}\n",
                    size, size + 1);
    frontend::ParseResult r = frontend::parseProgram(source, "g.dsl");
    ASSERT_TRUE(r.program) << r.error->str();
    ir::TrainingSpec spec = frontend::trainingSpec(*r.program);
    spec.fit.batchSize = 2;
    frontend::LowerResult l = frontend::lowerModel(*r.program, spec);
    ASSERT_TRUE(l.model) << l.error->str();
    SCOPED_TRACE(ir::printGraph(l.model->forward));
    EXPECT_EQ(testing::countOps(l.model->forward, OpKind::MaxPool2D), 1);
    checkGradients(l.model->forward, false, static_cast<uint32_t>(size));
  }
}

TEST(GradientCheck, GeluSwishAndPad2D) {
  std::mt19937 rng(41);
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    ir::Graph f = geluSwishPadModel(rng);
    SCOPED_TRACE(ir::printGraph(f));
    checkGradients(f, false, seed);

    // The gradient ops read what the table says: gelu and swish their
    // input, and pad2d's gradient is a pad2d_grad of the same padding.
    ir::Graph g = buildTrainingGraph(f, {}).value();
    auto grads = testing::opsOfKind(g, OpKind::ActivationGrad);
    ASSERT_EQ(grads.size(), 2u);
    for (const ir::Op *fwd : testing::opsOfKind(g, OpKind::Activation)) {
      int matched = 0;
      for (const ir::Op *ag : grads)
        matched +=
            ag->attrs == fwd->attrs && ag->operands[0] == fwd->operands[0];
      EXPECT_EQ(matched, 1) << fwd->attrs.getString(ir::AttrName::Kind);
    }
    auto crops = testing::opsOfKind(g, OpKind::Pad2DGrad);
    ASSERT_EQ(crops.size(), 1u);
    EXPECT_EQ(crops[0]->attrs, testing::opsOfKind(g, OpKind::Pad2D)[0]->attrs);
  }
}

// ---- Augmentation and rescaling ----

// random_rotation and random_translation at the input (no gradient: before
// every weight), then conv, rescaling between two layers with weights (its
// gradient is scale * dy), dense. The finite differences run on the
// training graph, whose augmentations are a fixed function of the step.
ir::Graph augmentedModel(std::mt19937 &rng) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng() % (hi - lo + 1));
  };
  testing::ModelBuilder m("augmented",
                          {pick(1, 2), pick(4, 6), pick(4, 6), pick(1, 2)});
  ir::Attrs resample{{ir::AttrName::FillMode, std::string("reflect")},
                     {ir::AttrName::Interpolation, std::string("bilinear")},
                     {ir::AttrName::FillValue, 0.0},
                     {ir::AttrName::Seed, int64_t{5}},
                     {ir::AttrName::Salt, int64_t{0}}};
  ir::Attrs rotation = resample;
  rotation.set(ir::AttrName::Lower, -0.1);
  rotation.set(ir::AttrName::Upper, 0.1);
  ValueId h = m.graph()
                  .create1(OpKind::RandomRotation, {m.x(), m.step()}, rotation,
                           {}, "rot")
                  .value();
  ir::Attrs shift = resample;
  shift.set(ir::AttrName::Salt, int64_t{1});
  for (ir::AttrName k : {ir::AttrName::HeightLower, ir::AttrName::HeightUpper})
    shift.set(k, -0.2);
  for (ir::AttrName k : {ir::AttrName::WidthLower, ir::AttrName::WidthUpper})
    shift.set(k, 0.2);
  h = m.graph()
          .create1(OpKind::RandomTranslation, {h, m.step()}, shift, {}, "shift")
          .value();
  h = m.conv("conv", h, pick(1, 3), 2, 1, false, "tanh");
  h = m.graph()
          .create1(OpKind::Rescale, {h},
                   {{ir::AttrName::Scale, -1.5 + 0.5 * pick(0, 2)},
                    {ir::AttrName::Offset, 0.25}},
                   {}, "rescale")
          .value();
  h = m.flatten("flatten", h);
  return m.finish(m.dense("out", h, 3));
}

TEST(GradientCheck, RescalingAfterWeightsAndAugmentationAtTheInput) {
  std::mt19937 rng(43);
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    ir::Graph f = augmentedModel(rng);
    SCOPED_TRACE(ir::printGraph(f));
    checkGradients(f, true, seed);
    ir::Graph g = buildTrainingGraph(f, {}).value();
    // rescale's gradient is a rescale of dy by the same scale, offset 0.
    auto rescales = testing::opsOfKind(g, OpKind::Rescale);
    ASSERT_EQ(rescales.size(), 2u);
    EXPECT_EQ(rescales[1]->attrs.getFloat(ir::AttrName::Scale),
              rescales[0]->attrs.getFloat(ir::AttrName::Scale));
    EXPECT_EQ(rescales[1]->attrs.getFloat(ir::AttrName::Offset), 0.0);
  }
}

// In evaluation and prediction the random augmentations are the identity
// (gone from the graph) and random_crop crops deterministically.
TEST(GradientCheck, EvalAndPredictDropAugmentations) {
  testing::ModelBuilder m("crop", {2, 7, 6, 1});
  ValueId h = m.graph()
                  .create1(OpKind::RandomFlip, {m.x(), m.step()},
                           {{ir::AttrName::Mode, std::string("horizontal")},
                            {ir::AttrName::Seed, int64_t{1}},
                            {ir::AttrName::Salt, int64_t{0}}},
                           {}, "flip")
                  .value();
  h = m.graph()
          .create1(OpKind::RandomCrop, {h, m.step()},
                   {{ir::AttrName::Height, int64_t{5}},
                    {ir::AttrName::Width, int64_t{4}},
                    {ir::AttrName::Training, int64_t{1}},
                    {ir::AttrName::Seed, int64_t{1}},
                    {ir::AttrName::Salt, int64_t{1}}},
                   {}, "crop")
          .value();
  h = m.flatten("flatten", h);
  ir::Graph f = m.finish(m.dense("out", h, 3));
  ir::Graph train = buildTrainingGraph(f, {}).value();
  EXPECT_EQ(testing::opsOfKind(train, OpKind::RandomFlip).size(), 1u);
  ASSERT_EQ(testing::opsOfKind(train, OpKind::RandomCrop).size(), 1u);
  EXPECT_EQ(testing::opsOfKind(train, OpKind::RandomCrop)[0]->attrs.getInt(
                ir::AttrName::Training),
            1);
  for (auto built : {buildEvalGraph(f), buildPredictGraph(f)}) {
    ASSERT_TRUE(built.ok()) << built.status();
    EXPECT_TRUE(testing::opsOfKind(*built, OpKind::RandomFlip).empty());
    auto crops = testing::opsOfKind(*built, OpKind::RandomCrop);
    ASSERT_EQ(crops.size(), 1u);
    EXPECT_EQ(crops[0]->attrs.getInt(ir::AttrName::Training), 0);
    // The crop reads %x directly now.
    EXPECT_EQ(built->value(crops[0]->operands[0]).name, "x");
  }
}

// trainable=false as the frontend lowers it: a frozen conv at the bottom,
// a trainable conv, a frozen batch normalization (batch_norm_inference on
// constant statistics, gamma and beta), a trainable dense head. The
// gradient passes through the frozen batch normalization
// (batch_norm_inference_grad) to the conv below it, and nothing is
// computed for frozen weights or below the lowest trainable layer.
TEST(GradientCheck, FrozenLayersGetNoUpdateAndPassTheGradientOn) {
  testing::ModelBuilder m("frozen", {3, 5, 5, 2});
  ir::Graph &g = m.graph();
  auto frozen = [&](const std::string &name, std::vector<int64_t> shape) {
    return g.addParam(name, ir::f32(std::move(shape)),
                      ir::Attrs{{ir::AttrName::Trainable, int64_t{0}}});
  };
  ir::Attrs valid{{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
                  {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}};
  ValueId h =
      g.create1(OpKind::Conv2D, {m.x(), frozen("c0.kernel", {2, 2, 2, 3})},
                valid, {}, "c0")
          .value(); // 4x4x3
  h = g.create1(OpKind::Conv2D, {h, m.param("c1.kernel", {2, 2, 3, 3})}, valid,
                {}, "c1")
          .value(); // 3x3x3
  h = g.create1(OpKind::BatchNormInference,
                {h, frozen("bn.moving_mean", {3}),
                 frozen("bn.moving_variance", {3}), frozen("bn.gamma", {3}),
                 frozen("bn.beta", {3})},
                {{ir::AttrName::Epsilon, 1e-3},
                 {ir::AttrName::Scale, int64_t{1}},
                 {ir::AttrName::Center, int64_t{1}}},
                {}, "bn")
          .value();
  h = m.activation("act", h, "leaky_relu", 0.3);
  ir::Graph f = m.finish(m.dense("out", m.flatten("flatten", h), 4));
  checkGradients(f, /*fdOnTrainingGraph=*/false, 3, [](Tensors &t) {
    for (double &v : t.at("bn.moving_variance"))
      v = std::abs(v) + 0.2; // a variance
  });

  ir::TrainingSpec spec;
  spec.optimizer.kind = ir::OptimizerKind::SGD;
  ir::Graph train = buildTrainingGraph(f, spec).value();
  EXPECT_EQ(testing::opsOfKind(train, OpKind::BatchNormInferenceGrad).size(),
            1u);
  // c1's kernel gradient only: no input gradient for c1 (c0 is frozen), and
  // nothing at all for c0.
  EXPECT_TRUE(testing::opsOfKind(train, OpKind::Conv2DBackwardData).empty());
  ASSERT_EQ(testing::opsOfKind(train, OpKind::Conv2DBackwardFilter).size(), 1u);
  std::set<std::string> updated;
  for (const ir::Op *op : testing::opsOfKind(train, OpKind::SgdUpdate))
    updated.insert(train.value(op->operands[0]).name);
  EXPECT_EQ(updated,
            (std::set<std::string>{"c1.kernel", "out.kernel", "out.bias"}));
}

} // namespace
} // namespace cnnc::passes
