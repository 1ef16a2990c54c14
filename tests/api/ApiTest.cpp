// The public API (include/cnnc/cnnc.h) as an embedding program uses it:
// linked against the shared library, with nothing but the public header.
#include "api/MnistSubset.h"
#include "cnnc/cnnc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

const std::string kTinyModel = R"(model tiny {
  input shape=(28, 28, 1)
  conv2d filters=4 kernel_size=3 strides=2 activation=relu
  max_pooling2d pool_size=2
  dropout rate=0.1
  flatten
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=3 batch_size=50 validation=test seed=3
)";

cnnc::Model compileTiny(const cnnc::CompileOptions &options = {}) {
  auto m = cnnc::Model::fromString(kTinyModel, "tiny.dsl", options);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *std::move(m);
}

// MNIST, loaded once for the suite.
class ApiMnistTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    data_.load(1000, 500);
    train_ = data_.train.get();
    test_ = data_.test.get();
  }
  static void TearDownTestSuite() {
    data_.reset();
    train_ = test_ = nullptr;
  }
  void SetUp() override {
    if (!train_)
      GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  }

  // The images of `data` as floats, scaled as training scales them.
  static std::vector<float> asFloats(const cnnc::Dataset &data) {
    int64_t n = data.size() * data.rows() * data.cols();
    std::vector<float> out(n);
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<float>(data.pixels()[i]) * (1.0f / 255.0f);
    return out;
  }

  static cnnc::testing::MnistSubset data_;
  static cnnc::Dataset *train_, *test_;
};
cnnc::testing::MnistSubset ApiMnistTest::data_;
cnnc::Dataset *ApiMnistTest::train_ = nullptr;
cnnc::Dataset *ApiMnistTest::test_ = nullptr;

std::string tempPath(const std::string &name) {
  return (fs::temp_directory_path() /
          ("cnnc_api_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(ApiTest, ErrorsInTheModelComeBackAsDiagnosticsAndPrintNothing) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  auto syntax = cnnc::Model::fromString(
      "model m {\n  input shape=(28, 28, 1)\n  conv3d filters=32\n}\n",
      "bad.dsl");
  auto shape =
      cnnc::Model::fromString("model m {\n  input shape=(8, 8, 1)\n  flatten\n"
                              "  conv2d filters=2 kernel_size=3\n}\n",
                              "shape.dsl");
  auto missing = cnnc::Model::fromFile("/nonexistent/dir/m.dsl");
  std::string out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "");

  ASSERT_FALSE(syntax.ok());
  ASSERT_TRUE(syntax.status().diagnostic());
  const cnnc::Diagnostic &d = *syntax.status().diagnostic();
  EXPECT_EQ(d.file, "bad.dsl");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 3);
  EXPECT_NE(d.message.find("conv3d"), std::string::npos) << d.message;
  EXPECT_EQ(d.sourceLine, "  conv3d filters=32");
  EXPECT_EQ(syntax.status().message().rfind("bad.dsl:3:3: ", 0), 0u)
      << syntax.status().message();
  EXPECT_EQ(syntax.status().message().find('\n'), std::string::npos);
  EXPECT_EQ(d.str().rfind("bad.dsl:3:3: error: ", 0), 0u) << d.str();
  EXPECT_NE(d.str().find("\n    conv3d filters=32\n    ^"), std::string::npos)
      << d.str();

  // A shape error found while lowering points at the offending layer.
  ASSERT_FALSE(shape.ok());
  ASSERT_TRUE(shape.status().diagnostic());
  EXPECT_EQ(shape.status().diagnostic()->file, "shape.dsl");
  EXPECT_EQ(shape.status().diagnostic()->line, 4);
  EXPECT_EQ(shape.status().diagnostic()->column, 3);

  ASSERT_FALSE(missing.ok());
  ASSERT_TRUE(missing.status().diagnostic());
  EXPECT_EQ(missing.status().diagnostic()->line, 0);
  EXPECT_NE(missing.status().message().find("cannot read"), std::string::npos)
      << missing.status().message();
}

TEST(ApiTest, BadOptionsAndBuffersAreErrorsNotCrashes) {
  cnnc::CompileOptions bad;
  bad.batchSize = 0;
  auto m = cnnc::Model::fromString(kTinyModel, "tiny.dsl", bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("batch size"), std::string::npos);

  cnnc::Model model = compileTiny();
  EXPECT_FALSE(model.setThreads(-1).ok());
  EXPECT_FALSE(model.setThreads(100000).ok());
  const float *none = nullptr;
  EXPECT_FALSE(model.predict(none, 1).ok());
  std::vector<float> image(28 * 28);
  EXPECT_FALSE(model.predict(image.data(), 0).ok());
  EXPECT_FALSE(model.loadWeights("/nonexistent/w.safetensors").ok());

  // A label outside the model's classes is named.
  std::vector<uint8_t> pixels(2 * 28 * 28), labels = {1, 12};
  auto data =
      cnnc::Dataset::fromMemory(pixels.data(), labels.data(), 2, 28, 28);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto fit = model.fit(*data);
  ASSERT_FALSE(fit.ok());
  EXPECT_NE(fit.status().message().find("label 12"), std::string::npos)
      << fit.status().message();
  EXPECT_FALSE(cnnc::Dataset::fromMemory(nullptr, nullptr, 3, 28, 28).ok());
}

TEST(ApiTest, ModelProperties) {
  cnnc::CompileOptions o;
  o.learningRate = 0.01;
  o.shuffle = false;
  cnnc::Model model = compileTiny(o);
  EXPECT_EQ(model.name(), "tiny");
  EXPECT_EQ(model.inputShape(), (std::vector<int64_t>{28, 28, 1}));
  EXPECT_EQ(model.numClasses(), 10);
  cnnc::TrainingConfig c = model.config();
  EXPECT_EQ(c.dataset, "mnist");
  EXPECT_EQ(c.epochs, 3);
  EXPECT_EQ(c.batchSize, 50);
  EXPECT_EQ(c.seed, 3u);
  EXPECT_EQ(c.learningRate, 0.01);
  EXPECT_FALSE(c.shuffle);
  // conv 3*3*1*4+4 = 40; 28x28 -> 13x13 (stride 2) -> 6x6 (pool), so
  // dense 6*6*4*10+10 = 1,450.
  EXPECT_NE(model.summary().find("Total params: 1,490"), std::string::npos)
      << model.summary();
  ASSERT_TRUE(model.setThreads(1).ok());
  EXPECT_EQ(model.threads(), 1);
}

TEST(ApiTest, IrTextAtEachStage) {
  cnnc::Model model = compileTiny();
  for (cnnc::Stage stage :
       {cnnc::Stage::Forward, cnnc::Stage::Training, cnnc::Stage::Fused}) {
    auto text = model.irText(stage);
    ASSERT_TRUE(text.ok()) << text.status().message();
    EXPECT_EQ(text->rfind("graph @tiny", 0), 0u) << *text;
  }
  auto forward = model.irText(cnnc::Stage::Forward);
  EXPECT_NE(forward->find("conv2d("), std::string::npos);
  EXPECT_EQ(forward->find("adam_update("), std::string::npos);
  auto training = model.irText(cnnc::Stage::Training);
  EXPECT_NE(training->find("conv2d_backward_filter("), std::string::npos);
  EXPECT_NE(training->find("adam_update("), std::string::npos);
  auto llvm = model.irText(cnnc::Stage::Llvm);
  ASSERT_TRUE(llvm.ok()) << llvm.status().message();
  EXPECT_NE(llvm->find("define "), std::string::npos);
  auto assembly = model.irText(cnnc::Stage::Asm);
  ASSERT_TRUE(assembly.ok()) << assembly.status().message();
  EXPECT_NE(assembly->find("ret"), std::string::npos);
}

// irText for another CPU: that CPU's code (Zen 5's 512-bit registers,
// whatever the host), only for the kernels' text, only for a CPU LLVM
// knows.
TEST(ApiTest, IrTextForAnotherCpu) {
  cnnc::Model model = compileTiny();
  auto zen5 = model.irText(cnnc::Stage::Asm, "znver5");
  ASSERT_TRUE(zen5.ok()) << zen5.status().message();
  EXPECT_NE(zen5->find("%zmm"), std::string::npos);
  auto graph = model.irText(cnnc::Stage::Fused, "znver5");
  EXPECT_FALSE(graph.ok());
  auto unknown = model.irText(cnnc::Stage::Asm, "znver99");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown target CPU 'znver99'"),
            std::string::npos)
      << unknown.status().message();
}

// CNNC_BF16_PAIRS chooses between the pair kernels and rounded operands.
TEST(ApiTest, Bfloat16KernelsFollowTheOverride) {
  ASSERT_EQ(setenv("CNNC_BF16_PAIRS", "0", 1), 0);
  EXPECT_EQ(cnnc::bfloat16Kernels(), cnnc::Bfloat16Kernels::RoundedOperands);
  ASSERT_EQ(setenv("CNNC_BF16_PAIRS", "1", 1), 0);
  EXPECT_NE(cnnc::bfloat16Kernels(), cnnc::Bfloat16Kernels::RoundedOperands);
  ASSERT_EQ(unsetenv("CNNC_BF16_PAIRS"), 0);
}

TEST(ApiTest, InstrumentationPrintsAfterTheChosenPasses) {
  cnnc::Model model = compileTiny();
  std::vector<std::string> names = model.passNames();
  for (const char *pass : {"autodiff", "dce", "eval", "predict"})
    EXPECT_NE(std::find(names.begin(), names.end(), pass), names.end()) << pass;

  std::vector<std::pair<std::string, std::string>> dumps;
  cnnc::Instrumentation all;
  all.printAfterAll = true;
  all.verifyEach = true;
  all.print = [&](const std::string &pass, const std::string &ir) {
    dumps.push_back({pass, ir});
  };
  ASSERT_TRUE(model.setInstrumentation(all).ok());
  auto fused = model.irText(cnnc::Stage::Fused);
  ASSERT_TRUE(fused.ok()) << fused.status().message();
  ASSERT_GE(dumps.size(), 2u);
  EXPECT_EQ(dumps.front().first, "autodiff");
  EXPECT_EQ(dumps.front().second.rfind("graph @tiny", 0), 0u);
  // The last pass's graph is the pipeline's result.
  EXPECT_EQ(dumps.back().second, *fused);

  dumps.clear();
  cnnc::Instrumentation one;
  one.printAfter = {"dce"};
  one.print = all.print;
  ASSERT_TRUE(model.setInstrumentation(one).ok());
  ASSERT_TRUE(model.irText(cnnc::Stage::Training).ok());
  ASSERT_FALSE(dumps.empty());
  for (const auto &[pass, ir] : dumps)
    EXPECT_EQ(pass, "dce");

  cnnc::Instrumentation unknown;
  unknown.printAfter = {"dse"};
  cnnc::Status s = model.setInstrumentation(unknown);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'dse'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("autodiff, dce"), std::string::npos)
      << s.message();
}

TEST_F(ApiMnistTest, FitStopsWhenTheCallbackSaysSo) {
  cnnc::Model model = compileTiny();
  std::vector<cnnc::EpochMetrics> seen;
  cnnc::FitOptions fo;
  fo.limit = 300;
  fo.onEpochEnd = [&](const cnnc::EpochMetrics &m) {
    seen.push_back(m);
    return false;
  };
  auto history = model.fit(*train_, test_, fo);
  ASSERT_TRUE(history.ok()) << history.status().message();
  ASSERT_EQ(history->size(), 1u); // the recipe asks for 3
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].epoch, 1);
  EXPECT_EQ((*history)[0].loss, seen[0].loss);
  EXPECT_TRUE(std::isfinite(seen[0].loss));
  EXPECT_GT(seen[0].accuracy, 0.0);
  EXPECT_TRUE(seen[0].hasValidation);
  // Validation is the evaluation of the trained weights.
  auto eval = model.evaluate(*test_);
  ASSERT_TRUE(eval.ok()) << eval.status().message();
  EXPECT_EQ(eval->count, test_->size());
  EXPECT_EQ(eval->loss, seen[0].valLoss);
  EXPECT_EQ(eval->accuracy, seen[0].valAccuracy);

  fo.onEpochEnd = nullptr;
  fo.epochs = 2;
  auto two = model.fit(*train_, nullptr, fo);
  ASSERT_TRUE(two.ok()) << two.status().message();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_FALSE((*two)[0].hasValidation);
}

TEST_F(ApiMnistTest, PredictFromFloatAndBytesAgreesWithEvaluate) {
  cnnc::CompileOptions fast;
  fast.learningRate = 0.01; // 20 steps learn a lot at this rate
  cnnc::Model model = compileTiny(fast);
  cnnc::FitOptions fo;
  fo.epochs = 1;
  ASSERT_TRUE(model.fit(*train_, nullptr, fo).ok());

  int64_t n = test_->size(), classes = model.numClasses();
  std::vector<float> floats = asFloats(*test_);
  auto fromFloat = model.predict(floats.data(), n);
  auto fromBytes = model.predict(test_->pixels(), n);
  ASSERT_TRUE(fromFloat.ok()) << fromFloat.status().message();
  ASSERT_TRUE(fromBytes.ok()) << fromBytes.status().message();
  ASSERT_EQ(fromFloat->size(), static_cast<size_t>(n * classes));
  EXPECT_EQ(*fromFloat, *fromBytes);

  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float *row = fromBytes->data() + i * classes;
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      EXPECT_GE(row[c], 0.0f);
      sum += row[c];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i;
    correct += std::max_element(row, row + classes) - row == test_->labels()[i];
  }
  // The prediction graph and the evaluation graph agree on the argmax.
  auto eval = model.evaluate(*test_);
  ASSERT_TRUE(eval.ok()) << eval.status().message();
  EXPECT_EQ(static_cast<double>(correct) / n, eval->accuracy);
  EXPECT_GT(eval->accuracy, 0.5); // chance is 0.1
}

// Prediction and evaluation run their batches back to back (whichever
// thread is free feeds the next): the same bits on 1 and 2 threads, and
// each image's row whatever the batches around it.
TEST_F(ApiMnistTest, PredictAndEvaluateInBatchesAgreeOnOneAndTwoThreads) {
  cnnc::Model model = compileTiny();
  cnnc::FitOptions fo;
  fo.epochs = 1;
  fo.limit = 200;
  ASSERT_TRUE(model.fit(*train_, nullptr, fo).ok());
  int64_t n = test_->size(), classes = model.numClasses();
  int64_t pixels = test_->rows() * test_->cols();
  ASSERT_GT(n, 300); // more than one batch of 250, and a tail
  std::vector<std::vector<float>> whole;
  std::vector<double> losses;
  for (int threads : {1, 2}) {
    ASSERT_TRUE(model.setThreads(threads).ok());
    auto p = model.predict(test_->pixels(), n);
    ASSERT_TRUE(p.ok()) << p.status().message();
    whole.push_back(*p);
    auto e = model.evaluate(*test_);
    ASSERT_TRUE(e.ok()) << e.status().message();
    losses.push_back(e->loss);
  }
  EXPECT_EQ(whole[0], whole[1]);
  EXPECT_EQ(losses[0], losses[1]);
  // Images [0, 100) and [100, n) in two calls: other batches, same rows.
  auto head = model.predict(test_->pixels(), 100);
  auto rest = model.predict(test_->pixels() + 100 * pixels, n - 100);
  ASSERT_TRUE(head.ok() && rest.ok());
  std::vector<float> joined = *head;
  joined.insert(joined.end(), rest->begin(), rest->end());
  ASSERT_EQ(joined.size(), static_cast<size_t>(n * classes));
  EXPECT_EQ(joined, whole[0]);
}

TEST_F(ApiMnistTest, SavedWeightsLoadIntoAFreshModel) {
  cnnc::Model trained = compileTiny();
  cnnc::FitOptions fo;
  fo.epochs = 1;
  ASSERT_TRUE(trained.fit(*train_, nullptr, fo).ok());
  std::string path = tempPath("weights.safetensors");
  ASSERT_TRUE(trained.saveWeights(path).ok());

  cnnc::CompileOptions other;
  other.seed = 11;
  cnnc::Model fresh = compileTiny(other);
  const int64_t n = 64;
  auto expected = trained.predict(test_->pixels(), n);
  auto before = fresh.predict(test_->pixels(), n);
  ASSERT_TRUE(expected.ok() && before.ok());
  EXPECT_NE(*before, *expected);
  ASSERT_TRUE(fresh.loadWeights(path).ok());
  auto after = fresh.predict(test_->pixels(), n);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *expected);

  // Weights of another architecture: the differing tensor is named.
  std::string wider = kTinyModel;
  wider.replace(wider.find("filters=4"), 9, "filters=6");
  auto mismatched = cnnc::Model::fromString(wider, "wider.dsl");
  ASSERT_TRUE(mismatched.ok()) << mismatched.status().message();
  cnnc::Status s = mismatched->loadWeights(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("conv2d.kernel"), std::string::npos)
      << s.message();
  fs::remove(path);
}

TEST_F(ApiMnistTest, SameSeedGivesBitIdenticalLossOnOneAndTwoThreads) {
  std::vector<double> losses;
  for (int threads : {1, 2}) {
    cnnc::Model model = compileTiny();
    ASSERT_TRUE(model.setThreads(threads).ok());
    ASSERT_TRUE(model.setSeed(5).ok());
    cnnc::FitOptions fo;
    fo.epochs = 1;
    fo.limit = 400;
    auto h = model.fit(*train_, nullptr, fo);
    ASSERT_TRUE(h.ok()) << h.status().message();
    losses.push_back((*h)[0].loss);
  }
  EXPECT_EQ(losses[0], losses[1]);
}

// A second fit continues the first: its epochs shuffle (and drop out) as the
// next epochs of one longer fit would, not as a repeat of the first fit's.
TEST_F(ApiMnistTest, TwoFitsOfOneEpochEqualOneFitOfTwo) {
  cnnc::FitOptions fo;
  fo.limit = 300; // 6 steps of 50 per epoch
  fo.epochs = 1;
  cnnc::Model split = compileTiny();
  ASSERT_TRUE(split.fit(*train_, nullptr, fo).ok());
  ASSERT_TRUE(split.fit(*train_, nullptr, fo).ok());
  fo.epochs = 2;
  cnnc::Model whole = compileTiny();
  ASSERT_TRUE(whole.fit(*train_, nullptr, fo).ok());

  auto a = split.predict(test_->pixels(), 64);
  auto b = whole.predict(test_->pixels(), 64);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST_F(ApiMnistTest, SetSeedRestartsFromThatSeedsWeights) {
  cnnc::CompileOptions seven;
  seven.seed = 7;
  cnnc::Model a = compileTiny(seven);
  cnnc::Model b = compileTiny();
  auto pa = a.predict(test_->pixels(), 8);
  auto pb = b.predict(test_->pixels(), 8);
  ASSERT_TRUE(pa.ok() && pb.ok());
  EXPECT_NE(*pa, *pb);
  ASSERT_TRUE(b.setSeed(7).ok());
  EXPECT_EQ(b.config().seed, 7u);
  auto again = b.predict(test_->pixels(), 8);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *pa);
}

} // namespace

namespace {

TEST_F(ApiMnistTest, ProfilingCountsEveryKernelCallOfTheStep) {
  cnnc::Model model = compileTiny();
  EXPECT_TRUE(model.kernelProfile().empty());
  EXPECT_EQ(model.profileTable(), "");
  model.setProfiling(true);
  cnnc::FitOptions fo;
  fo.epochs = 2;
  fo.limit = 300; // 6 steps of 50 per epoch
  ASSERT_TRUE(model.fit(*train_, nullptr, fo).ok());
  std::vector<cnnc::KernelTime> kernels = model.kernelProfile();
  ASSERT_FALSE(kernels.empty());
  double flops = 0;
  for (const cnnc::KernelTime &k : kernels) {
    EXPECT_EQ(k.calls, 12) << k.name;
    EXPECT_GE(k.seconds, 0.0) << k.name;
    flops += k.flops;
  }
  EXPECT_GT(flops, 0.0);
  EXPECT_NE(model.profileTable().find(kernels[0].name), std::string::npos);
}

} // namespace
