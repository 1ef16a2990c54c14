#include "frontend/Frontend.h"

#include <gtest/gtest.h>

namespace cnnc::frontend {
namespace {

Program parseOk(std::string_view source) {
  ParseResult r = parseProgram(source, "test.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  EXPECT_TRUE(r.program);
  return r.program ? *r.program : Program{};
}

// A model around the given layer lines.
std::string model(const std::string &layers) {
  return "model m {\n  input shape=(28, 28, 1)\n" + layers +
         "  flatten\n  dense units=10 activation=softmax\n}\n";
}

TEST(Parser, TheTutorialModel) {
  ParseResult r = parseFile(CNNC_SOURCE_DIR "/models/mnist.dsl");
  ASSERT_FALSE(r.error) << r.error->str();
  const Program &p = *r.program;
  EXPECT_EQ(p.filename, CNNC_SOURCE_DIR "/models/mnist.dsl");
  const Model &m = p.model;
  EXPECT_EQ(m.name, "mnist_cnn");
  EXPECT_EQ(m.inputShape, (std::array<int64_t, 3>{28, 28, 1}));
  EXPECT_EQ(m.inputLoc.line, 3);
  EXPECT_EQ(m.inputLoc.col, 3);
  ASSERT_EQ(m.layers.size(), 9u);

  std::vector<std::string> names, keywords;
  for (const Layer &l : m.layers) {
    names.push_back(l.name);
    keywords.push_back(layerKeyword(l.kind));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"conv2d", "max_pooling2d",
                                             "dropout", "conv2d_1",
                                             "max_pooling2d_1", "dropout_1",
                                             "flatten", "dense", "dense_1"}));
  EXPECT_EQ(keywords,
            (std::vector<std::string>{"conv2d", "max_pooling2d", "dropout",
                                      "conv2d", "max_pooling2d", "dropout",
                                      "flatten", "dense", "dense"}));

  // Both kernel_size and pool_size forms: (3, 3) and 3, (2, 2) and 2.
  EXPECT_EQ(m.layers[0].filters, 32);
  EXPECT_EQ(m.layers[0].kernelSize, (IntPair{3, 3}));
  EXPECT_EQ(m.layers[0].activation, Activation::Relu);
  EXPECT_EQ(m.layers[3].filters, 64);
  EXPECT_EQ(m.layers[3].kernelSize, (IntPair{3, 3}));
  EXPECT_EQ(m.layers[1].poolSize, (IntPair{2, 2}));
  EXPECT_EQ(m.layers[4].poolSize, (IntPair{2, 2}));
  EXPECT_EQ(m.layers[4].strides, (IntPair{2, 2}));
  EXPECT_DOUBLE_EQ(m.layers[2].rate, 0.25);
  EXPECT_EQ(m.layers[7].units, 128);
  EXPECT_EQ(m.layers[8].units, 10);
  EXPECT_EQ(m.layers[8].activation, Activation::Softmax);
  EXPECT_EQ(m.layers[8].loc.line, 12);

  ASSERT_TRUE(p.compile);
  EXPECT_EQ(p.compile->loss, ir::LossKind::CategoricalCrossentropy);
  EXPECT_EQ(p.compile->optimizer.kind, ir::OptimizerKind::Adam);
  EXPECT_DOUBLE_EQ(p.compile->optimizer.learningRate, 0.001);
  EXPECT_TRUE(p.compile->accuracy);
  ASSERT_TRUE(p.fit);
  ir::TrainingSpec spec = trainingSpec(p);
  EXPECT_EQ(spec.fit.dataset, ir::DatasetKind::Mnist);
  EXPECT_EQ(spec.fit.epochs, 10);
  EXPECT_EQ(spec.fit.batchSize, 32);
  EXPECT_EQ(spec.fit.validation, ir::ValidationKind::Test);
}

TEST(Parser, LayerDefaults) {
  Program p = parseOk(model("  conv2d filters=8 kernel_size=5\n"
                            "  max_pooling2d\n"
                            "  average_pooling2d pool_size=3\n"
                            "  dropout rate=0\n"
                            "  dense units=4\n"));
  const Layer &conv = p.model.layers[0];
  EXPECT_EQ(conv.kernelSize, (IntPair{5, 5}));
  EXPECT_EQ(conv.strides, (IntPair{1, 1}));
  EXPECT_EQ(conv.padding, Padding::Valid);
  EXPECT_EQ(conv.activation, Activation::Linear);
  EXPECT_TRUE(conv.useBias);
  const Layer &maxPool = p.model.layers[1];
  EXPECT_EQ(maxPool.poolSize, (IntPair{2, 2}));
  EXPECT_EQ(maxPool.strides, (IntPair{2, 2}));
  EXPECT_EQ(maxPool.padding, Padding::Valid);
  const Layer &avgPool = p.model.layers[2];
  EXPECT_EQ(avgPool.kind, LayerKind::AveragePooling2D);
  EXPECT_EQ(avgPool.name, "average_pooling2d");
  EXPECT_EQ(avgPool.strides, (IntPair{3, 3})); // strides default to pool_size
  EXPECT_DOUBLE_EQ(p.model.layers[3].rate, 0);
  const Layer &dense = p.model.layers[4];
  EXPECT_EQ(dense.activation, Activation::Linear);
  EXPECT_TRUE(dense.useBias);
  EXPECT_EQ(p.model.layers[6].name, "dense_1");
}

TEST(Parser, EveryLayerArgumentInAnyOrder) {
  Program p = parseOk(model(
      "  conv2d use_bias=false activation=tanh padding=same strides=(2, 1) "
      "kernel_size=(5, 3) filters=16 name=features\n"
      "  max_pooling2d padding=same strides=1 pool_size=(3, 2)\n"
      "  average_pooling2d strides=(1, 2) pool_size=2 name=\"smooth\"\n"
      "  dropout name=drop rate=0.5\n"
      "  dense use_bias=false activation=sigmoid units=7\n"));
  const Layer &conv = p.model.layers[0];
  EXPECT_EQ(conv.name, "features");
  EXPECT_EQ(conv.filters, 16);
  EXPECT_EQ(conv.kernelSize, (IntPair{5, 3}));
  EXPECT_EQ(conv.strides, (IntPair{2, 1}));
  EXPECT_EQ(conv.padding, Padding::Same);
  EXPECT_EQ(conv.activation, Activation::Tanh);
  EXPECT_EQ(conv.activationLoc.col, 36);
  EXPECT_FALSE(conv.useBias);
  const Layer &pool = p.model.layers[1];
  EXPECT_EQ(pool.poolSize, (IntPair{3, 2}));
  EXPECT_EQ(pool.strides, (IntPair{1, 1}));
  EXPECT_EQ(pool.padding, Padding::Same);
  EXPECT_EQ(p.model.layers[2].name, "smooth");
  EXPECT_EQ(p.model.layers[2].strides, (IntPair{1, 2}));
  EXPECT_EQ(p.model.layers[3].name, "drop");
  EXPECT_DOUBLE_EQ(p.model.layers[3].rate, 0.5);
  EXPECT_EQ(p.model.layers[4].units, 7);
  EXPECT_EQ(p.model.layers[4].activation, Activation::Sigmoid);
  EXPECT_FALSE(p.model.layers[4].useBias);
}

TEST(Parser, DefaultNamesCountPerTypeAndSkipExplicitNames) {
  Program p = parseOk("model m {\n"
                      "  input shape=(8, 8, 1)\n"
                      "  dense units=4 name=dense_1\n"
                      "  dense units=4\n"
                      "  dropout rate=0.1\n"
                      "  dense units=4\n"
                      "  dropout rate=0.1 name=dropout\n"
                      "  dense units=4 name=head\n"
                      "  dropout rate=0.1\n"
                      "}\n");
  std::vector<std::string> names;
  for (const Layer &l : p.model.layers)
    names.push_back(l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"dense_1", "dense", "dropout_1",
                                             "dense_2", "dropout", "head",
                                             "dropout_2"}));
}

TEST(Parser, CommentsBlankLinesAndLayout) {
  Program p = parseOk("# leading comment\n"
                      "\n"
                      "model m {   # the model\n"
                      "\n"
                      "  input shape=(28, 28, 1)   # images\n"
                      "  # a whole-line comment\n"
                      "\tflatten\n"
                      "  dense units=10 activation=softmax\n"
                      "}\n"
                      "compile optimizer=sgd(\n"
                      "    learning_rate=0.1,  # step\n"
                      "    momentum=0.9,\n"
                      ")\n"
                      "# done");
  ASSERT_EQ(p.model.layers.size(), 2u);
  EXPECT_EQ(p.model.layers[0].loc.line, 7);
  EXPECT_EQ(p.model.layers[0].loc.col, 2);
  EXPECT_EQ(p.compile->optimizer.kind, ir::OptimizerKind::SGD);
  EXPECT_DOUBLE_EQ(p.compile->optimizer.learningRate, 0.1);
  EXPECT_DOUBLE_EQ(p.compile->optimizer.momentum, 0.9);
}

TEST(Parser, TrainingDefaultsWithoutCompileOrFit) {
  Program p = parseOk(model(""));
  EXPECT_FALSE(p.compile);
  EXPECT_FALSE(p.fit);
  ir::TrainingSpec spec = trainingSpec(p);
  EXPECT_EQ(spec.loss, ir::LossKind::CategoricalCrossentropy);
  EXPECT_EQ(spec.optimizer.kind, ir::OptimizerKind::Adam);
  EXPECT_DOUBLE_EQ(spec.optimizer.learningRate, 0.001);
  EXPECT_DOUBLE_EQ(spec.optimizer.beta1, 0.9);
  EXPECT_DOUBLE_EQ(spec.optimizer.beta2, 0.999);
  EXPECT_DOUBLE_EQ(spec.optimizer.epsilon, 1e-7);
  EXPECT_TRUE(spec.accuracyMetric);
  EXPECT_EQ(spec.fit.dataset, ir::DatasetKind::Mnist);
  EXPECT_EQ(spec.fit.epochs, 1);
  EXPECT_EQ(spec.fit.batchSize, 32);
  EXPECT_EQ(spec.fit.validation, ir::ValidationKind::Test);
  EXPECT_TRUE(spec.fit.shuffle);
  EXPECT_EQ(spec.fit.seed, 0u);
}

TEST(Parser, CompileAndFitDefaultsPerArgument) {
  Program p =
      parseOk(model("") + "compile loss=sparse_categorical_crossentropy\n"
                          "fit epochs=3\n");
  ir::TrainingSpec spec = trainingSpec(p);
  EXPECT_EQ(spec.loss, ir::LossKind::SparseCategoricalCrossentropy);
  EXPECT_EQ(spec.optimizer.kind, ir::OptimizerKind::Adam);
  EXPECT_TRUE(spec.accuracyMetric);
  EXPECT_EQ(spec.fit.epochs, 3);
  EXPECT_EQ(spec.fit.batchSize, 32);
  EXPECT_EQ(spec.fit.dataset, ir::DatasetKind::Mnist);
  EXPECT_FALSE(p.fit->datasetLoc.known());
}

TEST(Parser, Optimizers) {
  auto optimizer = [](const std::string &text) {
    Program p = parseOk(model("") + "compile optimizer=" + text + "\n");
    return trainingSpec(p).optimizer;
  };
  ir::OptimizerSpec sgd = optimizer("sgd");
  EXPECT_EQ(sgd.kind, ir::OptimizerKind::SGD);
  EXPECT_DOUBLE_EQ(sgd.learningRate, 0.01); // Keras's SGD default
  EXPECT_DOUBLE_EQ(sgd.momentum, 0);
  EXPECT_FALSE(sgd.nesterov);
  sgd = optimizer("sgd(nesterov=true, momentum=0.9, learning_rate=0.05)");
  EXPECT_DOUBLE_EQ(sgd.learningRate, 0.05);
  EXPECT_DOUBLE_EQ(sgd.momentum, 0.9);
  EXPECT_TRUE(sgd.nesterov);
  ir::OptimizerSpec adam =
      optimizer("adam(beta_1=0.8, beta_2=0.99, epsilon=1e-8, learning_rate=1)");
  EXPECT_EQ(adam.kind, ir::OptimizerKind::Adam);
  EXPECT_DOUBLE_EQ(adam.learningRate, 1);
  EXPECT_DOUBLE_EQ(adam.beta1, 0.8);
  EXPECT_DOUBLE_EQ(adam.beta2, 0.99);
  EXPECT_DOUBLE_EQ(adam.epsilon, 1e-8);
  ir::OptimizerSpec rms = optimizer("rmsprop");
  EXPECT_EQ(rms.kind, ir::OptimizerKind::RMSprop);
  EXPECT_DOUBLE_EQ(rms.learningRate, 0.001);
  EXPECT_DOUBLE_EQ(rms.rho, 0.9);
  EXPECT_DOUBLE_EQ(rms.epsilon, 1e-7);
  rms = optimizer("rmsprop(rho=0.5, epsilon=0.01)");
  EXPECT_DOUBLE_EQ(rms.rho, 0.5);
  EXPECT_DOUBLE_EQ(rms.epsilon, 0.01);
  EXPECT_EQ(optimizer("adam()").kind, ir::OptimizerKind::Adam);
}

TEST(Parser, Metrics) {
  auto accuracy = [](const std::string &text) {
    return trainingSpec(parseOk(model("") + "compile " + text + "\n"))
        .accuracyMetric;
  };
  EXPECT_TRUE(accuracy("metrics=[accuracy]"));
  EXPECT_TRUE(accuracy("loss=categorical_crossentropy"));
  EXPECT_FALSE(accuracy("metrics=[]"));
}

TEST(Parser, FitArguments) {
  Program p = parseOk(model("") + "fit seed=42 shuffle=false validation=none "
                                  "batch_size=128 epochs=2 "
                                  "dataset=idx(\"data/fashion-\")\n");
  ir::TrainingSpec spec = trainingSpec(p);
  EXPECT_EQ(spec.fit.dataset, ir::DatasetKind::Idx);
  EXPECT_EQ(spec.fit.idxPrefix, "data/fashion-");
  EXPECT_EQ(spec.fit.epochs, 2);
  EXPECT_EQ(spec.fit.batchSize, 128);
  EXPECT_EQ(spec.fit.validation, ir::ValidationKind::None);
  EXPECT_FALSE(spec.fit.shuffle);
  EXPECT_EQ(spec.fit.seed, 42u);
  EXPECT_TRUE(p.fit->datasetLoc.known());
}

// classes=[...] keeps its order (the order renumbers the labels), for every
// dataset kind; without it, every class.
TEST(Parser, FitClassesBindInOrder) {
  Program p = parseOk(model("") + "fit classes=[9, 5, 0, 7]\n");
  EXPECT_EQ(trainingSpec(p).fit.classes, (std::vector<int64_t>{9, 5, 0, 7}));
  Program f = parseOk("model m {\n  input shape=(8, 8, 3)\n  flatten\n"
                      "  dense units=2 activation=softmax\n}\n"
                      "fit dataset=image_folder(\"a/\", image_size=(8, 8)) "
                      "classes=[2, 0] validation=image_folder(\"b/\")\n");
  EXPECT_EQ(trainingSpec(f).fit.classes, (std::vector<int64_t>{2, 0}));
  EXPECT_TRUE(
      trainingSpec(parseOk(model("") + "fit epochs=2\n")).fit.classes.empty());
}

// MNIST's 10 units become k with a subset; any other count is an error on
// the last layer.
TEST(Parser, FitClassesSetTheUnitsTheLastLayerNeeds) {
  auto lower = [](int units, const std::string &fit) {
    Program p = parseOk("model m {\n  input shape=(28, 28, 1)\n  flatten\n"
                        "  dense units=" +
                        std::to_string(units) + " activation=softmax\n}\n" +
                        fit + "\n");
    LowerResult r = lowerModel(p, trainingSpec(p));
    return r.error ? r.error->str() : std::string("(no error)");
  };
  EXPECT_EQ(lower(2, "fit dataset=mnist classes=[9, 5]"), "(no error)");
  EXPECT_EQ(lower(2, "fit dataset=idx(\"d/\") classes=[9, 5]"), "(no error)");
  EXPECT_EQ(lower(10, "fit dataset=mnist"), "(no error)");
  std::string err = lower(10, "fit dataset=mnist classes=[9, 5]");
  EXPECT_NE(err.find("test.dsl:4:3: error: dense: the fit statement's classes "
                     "list keeps 2 classes, but the last layer has 10 units"),
            std::string::npos)
      << err;
  err = lower(1, "fit dataset=idx(\"d/\") classes=[9, 5]");
  EXPECT_NE(err.find("keeps 2 classes, but the last layer has 1 units"),
            std::string::npos)
      << err;
}

// Keras's image_dataset_from_directory names and defaults; the validation
// folder starts from the dataset's settings.
TEST(Parser, ImageFolderArguments) {
  Program p = parseOk(model("") +
                      "fit dataset=image_folder(\"photos/\", image_size=(4, "
                      "6), color_mode=grayscale, interpolation=area, "
                      "crop_to_aspect_ratio=true, validation_split=0.3)\n");
  const ir::FitSpec &fit = trainingSpec(p).fit;
  EXPECT_EQ(fit.dataset, ir::DatasetKind::ImageFolder);
  EXPECT_EQ(fit.images.directory, "photos/");
  EXPECT_EQ(fit.images.height, 4);
  EXPECT_EQ(fit.images.width, 6);
  EXPECT_EQ(fit.images.colorMode, ir::ColorMode::Grayscale);
  EXPECT_EQ(fit.images.interpolation, ir::Interpolation::Area);
  EXPECT_TRUE(fit.images.cropToAspectRatio);
  EXPECT_DOUBLE_EQ(fit.images.validationSplit, 0.3);
  // A split gives the validation data unless told otherwise.
  EXPECT_EQ(fit.validation, ir::ValidationKind::Split);

  Program d = parseOk("model m {\n  input shape=(256, 256, 3)\n  flatten\n"
                      "  dense units=2 activation=softmax\n}\n"
                      "fit dataset=image_folder(directory=\"a/\") "
                      "validation=image_folder(\"b/\", interpolation="
                      "nearest)\n");
  const ir::FitSpec &df = trainingSpec(d).fit;
  EXPECT_EQ(df.images.height, 256); // Keras's default image_size
  EXPECT_EQ(df.images.colorMode, ir::ColorMode::Rgb);
  EXPECT_EQ(df.images.interpolation, ir::Interpolation::Bilinear);
  EXPECT_EQ(df.validation, ir::ValidationKind::Folder);
  EXPECT_EQ(df.validationImages.directory, "b/");
  EXPECT_EQ(df.validationImages.height, 256);
  EXPECT_EQ(df.validationImages.interpolation, ir::Interpolation::Nearest);

  Program n = parseOk("model m {\n  input shape=(256, 256, 3)\n  flatten\n"
                      "  dense units=2 activation=softmax\n}\n"
                      "fit dataset=image_folder(\"a/\")\n");
  EXPECT_EQ(trainingSpec(n).fit.validation, ir::ValidationKind::None);
}

TEST(Parser, StatementsInAnyOrder) {
  Program p = parseOk("fit epochs=4\ncompile optimizer=sgd\n" + model(""));
  EXPECT_EQ(trainingSpec(p).fit.epochs, 4);
  EXPECT_EQ(trainingSpec(p).optimizer.kind, ir::OptimizerKind::SGD);
  EXPECT_EQ(p.model.inputLoc.line, 4);
}

TEST(Parser, WindowsLineEndings) {
  Program p = parseOk("model m {\r\n  input shape=(4, 4, 1)\r\n  flatten\r\n"
                      "  dense units=2 activation=softmax\r\n}\r\n");
  EXPECT_EQ(p.model.layers.size(), 2u);
}

TEST(Parser, AllExampleModelsParse) {
  for (const char *name : {"mnist", "mnist_small", "mnist_same"}) {
    ParseResult r =
        parseFile(std::string(CNNC_SOURCE_DIR "/models/") + name + ".dsl");
    EXPECT_FALSE(r.error) << r.error->str();
  }
}

} // namespace
} // namespace cnnc::frontend
