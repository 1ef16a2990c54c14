// The layer table (frontend/Layers.def) and the activation table
// (ir/Activations.def) as the DSL sees them: positional arguments in
// Keras's order, zero_padding2d, gelu and swish.
#include "frontend/Binder.h"
#include "frontend/Frontend.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

namespace cnnc::frontend {
namespace {

using ir::OpKind;

std::string model(const std::string &layers,
                  const std::string &shape = "(8, 8, 3)") {
  return "model m {\n  input shape=" + shape + "\n" + layers +
         "  flatten\n  dense units=10 activation=softmax\n}\n";
}

LoweredModel lowerOk(const std::string &source) {
  ParseResult r = parseProgram(source, "t.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  if (!r.program)
    return LoweredModel{ir::Graph(""), {}};
  ir::TrainingSpec spec = trainingSpec(*r.program);
  spec.fit.batchSize = 2;
  LowerResult l = lowerModel(*r.program, spec);
  EXPECT_FALSE(l.error) << l.error->str();
  if (!l.model)
    return LoweredModel{ir::Graph(""), {}};
  absl::Status s = ir::verifyGraph(l.model->forward);
  EXPECT_TRUE(s.ok()) << std::string(s.message());
  return *std::move(l.model);
}

std::vector<const ir::Op *> ops(const ir::Graph &g, OpKind kind) {
  std::vector<const ir::Op *> out;
  for (const ir::Op &op : g.ops())
    if (op.kind == kind)
      out.push_back(&op);
  return out;
}

// Positional arguments read as Keras's Conv2D(32, (3, 3), activation='relu')
// and Dense(128) do: the same IR as the named form.
TEST(LayerTable, PositionalArgumentsFollowKerasOrder) {
  std::string named =
      model("  conv2d filters=4 kernel_size=(3, 3) strides=1 padding=same "
            "activation=relu\n  max_pooling2d pool_size=2 strides=1 "
            "padding=valid\n  dropout rate=0.5\n  activation "
            "activation=tanh\n  leaky_re_lu negative_slope=0.1\n  elu "
            "alpha=0.5\n  zero_padding2d padding=(1, 2)\n  flatten\n  dense "
            "units=5 activation=sigmoid use_bias=false\n",
            "(8, 8, 3)");
  std::string positional =
      model("  conv2d 4 (3, 3) 1 same activation=relu\n  max_pooling2d 2 1 "
            "valid\n  dropout 0.5\n  activation tanh\n  leaky_re_lu 0.1\n  "
            "elu 0.5\n  zero_padding2d (1, 2)\n  flatten\n  dense 5 sigmoid "
            "false\n",
            "(8, 8, 3)");
  std::string a = ir::printGraph(lowerOk(named).forward);
  EXPECT_EQ(a, ir::printGraph(lowerOk(positional).forward));
  EXPECT_NE(a.find("pad2d"), std::string::npos) << a;
  // input takes its shape positionally too, as keras.Input((28, 28, 1)).
  EXPECT_EQ(ir::printGraph(
                lowerOk("model m {\n  input (4, 4, 1)\n  flatten\n  dense 10 "
                        "softmax\n}\n")
                    .forward),
            ir::printGraph(lowerOk("model m {\n  input shape=(4, 4, 1)\n  "
                                   "flatten\n  dense units=10 "
                                   "activation=softmax\n}\n")
                               .forward));
}

// Keras ZeroPadding2D's three forms, and its default of 1 on every side.
TEST(LayerTable, ZeroPadding2DForms) {
  struct Case {
    const char *arg;
    std::vector<int64_t> pad; // top, left, bottom, right
  } cases[] = {{"", {1, 1, 1, 1}},
               {" padding=2", {2, 2, 2, 2}},
               {" (1, 3)", {1, 3, 1, 3}},
               {" ((0, 2), (3, 1))", {0, 3, 2, 1}}};
  for (const Case &c : cases) {
    LoweredModel m = lowerOk(
        model(std::string("  zero_padding2d") + c.arg + "\n  conv2d 2 3\n"));
    auto pads = ops(m.forward, OpKind::Pad2D);
    ASSERT_EQ(pads.size(), 1u) << c.arg;
    EXPECT_EQ(pads[0]->attrs.getInts(ir::AttrName::Padding), c.pad) << c.arg;
    int64_t h = 8 + c.pad[0] + c.pad[2], w = 8 + c.pad[1] + c.pad[3];
    EXPECT_EQ(m.forward.type(pads[0]->results[0]), ir::f32({2, h, w, 3}))
        << c.arg;
    EXPECT_EQ(m.forward.value(pads[0]->results[0]).name, "zero_padding2d");
    EXPECT_EQ(m.layers[0].type, "ZeroPadding2D");
    EXPECT_EQ(m.layers[0].outputShape, (std::vector<int64_t>{h, w, 3}));
    EXPECT_EQ(m.layers[0].params, 0);
  }
  // No padding at all adds no op.
  LoweredModel none = lowerOk(model("  zero_padding2d 0\n"));
  EXPECT_TRUE(ops(none.forward, OpKind::Pad2D).empty());
}

// The DSL accepts every name of ir/Activations.def; silu is swish.
TEST(LayerTable, GeluSwishAndSilu) {
  LoweredModel m =
      lowerOk(model("  conv2d 2 3 activation=gelu\n  activation swish\n"
                    "  activation silu\n"));
  auto acts = ops(m.forward, OpKind::Activation);
  ASSERT_EQ(acts.size(), 3u);
  EXPECT_EQ(acts[0]->attrs.getString(ir::AttrName::Kind), "gelu");
  EXPECT_EQ(acts[1]->attrs.getString(ir::AttrName::Kind), "swish");
  EXPECT_EQ(acts[2]->attrs.getString(ir::AttrName::Kind), "swish");
  EXPECT_EQ(acts[0]->attrs.all().size(), 1u); // no parameter
}

// Messages list what the tables hold, in their order.
TEST(LayerTable, KeywordsComeFromTheTable) {
  const std::vector<std::string> &k = layerKeywords();
  ASSERT_EQ(k.size(), static_cast<size_t>(kNumLayerKinds) + 1);
  EXPECT_EQ(k.front(), "input");
  EXPECT_EQ(k.back(), "rescaling");
  for (int i = 0; i < kNumLayerKinds; ++i) {
    auto kind = static_cast<LayerKind>(i);
    EXPECT_EQ(layerKindFromKeyword(layerKeyword(kind)), kind);
  }
  EXPECT_FALSE(layerKindFromKeyword("lstm"));
}

} // namespace
} // namespace cnnc::frontend
