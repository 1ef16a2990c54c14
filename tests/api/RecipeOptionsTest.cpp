// CompileOptions::optimizer and ::callbacks: the compile statement's
// optimizer and the fit statement's callbacks given through the API, in the
// DSL's own syntax, with the DSL's checks, and the learning rate each epoch
// reports.
#include "api/MnistSubset.h"
#include "cnnc/cnnc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

// `callbacks` goes into the fit statement as written ("" leaves it out).
std::string modelText(const std::string &optimizer,
                      const std::string &callbacks = "") {
  return R"(model tiny {
  input shape=(28, 28, 1)
  conv2d filters=4 kernel_size=3 strides=2 activation=relu
  max_pooling2d pool_size=2
  flatten
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=)" +
         optimizer + R"( metrics=[accuracy]
fit dataset=mnist epochs=6 batch_size=50 validation=test seed=5)" +
         (callbacks.empty() ? "" : " callbacks=" + callbacks) + "\n";
}

cnnc::Result<cnnc::Model> compile(const std::string &text,
                                  const cnnc::CompileOptions &o = {}) {
  return cnnc::Model::fromString(text, "tiny.dsl", o);
}

std::string errorOf(const std::string &text, const cnnc::CompileOptions &o) {
  auto m = compile(text, o);
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.status().message();
}

TEST(RecipeOptions, ReplaceTheStatementsOptimizerAndCallbacks) {
  cnnc::CompileOptions o;
  o.optimizer = "adam(learning_rate=cosine_decay(0.002, 100))";
  o.callbacks = R"([csv_logger("log.csv"), early_stopping(patience=2)])";
  auto m = compile(modelText("sgd", R"([csv_logger("other.csv")])"), o);
  ASSERT_TRUE(m.ok()) << m.status().message();
  cnnc::TrainingConfig c = m->config();
  EXPECT_EQ(c.learningRateSchedule, "cosine_decay");
  EXPECT_DOUBLE_EQ(c.learningRate, 0.002);
  EXPECT_EQ(c.callbackFiles, std::vector<std::string>{"log.csv"});

  // "[]": no callbacks; a learning rate: a constant, in place of a schedule.
  o.callbacks = "[]";
  o.learningRate = 0.01;
  m = compile(modelText("sgd", R"([csv_logger("other.csv")])"), o);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE(m->config().callbackFiles.empty());
  EXPECT_EQ(m->config().learningRateSchedule, "");
  EXPECT_EQ(m->config().learningRate, 0.01);

  // The --learning-rate override of a model whose statement has a schedule.
  cnnc::CompileOptions rate;
  rate.learningRate = 0.05;
  m = compile(modelText("sgd(learning_rate=exponential_decay(0.1, 10, 0.5))"),
              rate);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->config().learningRateSchedule, "");
  EXPECT_EQ(m->config().learningRate, 0.05);
}

TEST(RecipeOptions, ErrorsAreAboutTheOptionsText) {
  std::string text = modelText("adam");
  cnnc::CompileOptions o;
  o.optimizer = "adamw";
  std::string e = errorOf(text, o);
  EXPECT_NE(e.find("optimizer option:1:1"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown optimizer 'adamw'"), std::string::npos) << e;

  o.optimizer = "adam(learning_rate=0.001) sgd";
  e = errorOf(text, o);
  EXPECT_NE(e.find("optimizer option:1:27"), std::string::npos) << e;
  EXPECT_NE(e.find("expected the end after the value"), std::string::npos) << e;

  o.optimizer = "";
  e = errorOf(text, o);
  EXPECT_NE(e.find("expected a value"), std::string::npos) << e;

  cnnc::CompileOptions cb;
  cb.callbacks = "[early_stopping(patience=-1)]";
  e = errorOf(text, cb);
  EXPECT_NE(e.find("callbacks option:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("patience"), std::string::npos) << e;

  cb.callbacks = "early_stopping";
  e = errorOf(text, cb);
  EXPECT_NE(e.find("callbacks option"), std::string::npos) << e;

  cb.callbacks = "[reduce_lr_on_plateau(patience=1)]";
  cb.optimizer = "adam(learning_rate=cosine_decay(0.01, 100))";
  e = errorOf(text, cb);
  EXPECT_NE(e.find("reduce_lr_on_plateau cannot change the learning rate of "
                   "a cosine_decay schedule"),
            std::string::npos)
      << e;
  // The statement's schedule meets the option's callback, too.
  cnnc::CompileOptions only;
  only.callbacks = cb.callbacks;
  e = errorOf(modelText("adam(learning_rate=cosine_decay(0.01, 100))"), only);
  EXPECT_NE(e.find("cosine_decay schedule"), std::string::npos) << e;
  // A constant rate in its place resolves it.
  only.learningRate = 0.01;
  EXPECT_TRUE(
      compile(modelText("adam(learning_rate=cosine_decay(0.01, 100))"), only)
          .ok());
}

class RecipeOptionsMnist : public ::testing::Test {
protected:
  static void SetUpTestSuite() { data_.load(500, 300); }
  static void TearDownTestSuite() { data_.reset(); }
  void SetUp() override {
    if (!data_.train)
      GTEST_SKIP() << "MNIST not found (scripts/fetch-mnist.sh)";
  }
  static std::vector<cnnc::EpochMetrics> fit(cnnc::Model &m) {
    auto h = m.fit(*data_.train, data_.test.get());
    EXPECT_TRUE(h.ok()) << h.status().message();
    return h.ok() ? *h : std::vector<cnnc::EpochMetrics>{};
  }
  static cnnc::testing::MnistSubset data_;
};
cnnc::testing::MnistSubset RecipeOptionsMnist::data_;

// The same recipe through the statements and through the options trains
// the same, bit for bit: the options are the statements' arguments.
TEST_F(RecipeOptionsMnist, OptionsTrainAsTheStatementsDo) {
  const std::string optimizer = "sgd(learning_rate=0.5, momentum=0.9)";
  const std::string callbacks =
      "[reduce_lr_on_plateau(monitor=val_loss, patience=0, factor=0.5), "
      "early_stopping(monitor=val_loss, patience=2)]";
  auto fromStatements = compile(modelText(optimizer, callbacks));
  ASSERT_TRUE(fromStatements.ok()) << fromStatements.status().message();
  cnnc::CompileOptions o;
  o.optimizer = optimizer;
  o.callbacks = callbacks;
  auto fromOptions = compile(modelText("adam"), o);
  ASSERT_TRUE(fromOptions.ok()) << fromOptions.status().message();
  ASSERT_TRUE(fromStatements->setThreads(1).ok());
  ASSERT_TRUE(fromOptions->setThreads(1).ok());

  std::vector<cnnc::EpochMetrics> a = fit(*fromStatements),
                                  b = fit(*fromOptions);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].loss, b[i].loss) << "epoch " << i + 1;
    EXPECT_EQ(a[i].valLoss, b[i].valLoss) << "epoch " << i + 1;
    ASSERT_TRUE(a[i].learningRate && b[i].learningRate);
    EXPECT_EQ(*a[i].learningRate, *b[i].learningRate);
  }
  // The rate each epoch trained with (reduce_lr's exact steps:
  // runtime CallbacksTest); 0.5 halved at least once in six epochs of 0.5.
  EXPECT_EQ(a.front().learningRate, 0.5);
  EXPECT_LT(*a.back().learningRate, 0.5);

  // Without reduce_lr_on_plateau no epoch reports a rate, and the history
  // file has no learning_rate column; with it, the column holds the rates.
  cnnc::CompileOptions none;
  none.callbacks = "[]";
  auto plain = compile(modelText(optimizer), none);
  ASSERT_TRUE(plain.ok());
  std::vector<cnnc::EpochMetrics> c = fit(*plain);
  ASSERT_FALSE(c.empty());
  EXPECT_FALSE(c.front().learningRate.has_value());

  std::string path = (fs::temp_directory_path() /
                      ("cnnc_recipe_" + std::to_string(::getpid()) + ".csv"))
                         .string();
  ASSERT_TRUE(cnnc::writeHistoryCsv(path, a).ok());
  std::ifstream in(path);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  fs::remove(path);
  EXPECT_EQ(header.rfind("epoch,accuracy,learning_rate,loss,", 0), 0u)
      << header;
  std::istringstream cells(first);
  std::string epoch, accuracy, lr;
  std::getline(cells, epoch, ',');
  std::getline(cells, accuracy, ',');
  std::getline(cells, lr, ',');
  EXPECT_EQ(std::stod(lr), *a.front().learningRate) << first;
}

} // namespace
