// The layers batch_normalization, global_average_pooling2d, activation,
// leaky_re_lu and elu, and activation=leaky_relu / elu: parsing, defaults,
// lowering to IR, the summary, and their errors.
#include "frontend/Frontend.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

namespace cnnc::frontend {
namespace {

using ir::OpKind;

std::string model(const std::string &layers,
                  const std::string &shape = "(8, 8, 3)") {
  return "model m {\n  input shape=" + shape + "\n" + layers +
         "  dense units=10 activation=softmax\n}\n";
}

Program parseOk(const std::string &source) {
  ParseResult r = parseProgram(source, "t.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  return r.program ? *r.program : Program{};
}

LoweredModel lowerOk(const std::string &source) {
  Program p = parseOk(source);
  ir::TrainingSpec spec = trainingSpec(p);
  spec.fit.batchSize = 4;
  LowerResult l = lowerModel(p, spec);
  EXPECT_FALSE(l.error) << l.error->str();
  if (!l.model)
    return LoweredModel{ir::Graph(""), {}};
  absl::Status s = ir::verifyGraph(l.model->forward);
  EXPECT_TRUE(s.ok()) << std::string(s.message());
  return *std::move(l.model);
}

std::string error(const std::string &source) {
  ParseResult r = parseProgram(source, "m.dsl");
  if (r.error)
    return r.error->str();
  ir::TrainingSpec spec = trainingSpec(*r.program);
  LowerResult l = lowerModel(*r.program, spec);
  return l.error ? l.error->str() : "(no error)";
}

std::vector<const ir::Op *> ops(const ir::Graph &g, OpKind kind) {
  std::vector<const ir::Op *> out;
  for (const ir::Op &op : g.ops())
    if (op.kind == kind)
      out.push_back(&op);
  return out;
}

TEST(NormLayers, DefaultsAreKeras) {
  Program p = parseOk(model("  batch_normalization\n  leaky_re_lu\n"
                            "  elu\n  activation activation=leaky_relu\n"
                            "  activation activation=elu\n"
                            "  global_average_pooling2d\n"));
  const std::vector<Layer> &l = p.model.layers;
  ASSERT_EQ(l.size(), 7u);
  EXPECT_EQ(l[0].kind, LayerKind::BatchNormalization);
  EXPECT_EQ(l[0].momentum, 0.99);
  EXPECT_EQ(l[0].epsilon, 0.001);
  EXPECT_TRUE(l[0].center);
  EXPECT_TRUE(l[0].scale);
  EXPECT_EQ(l[1].activation, Activation::LeakyRelu);
  EXPECT_EQ(l[1].alpha, 0.3); // keras.layers.LeakyReLU
  EXPECT_EQ(l[2].activation, Activation::Elu);
  EXPECT_EQ(l[2].alpha, 1.0);
  EXPECT_EQ(l[3].alpha, 0.2); // keras.activations.leaky_relu
  EXPECT_EQ(l[4].alpha, 1.0);
  // Keras's default names.
  std::vector<std::string> names;
  for (const Layer &layer : l)
    names.push_back(layer.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"batch_normalization", "leaky_re_lu",
                                      "elu", "activation", "activation_1",
                                      "global_average_pooling2d", "dense"}));
}

TEST(NormLayers, ExplicitArguments) {
  Program p = parseOk(
      model("  batch_normalization momentum=0.9 epsilon=1e-5 center=false "
            "scale=false name=bn\n  leaky_re_lu negative_slope=0.1\n"
            "  elu alpha=0.5\n  flatten\n"));
  const std::vector<Layer> &l = p.model.layers;
  EXPECT_EQ(l[0].name, "bn");
  EXPECT_EQ(l[0].momentum, 0.9);
  EXPECT_EQ(l[0].epsilon, 1e-5);
  EXPECT_FALSE(l[0].center);
  EXPECT_FALSE(l[0].scale);
  EXPECT_EQ(l[1].alpha, 0.1);
  EXPECT_EQ(l[2].alpha, 0.5);
}

TEST(NormLayers, BatchNormalizationAfterConvLowersToTrainingForm) {
  LoweredModel m = lowerOk(model("  conv2d filters=5 kernel_size=3 "
                                 "use_bias=false\n  batch_normalization "
                                 "momentum=0.9\n  activation activation=relu\n"
                                 "  flatten\n"));
  const ir::Graph &g = m.forward;
  // Keras's weight names, initializers and trainability.
  struct Want {
    const char *name, *init;
    bool trainable;
  };
  for (const Want &w :
       {Want{"batch_normalization.gamma", "ones", true},
        Want{"batch_normalization.beta", "zeros", true},
        Want{"batch_normalization.moving_mean", "zeros", false},
        Want{"batch_normalization.moving_variance", "ones", false}}) {
    ir::ValueId v = g.findValue(w.name);
    ASSERT_GE(v, 0) << w.name;
    EXPECT_EQ(g.value(v).kind, ir::ValueKind::Param) << w.name;
    EXPECT_EQ(g.type(v), ir::f32({5})) << w.name;
    EXPECT_EQ(g.value(v).attrs.getString(ir::AttrName::Init), w.init) << w.name;
    EXPECT_EQ(g.value(v).attrs.getInt(ir::AttrName::Trainable, 1),
              w.trainable ? 1 : 0)
        << w.name;
  }
  auto bn = ops(g, OpKind::BatchNorm);
  ASSERT_EQ(bn.size(), 1u);
  EXPECT_EQ(bn[0]->attrs.getFloat(ir::AttrName::Epsilon), 0.001);
  EXPECT_EQ(g.value(bn[0]->results[0]).name, "batch_normalization");
  EXPECT_EQ(g.type(bn[0]->results[0]), ir::f32({4, 6, 6, 5}));
  auto updates = ops(g, OpKind::MovingAverageUpdate);
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0]->operands[0],
            g.findValue("batch_normalization.moving_mean"));
  EXPECT_EQ(updates[0]->operands[1], bn[0]->results[1]);
  EXPECT_EQ(updates[1]->operands[1], bn[0]->results[2]);
  EXPECT_EQ(updates[1]->attrs.getFloat(ir::AttrName::Momentum), 0.9);
  // Summary: 4 * 5 params, of which the 10 moving statistics are not
  // trainable.
  EXPECT_EQ(m.layers[1].type, "BatchNormalization");
  EXPECT_EQ(m.layers[1].params, 20);
  EXPECT_EQ(m.layers[1].nonTrainableParams, 10);
  EXPECT_EQ(m.layers[2].type, "Activation");
  std::string summary = formatSummary(m);
  EXPECT_NE(summary.find("Total params: 1,965\n"), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("Trainable params: 1,955\n"), std::string::npos);
  EXPECT_NE(summary.find("Non-trainable params: 10\n"), std::string::npos);
}

TEST(NormLayers, BatchNormalizationAfterDenseWithoutCenterOrScale) {
  LoweredModel m = lowerOk(
      model("  flatten\n  dense units=6\n  batch_normalization center=false\n"
            "  batch_normalization scale=false\n"));
  const ir::Graph &g = m.forward;
  auto bn = ops(g, OpKind::BatchNorm);
  ASSERT_EQ(bn.size(), 2u);
  EXPECT_EQ(g.type(bn[0]->operands[0]), ir::f32({4, 6}));
  EXPECT_EQ(bn[0]->operands.size(), 2u); // x, gamma
  EXPECT_EQ(bn[0]->attrs.getInt(ir::AttrName::Center), 0);
  EXPECT_LT(g.findValue("batch_normalization.beta"), 0);
  EXPECT_EQ(bn[1]->operands[1], g.findValue("batch_normalization_1.beta"));
  EXPECT_LT(g.findValue("batch_normalization_1.gamma"), 0);
  EXPECT_EQ(m.layers[2].params, 18);
  EXPECT_EQ(m.layers[2].nonTrainableParams, 12);
}

TEST(NormLayers, GlobalAveragePoolingNeedsNoFlatten) {
  LoweredModel m = lowerOk(model("  conv2d filters=7 kernel_size=3\n"
                                 "  global_average_pooling2d\n"));
  auto gap = ops(m.forward, OpKind::GlobalAvgPool2D);
  ASSERT_EQ(gap.size(), 1u);
  EXPECT_EQ(m.forward.type(gap[0]->results[0]), ir::f32({4, 7}));
  EXPECT_EQ(m.layers[1].type, "GlobalAveragePooling2D");
  EXPECT_EQ(m.layers[1].outputShape, (std::vector<int64_t>{7}));
  EXPECT_EQ(m.layers[1].params, 0);
}

TEST(NormLayers, ParametricActivationsCarryTheirParameter) {
  LoweredModel m =
      lowerOk(model("  conv2d filters=2 kernel_size=3 activation=leaky_relu\n"
                    "  leaky_re_lu negative_slope=0.05\n  flatten\n"
                    "  dense units=4 activation=elu\n  elu alpha=0.25\n"
                    "  activation activation=linear\n"));
  auto acts = ops(m.forward, OpKind::Activation);
  ASSERT_EQ(acts.size(), 4u); // linear adds no op
  EXPECT_EQ(acts[0]->attrs.getString(ir::AttrName::Kind), "leaky_relu");
  EXPECT_EQ(acts[0]->attrs.getFloat(ir::AttrName::NegativeSlope), 0.2);
  EXPECT_EQ(acts[1]->attrs.getFloat(ir::AttrName::NegativeSlope), 0.05);
  EXPECT_EQ(acts[2]->attrs.getString(ir::AttrName::Kind), "elu");
  EXPECT_EQ(acts[2]->attrs.getFloat(ir::AttrName::Alpha), 1.0);
  EXPECT_EQ(acts[3]->attrs.getFloat(ir::AttrName::Alpha), 0.25);
  EXPECT_EQ(m.forward.value(acts[1]->results[0]).name, "leaky_re_lu");
  EXPECT_EQ(m.layers[1].type, "LeakyReLU");
  EXPECT_EQ(m.layers[4].type, "ELU");
}

TEST(NormLayers, SoftmaxAsAFinalActivationLayer) {
  LoweredModel m = lowerOk("model m {\n  input shape=(4, 4, 1)\n  flatten\n"
                           "  dense units=3\n  activation activation=softmax\n"
                           "}\n");
  const ir::Graph &g = m.forward;
  ASSERT_EQ(ops(g, OpKind::Softmax).size(), 1u);
  EXPECT_EQ(g.value(g.output("probs")).name, "activation");
  EXPECT_EQ(g.value(g.output("logits")).name, "dense");
}

TEST(NormLayers, Errors) {
  EXPECT_EQ(error(model("  batch_normalization momentum=1.5\n  flatten\n")),
            R"(m.dsl:3:32: error: momentum must be in [0, 1], got 1.5
    batch_normalization momentum=1.5
                                 ^)");
  EXPECT_EQ(error(model("  batch_normalization epsilon=0\n  flatten\n")),
            R"(m.dsl:3:31: error: epsilon must be positive, got 0
    batch_normalization epsilon=0
                                ^)");
  EXPECT_EQ(
      error(model("  batch_normalization axis=-1\n  flatten\n")),
      R"(m.dsl:3:23: error: unknown argument 'axis' for batch_normalization; expected one of momentum, epsilon, center, scale, name, trainable
    batch_normalization axis=-1
                        ^)");
  EXPECT_EQ(error(model("  leaky_re_lu negative_slope=-0.1\n  flatten\n")),
            R"(m.dsl:3:30: error: negative_slope must be at least 0, got -0.1
    leaky_re_lu negative_slope=-0.1
                               ^)");
  EXPECT_EQ(error(model("  elu alpha=relu\n  flatten\n")),
            R"(m.dsl:3:13: error: alpha expects a number, got the name 'relu'
    elu alpha=relu
              ^)");
  EXPECT_EQ(
      error(model("  activation\n  flatten\n")),
      R"(m.dsl:3:3: error: missing required argument 'activation' for activation
    activation
    ^)");
  EXPECT_EQ(
      error(model("  flatten\n  global_average_pooling2d\n")),
      R"(m.dsl:4:3: error: global_average_pooling2d: expects an image input (h, w, c), got 192; global_average_pooling2d cannot follow flatten or dense
    global_average_pooling2d
    ^)");
  EXPECT_EQ(
      error(model("  activation activation=softmax\n  flatten\n")),
      R"(m.dsl:3:25: error: activation: activation=softmax is only supported on the last layer, where the loss uses it
    activation activation=softmax
                          ^)");
  EXPECT_EQ(
      error("model m {\n  input shape=(4, 4, 1)\n"
            "  activation activation=softmax\n}\n"),
      R"(m.dsl:3:25: error: activation: activation=softmax needs a flat input, got 4x4x1; add flatten before it
    activation activation=softmax
                          ^)");
  EXPECT_EQ(
      error("model m {\n  input shape=(4, 4, 1)\n  flatten\n"
            "  dense units=3 activation=softmax\n"
            "  batch_normalization\n}\n"),
      R"(m.dsl:4:28: error: dense: activation=softmax is only supported on the last layer, where the loss uses it
    dense units=3 activation=softmax
                             ^)");
}

// The example model: Keras's summary figures for the same layers.
TEST(NormLayers, MnistBnModel) {
  ParseResult r = parseFile(CNNC_SOURCE_DIR "/models/mnist_bn.dsl");
  ASSERT_FALSE(r.error) << r.error->str();
  LowerResult l = lowerModel(*r.program, trainingSpec(*r.program));
  ASSERT_FALSE(l.error) << l.error->str();
  std::string summary = formatSummary(*l.model);
  EXPECT_NE(summary.find("Total params: 225,322\n"), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("Trainable params: 225,130\n"), std::string::npos);
  EXPECT_NE(summary.find("Non-trainable params: 192\n"), std::string::npos);
}

} // namespace
} // namespace cnnc::frontend
