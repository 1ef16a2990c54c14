#include "frontend/Frontend.h"
#include "ir/Verifier.h"

#include <array>
#include <gtest/gtest.h>

namespace cnnc::frontend {
namespace {

using ir::OpKind;

LoweredModel lowerOk(const std::string &source,
                     std::optional<int64_t> batch = std::nullopt) {
  ParseResult r = parseProgram(source, "t.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  if (!r.program)
    return LoweredModel{ir::Graph(""), {}};
  ir::TrainingSpec spec = trainingSpec(*r.program);
  if (batch)
    spec.fit.batchSize = *batch;
  LowerResult l = lowerModel(*r.program, spec);
  EXPECT_FALSE(l.error) << l.error->str();
  if (!l.model)
    return LoweredModel{ir::Graph(""), {}};
  absl::Status s = ir::verifyGraph(l.model->forward);
  EXPECT_TRUE(s.ok()) << std::string(s.message());
  return *std::move(l.model);
}

LoweredModel lowerTutorial() {
  ParseResult r = parseFile(CNNC_SOURCE_DIR "/models/mnist.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  ir::TrainingSpec spec = trainingSpec(*r.program);
  LowerResult l = lowerModel(*r.program, spec);
  EXPECT_FALSE(l.error) << l.error->str();
  return *std::move(l.model);
}

std::string model(const std::string &layers,
                  const std::string &shape = "(28, 28, 1)") {
  return "model m {\n  input shape=" + shape + "\n" + layers +
         "  flatten\n  dense units=10 activation=softmax\n}\n";
}

const ir::Op *findOp(const ir::Graph &g, OpKind kind, int nth = 0) {
  for (const ir::Op &op : g.ops())
    if (op.kind == kind && nth-- == 0)
      return &op;
  return nullptr;
}

std::vector<OpKind> opKinds(const ir::Graph &g) {
  std::vector<OpKind> out;
  for (const ir::Op &op : g.ops())
    out.push_back(op.kind);
  return out;
}

TEST(Lowering, TutorialShapesAndParamsMatchKeras) {
  LoweredModel m = lowerTutorial();
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> params;
  std::vector<std::string> types;
  int64_t total = 0;
  for (const LayerSummary &l : m.layers) {
    shapes.push_back(l.outputShape);
    params.push_back(l.params);
    types.push_back(l.type);
    total += l.params;
  }
  EXPECT_EQ(shapes, (std::vector<std::vector<int64_t>>{{26, 26, 32},
                                                       {13, 13, 32},
                                                       {13, 13, 32},
                                                       {11, 11, 64},
                                                       {5, 5, 64},
                                                       {5, 5, 64},
                                                       {1600},
                                                       {128},
                                                       {10}}));
  EXPECT_EQ(params,
            (std::vector<int64_t>{320, 0, 0, 18496, 0, 0, 0, 204928, 1290}));
  EXPECT_EQ(total, 225034);
  EXPECT_EQ(types,
            (std::vector<std::string>{"Conv2D", "MaxPooling2D", "Dropout",
                                      "Conv2D", "MaxPooling2D", "Dropout",
                                      "Flatten", "Dense", "Dense"}));
  EXPECT_EQ(m.layers[3].name, "conv2d_1");
}

TEST(Lowering, TutorialGraphConventions) {
  LoweredModel m = lowerTutorial();
  const ir::Graph &g = m.forward;
  EXPECT_EQ(g.name(), "mnist_cnn");
  ASSERT_TRUE(ir::verifyGraph(g).ok());

  std::vector<ir::ValueId> inputs = g.valuesOfKind(ir::ValueKind::Input);
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(g.value(inputs[0]).name, "x");
  EXPECT_EQ(g.type(inputs[0]), ir::f32({32, 28, 28, 1}));
  EXPECT_EQ(g.value(inputs[1]).name, "step");
  EXPECT_EQ(g.type(inputs[1]), ir::i32({}));

  std::vector<std::string> params;
  int64_t paramElements = 0;
  for (ir::ValueId v : g.valuesOfKind(ir::ValueKind::Param)) {
    params.push_back(g.value(v).name);
    paramElements += g.type(v).numElements();
  }
  EXPECT_EQ(params, (std::vector<std::string>{
                        "conv2d.kernel", "conv2d.bias", "conv2d_1.kernel",
                        "conv2d_1.bias", "dense.kernel", "dense.bias",
                        "dense_1.kernel", "dense_1.bias"}));
  EXPECT_EQ(paramElements, 225034);

  const ir::Value &k1 = g.value(g.findValue("conv2d_1.kernel"));
  EXPECT_EQ(k1.type, ir::f32({3, 3, 32, 64}));
  EXPECT_EQ(k1.attrs.getString(ir::AttrName::Init), "glorot_uniform");
  EXPECT_EQ(k1.attrs.getInt(ir::AttrName::FanIn), 3 * 3 * 32);
  EXPECT_EQ(k1.attrs.getInt(ir::AttrName::FanOut), 3 * 3 * 64);
  const ir::Value &dk = g.value(g.findValue("dense.kernel"));
  EXPECT_EQ(dk.type, ir::f32({1600, 128}));
  EXPECT_EQ(dk.attrs.getInt(ir::AttrName::FanIn), 1600);
  EXPECT_EQ(dk.attrs.getInt(ir::AttrName::FanOut), 128);
  const ir::Value &db = g.value(g.findValue("dense.bias"));
  EXPECT_EQ(db.type, ir::f32({128}));
  EXPECT_EQ(db.attrs.getString(ir::AttrName::Init), "zeros");

  using K = OpKind;
  EXPECT_EQ(opKinds(g),
            (std::vector<K>{K::Conv2D, K::BiasAdd, K::Activation, K::MaxPool2D,
                            K::Dropout, K::Conv2D, K::BiasAdd, K::Activation,
                            K::MaxPool2D, K::Dropout, K::Reshape, K::MatMul,
                            K::BiasAdd, K::Activation, K::MatMul, K::BiasAdd,
                            K::Softmax}));

  const ir::Op *conv = findOp(g, K::Conv2D);
  EXPECT_EQ(conv->attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(conv->attrs.getInts(ir::AttrName::Strides),
            (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(conv->loc.file, CNNC_SOURCE_DIR "/models/mnist.dsl");
  EXPECT_EQ(conv->loc.line, 4);
  EXPECT_EQ(conv->loc.col, 3);
  EXPECT_EQ(findOp(g, K::Activation)->attrs.getString(ir::AttrName::Kind),
            "relu");
  const ir::Op *pool = findOp(g, K::MaxPool2D, 1);
  EXPECT_EQ(pool->attrs.getInts(ir::AttrName::PoolSize),
            (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(pool->attrs.getInts(ir::AttrName::Strides),
            (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(pool->loc.line, 8);
  EXPECT_EQ(g.value(pool->results[0]).name, "max_pooling2d_1");

  const ir::Op *drop0 = findOp(g, K::Dropout, 0);
  const ir::Op *drop1 = findOp(g, K::Dropout, 1);
  EXPECT_DOUBLE_EQ(drop0->attrs.getFloat(ir::AttrName::Rate), 0.25);
  EXPECT_EQ(drop0->attrs.getInt(ir::AttrName::Seed, -1), 0);
  EXPECT_EQ(drop0->attrs.getInt(ir::AttrName::Salt, -1), 2); // layer index
  EXPECT_EQ(drop1->attrs.getInt(ir::AttrName::Salt, -1), 5);
  EXPECT_EQ(drop0->operands[1], g.findValue("step"));
  EXPECT_EQ(g.value(drop0->results[0]).name, "dropout");

  const ir::Op *reshape = findOp(g, K::Reshape);
  EXPECT_EQ(reshape->attrs.getInts(ir::AttrName::Shape),
            (std::vector<int64_t>{32, 1600}));
  EXPECT_EQ(g.value(reshape->results[0]).name, "flatten");

  ir::ValueId probs = g.output("probs"), logits = g.output("logits");
  ASSERT_GE(probs, 0);
  ASSERT_GE(logits, 0);
  EXPECT_EQ(g.value(probs).name, "dense_1");
  EXPECT_EQ(g.type(probs), ir::f32({32, 10}));
  const ir::Op &softmax = g.ops()[g.value(probs).definingOp];
  EXPECT_EQ(softmax.kind, K::Softmax);
  EXPECT_EQ(softmax.operands[0], logits);
  EXPECT_EQ(g.ops()[g.value(logits).definingOp].kind, K::BiasAdd);
}

TEST(Lowering, BatchSizeAndSeedComeFromTheSpec) {
  ParseResult r = parseFile(CNNC_SOURCE_DIR "/models/mnist.dsl");
  ASSERT_FALSE(r.error);
  ir::TrainingSpec spec = trainingSpec(*r.program);
  spec.fit.batchSize = 7;
  spec.fit.seed = 1234;
  LowerResult l = lowerModel(*r.program, spec);
  ASSERT_FALSE(l.error) << l.error->str();
  const ir::Graph &g = l.model->forward;
  EXPECT_EQ(g.type(g.findValue("x")), ir::f32({7, 28, 28, 1}));
  EXPECT_EQ(findOp(g, OpKind::Reshape)->attrs.getInts(ir::AttrName::Shape),
            (std::vector<int64_t>{7, 1600}));
  EXPECT_EQ(findOp(g, OpKind::Dropout)->attrs.getInt(ir::AttrName::Seed), 1234);
  EXPECT_EQ(g.type(g.output("probs")), ir::f32({7, 10}));
}

TEST(Lowering, SamePaddingPutsTheOddCellBottomRight) {
  LoweredModel m =
      lowerOk(model("  conv2d filters=4 kernel_size=3 strides=2 padding=same\n"
                    "  conv2d filters=4 kernel_size=5 padding=same\n"
                    "  max_pooling2d padding=same\n"
                    "  average_pooling2d pool_size=(2, 3) strides=1 "
                    "padding=same\n"));
  EXPECT_EQ(m.layers[0].outputShape, (std::vector<int64_t>{14, 14, 4}));
  EXPECT_EQ(m.layers[1].outputShape, (std::vector<int64_t>{14, 14, 4}));
  EXPECT_EQ(m.layers[2].outputShape, (std::vector<int64_t>{7, 7, 4}));
  EXPECT_EQ(m.layers[3].outputShape, (std::vector<int64_t>{7, 7, 4}));
  const ir::Graph &g = m.forward;
  // 28 -> 14 with a 3-wide window at stride 2 needs (14-1)*2+3-28 = 1 cell.
  EXPECT_EQ(findOp(g, OpKind::Conv2D, 0)->attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(findOp(g, OpKind::Conv2D, 1)->attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(findOp(g, OpKind::MaxPool2D)->attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{0, 0, 0, 0}));
  // 2x3 at stride 1: 1 row (bottom), 2 columns (one each side).
  const ir::Op *avg = findOp(g, OpKind::AvgPool2D);
  ASSERT_TRUE(avg);
  EXPECT_EQ(avg->attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{0, 1, 1, 1}));
  EXPECT_EQ(avg->attrs.getInts(ir::AttrName::PoolSize),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(avg->attrs.getInts(ir::AttrName::Strides),
            (std::vector<int64_t>{1, 1}));
}

TEST(Lowering, SamePaddingOnOddSizes) {
  LoweredModel m = lowerOk(model("  max_pooling2d padding=same\n"
                                 "  conv2d filters=2 kernel_size=(1, 2) "
                                 "strides=(1, 3) padding=same\n",
                                 "(7, 7, 1)"));
  // 7 -> 4: (4-1)*2+2-7 = 1 extra cell, after.
  EXPECT_EQ(m.layers[0].outputShape, (std::vector<int64_t>{4, 4, 1}));
  EXPECT_EQ(findOp(m.forward, OpKind::MaxPool2D)
                ->attrs.getInts(ir::AttrName::Padding),
            (std::vector<int64_t>{0, 0, 1, 1}));
  // Width 4 at stride 3 -> 2: (2-1)*3+2-4 = 1; height needs none.
  EXPECT_EQ(m.layers[1].outputShape, (std::vector<int64_t>{4, 2, 2}));
  EXPECT_EQ(
      findOp(m.forward, OpKind::Conv2D)->attrs.getInts(ir::AttrName::Padding),
      (std::vector<int64_t>{0, 0, 0, 1}));
}

TEST(Lowering, ValidStridedShapes) {
  LoweredModel m = lowerOk(model("  conv2d filters=3 kernel_size=(5, 3) "
                                 "strides=(2, 3)\n"
                                 "  max_pooling2d pool_size=3 strides=2\n"));
  // (28-5)/2+1 = 12, (28-3)/3+1 = 9; then (12-3)/2+1 = 5, (9-3)/2+1 = 4.
  EXPECT_EQ(m.layers[0].outputShape, (std::vector<int64_t>{12, 9, 3}));
  EXPECT_EQ(m.layers[0].params, 5 * 3 * 1 * 3 + 3);
  EXPECT_EQ(m.layers[1].outputShape, (std::vector<int64_t>{5, 4, 3}));
}

TEST(Lowering, NoBiasNoActivationAndIdentityDropout) {
  LoweredModel m = lowerOk("model m {\n"
                           "  input shape=(6, 6, 2)\n"
                           "  conv2d filters=3 kernel_size=3 use_bias=false\n"
                           "  dropout rate=0\n"
                           "  flatten\n"
                           "  dense units=4 activation=tanh use_bias=false\n"
                           "  dense units=2 activation=sigmoid\n"
                           "  dense units=3 activation=softmax "
                           "use_bias=false\n"
                           "}\n");
  const ir::Graph &g = m.forward;
  using K = OpKind;
  EXPECT_EQ(opKinds(g), (std::vector<K>{K::Conv2D, K::Reshape, K::MatMul,
                                        K::Activation, K::MatMul, K::BiasAdd,
                                        K::Activation, K::MatMul, K::Softmax}));
  EXPECT_EQ(m.layers[0].params, 3 * 3 * 2 * 3);
  EXPECT_EQ(m.layers[1].params, 0);
  EXPECT_EQ(m.layers[1].outputShape, (std::vector<int64_t>{4, 4, 3}));
  EXPECT_EQ(m.layers[3].params, 48 * 4);
  EXPECT_EQ(m.layers[4].params, 4 * 2 + 2);
  EXPECT_EQ(g.findValue("conv2d.bias"), -1);
  EXPECT_EQ(g.value(findOp(g, K::Conv2D)->results[0]).name, "conv2d");
  EXPECT_EQ(findOp(g, K::Activation, 0)->attrs.getString(ir::AttrName::Kind),
            "tanh");
  EXPECT_EQ(findOp(g, K::Activation, 1)->attrs.getString(ir::AttrName::Kind),
            "sigmoid");
  EXPECT_EQ(g.value(g.output("logits")).name, "dense_2.logits");
  EXPECT_EQ(g.value(g.output("probs")).name, "dense_2");
}

TEST(Lowering, FlattenOfAFlatTensorIsAllowed) {
  LoweredModel m = lowerOk("model m {\n"
                           "  input shape=(4, 4, 1)\n"
                           "  flatten\n"
                           "  dense units=8 activation=relu\n"
                           "  flatten\n"
                           "  dense units=2 activation=softmax\n"
                           "}\n",
                           5);
  EXPECT_EQ(m.layers[2].name, "flatten_1");
  EXPECT_EQ(m.layers[2].outputShape, (std::vector<int64_t>{8}));
  EXPECT_EQ(
      findOp(m.forward, OpKind::Reshape, 1)->attrs.getInts(ir::AttrName::Shape),
      (std::vector<int64_t>{5, 8}));
}

TEST(Lowering, IdxDatasetSkipsTheMnistChecks) {
  LoweredModel m = lowerOk("model m {\n  input shape=(32, 32, 3)\n  flatten\n"
                           "  dense units=5 activation=softmax\n}\n"
                           "fit dataset=idx(\"data/x-\")\n");
  EXPECT_EQ(m.layers.back().outputShape, (std::vector<int64_t>{5}));
}

TEST(Lowering, ExampleModels) {
  for (const char *name : {"mnist_small", "mnist_same"}) {
    ParseResult r =
        parseFile(std::string(CNNC_SOURCE_DIR "/models/") + name + ".dsl");
    ASSERT_FALSE(r.error) << r.error->str();
    LowerResult l = lowerModel(*r.program, trainingSpec(*r.program));
    ASSERT_FALSE(l.error) << l.error->str();
    EXPECT_TRUE(ir::verifyGraph(l.model->forward).ok());
    EXPECT_EQ(l.model->layers.back().outputShape, (std::vector<int64_t>{10}));
  }
}

TEST(Lowering, InvalidBatchSizeFromTheCommandLine) {
  ParseResult r = parseFile(CNNC_SOURCE_DIR "/models/mnist.dsl");
  ir::TrainingSpec spec = trainingSpec(*r.program);
  spec.fit.batchSize = 0;
  LowerResult l = lowerModel(*r.program, spec);
  ASSERT_TRUE(l.error);
  EXPECT_FALSE(l.model);
  EXPECT_EQ(l.error->line, 15); // the fit statement
  EXPECT_EQ(l.error->message,
            "batch_size must be between 1 and 2147483647, got 0");
}

TEST(Lowering, HandBuiltProgramsAreCheckedToo) {
  ParseResult r = parseFile(CNNC_SOURCE_DIR "/models/mnist.dsl");
  Program p = *r.program;
  p.model.layers[0].strides = {0, 1};
  LowerResult l = lowerModel(p, trainingSpec(p));
  ASSERT_TRUE(l.error);
  EXPECT_EQ(l.error->message, "conv2d: invalid conv2d settings");
  p = *r.program;
  p.model.inputShape = {28, 0, 1};
  l = lowerModel(p, trainingSpec(p));
  ASSERT_TRUE(l.error);
  EXPECT_EQ(l.error->message, "input: shape 28x0x1 is not positive");
}

std::vector<std::string> splitLines(const std::string &s) {
  std::vector<std::string> lines;
  size_t begin = 0, nl;
  while ((nl = s.find('\n', begin)) != std::string::npos) {
    lines.push_back(s.substr(begin, nl - begin));
    begin = nl + 1;
  }
  EXPECT_EQ(begin, s.size()) << "the summary ends with a newline";
  return lines;
}

std::string trimRight(std::string s) {
  while (!s.empty() && s.back() == ' ')
    s.pop_back();
  return s;
}

TEST(Summary, AKerasLikeTableWithAlignedColumns) {
  std::vector<std::string> lines = splitLines(formatSummary(lowerTutorial()));
  ASSERT_EQ(lines.size(), 18u);
  EXPECT_EQ(lines[0], "Model: \"mnist_cnn\"");
  size_t width = lines[1].size();
  EXPECT_GE(width, 65u);
  EXPECT_EQ(lines[1], std::string(width, '_'));
  EXPECT_EQ(lines[3], std::string(width, '='));
  EXPECT_EQ(lines[13], std::string(width, '='));
  EXPECT_EQ(lines[17], std::string(width, '_'));
  size_t shapeCol = lines[2].find("Output Shape");
  size_t paramCol = lines[2].find("Param #");
  EXPECT_EQ(lines[2].substr(0, shapeCol).find(" Layer (type) "), 0u);
  EXPECT_GE(shapeCol, 29u); // Keras's column stops are the minimum
  EXPECT_GE(paramCol - shapeCol, 26u);

  const std::vector<std::array<std::string, 3>> rows = {
      {" conv2d (Conv2D)", "(None, 26, 26, 32)", "320"},
      {" max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"},
      {" dropout (Dropout)", "(None, 13, 13, 32)", "0"},
      {" conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"},
      {" max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"},
      {" dropout_1 (Dropout)", "(None, 5, 5, 64)", "0"},
      {" flatten (Flatten)", "(None, 1600)", "0"},
      {" dense (Dense)", "(None, 128)", "204,928"},
      {" dense_1 (Dense)", "(None, 10)", "1,290"}};
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string &line = lines[4 + i];
    EXPECT_LE(line.size(), width);
    EXPECT_EQ(trimRight(line.substr(0, shapeCol)), rows[i][0]);
    EXPECT_EQ(line[shapeCol - 1], ' ');
    EXPECT_EQ(trimRight(line.substr(shapeCol, paramCol - shapeCol)),
              rows[i][1]);
    EXPECT_EQ(line.substr(paramCol), rows[i][2]);
  }
  EXPECT_EQ(lines[14], "Total params: 225,034");
  EXPECT_EQ(lines[15], "Trainable params: 225,034");
  EXPECT_EQ(lines[16], "Non-trainable params: 0");
}

} // namespace
} // namespace cnnc::frontend
