// The cnnc command as a user meets it: exit status, one-line errors, files.
#include "TestData.h"
#include "common/RunTool.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace cnnc::testing {
namespace {

class CliTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cnnc_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunResult run(const std::string &args) {
    return runTool(CNNC_BINARY_DIR "/cnnc " + args, dir_);
  }

  fs::path write(const std::string &name, const std::string &content) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  // A one-line error: exit 1, "cnnc: error: ..." and nothing else.
  void expectOneLineError(const RunResult &r, const std::string &fragment) {
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(r.err.rfind("cnnc: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos)
        << "missing '" << fragment << "' in: " << r.err;
  }

  fs::path dir_;
};

const std::string kModel = CNNC_SOURCE_DIR "/models/mnist.dsl";

// A small, fast model with the same data, for CLI runs that train.
const std::string kTinyModel = R"(model tiny {
  input shape=(28, 28, 1)
  conv2d filters=4 kernel_size=3 strides=2 activation=relu
  max_pooling2d pool_size=2
  dropout rate=0.1
  flatten
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=2 batch_size=50 validation=test seed=3
)";

TEST_F(CliTest, FlagErrorsAreOneLine) {
  expectOneLineError(run(""), "no model file");
  expectOneLineError(run(kModel + " --epoch 3"), "unknown option '--epoch'");
  expectOneLineError(run(kModel + " --epochs abc"), "--epochs");
  expectOneLineError(run(kModel + " --epochs 0"), "positive integer");
  expectOneLineError(run(kModel + " --batch-size"), "expects a value");
  expectOneLineError(run(kModel + " --learning-rate -1"), "positive number");
  expectOneLineError(run(kModel + " --emit=bitcode"), "--emit");
  expectOneLineError(run(kModel + " --train --evaluate"), "choose one");
  expectOneLineError(run(kModel + " --profile"), "--profile needs --train");
  expectOneLineError(run(kModel + " --evaluate --profile"),
                     "--profile needs --train");
  expectOneLineError(run(kModel + " " + kModel), "more than one model");
}

// --seed takes what the fit statement's seed takes; counts are bounded,
// and out of range says so.
TEST_F(CliTest, IntegerFlagRanges) {
  RunResult seed = run(kModel + " --seed 9223372036854775807");
  EXPECT_EQ(seed.status, 0) << seed.err;
  expectOneLineError(run(kModel + " --seed -1"),
                     "--seed: expects a non-negative integer, got '-1'");
  expectOneLineError(run(kModel + " --epochs 3000000000"),
                     "--epochs: expects at most 2147483647, got 3000000000");
}

TEST_F(CliTest, HelpAndSummary) {
  RunResult help = run("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: cnnc"), std::string::npos);
  RunResult summary = run(kModel);
  EXPECT_EQ(summary.status, 0) << summary.err;
  EXPECT_NE(summary.out.find("225,034"), std::string::npos) << summary.out;
}

TEST_F(CliTest, DslErrorShowsFileLineColumnAndCaret) {
  fs::path bad = write("bad.dsl", "model m {\n  input shape=(28, 28, 1)\n"
                                  "  conv3d filters=32\n}\n");
  RunResult r = run(bad.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind(bad.string() + ":3:3: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("conv2d"), std::string::npos) << r.err; // did you mean
  EXPECT_NE(r.err.find("  ^"), std::string::npos) << r.err;
}

TEST_F(CliTest, MissingModelFile) {
  RunResult r = run((dir_ / "nope.dsl").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("nope.dsl"), std::string::npos) << r.err;
}

TEST_F(CliTest, EmitIrPrintsTheForwardAndTrainingGraphs) {
  RunResult ir = run(kModel + " --emit=ir");
  EXPECT_EQ(ir.status, 0) << ir.err;
  EXPECT_NE(ir.out.find("graph @mnist_cnn"), std::string::npos);
  EXPECT_NE(ir.out.find("conv2d("), std::string::npos);
  RunResult train = run(kModel + " --emit=train-ir");
  EXPECT_EQ(train.status, 0) << train.err;
  EXPECT_NE(train.out.find("conv2d_backward_filter("), std::string::npos);
  EXPECT_NE(train.out.find("adam_update("), std::string::npos);
}

TEST_F(CliTest, MissingOrBrokenDataIsNamed) {
  expectOneLineError(
      run(kModel + " --train --data " + (dir_ / "none").string()),
      "fetch-mnist");
  fs::path data = dir_ / "data";
  fs::create_directories(data);
  std::ofstream(data / "train-images-idx3-ubyte", std::ios::binary)
      << std::string("\x00\x00\x08\x03\x00\x00\x00\x05", 8);
  std::ofstream(data / "t10k-images-idx3-ubyte", std::ios::binary)
      << std::string("\x00\x00\x08\x03\x00\x00\x00\x05", 8);
  RunResult r = run(kModel + " --train --data " + data.string());
  expectOneLineError(r, "ubyte");
}

TEST_F(CliTest, EvaluateNeedsWeightsAndRejectsForeignOnes) {
  std::string data = mnistDir();
  if (data.empty())
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  fs::path model = write("tiny.dsl", kTinyModel);
  expectOneLineError(run(model.string() + " --evaluate --data " + data),
                     "--load");
  fs::path garbage = write("garbage.safetensors", "not a safetensors file");
  expectOneLineError(run(model.string() + " --evaluate --data " + data +
                         " --load " + garbage.string()),
                     "garbage.safetensors");
}

TEST_F(CliTest, SaveIntoMissingDirectoryFailsBeforeTraining) {
  expectOneLineError(run(kModel + " --train --save " +
                         (dir_ / "no/such/w.safetensors").string()),
                     "does not exist");
}

TEST_F(CliTest, TrainWritesWeightsHistoryAndPlotThatEvaluateReads) {
  std::string data = mnistDir();
  if (data.empty())
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  fs::path model = write("tiny.dsl", kTinyModel);
  fs::path csv = dir_ / "h.csv", svg = dir_ / "h.svg";
  RunResult t = run(model.string() + " --train --limit 1000 --data " + data +
                    " --history " + csv.string() + " --plot " + svg.string());
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(t.out.find('\r'), std::string::npos); // not a terminal
  EXPECT_NE(t.out.find("Epoch 1/2 20/20 - "), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Epoch 2/2 20/20 - "), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("val_accuracy: "), std::string::npos) << t.out;
  size_t at = t.out.find("Test accuracy: ");
  ASSERT_NE(at, std::string::npos) << t.out;
  std::string accuracy = t.out.substr(at, t.out.find('\n', at) - at);

  fs::path weights = dir_ / "tiny.safetensors"; // next to the model
  ASSERT_TRUE(fs::exists(weights));
  std::string history = slurp(csv);
  EXPECT_EQ(
      history.rfind("epoch,accuracy,loss,val_accuracy,val_loss,seconds\n0,", 0),
      0u)
      << history;
  EXPECT_NE(slurp(svg).find("<svg"), std::string::npos);

  RunResult e = run(model.string() + " --evaluate --data " + data);
  ASSERT_EQ(e.status, 0) << e.err;
  EXPECT_NE(e.out.find(accuracy), std::string::npos)
      << "train printed '" << accuracy << "', evaluate printed " << e.out;

  // Weights of another model: the first differing tensor is named.
  fs::path other = write(
      "other.dsl", std::string(kTinyModel)
                       .replace(kTinyModel.find("filters=4"), 9, "filters=6"));
  expectOneLineError(run(other.string() + " --evaluate --data " + data +
                         " --load " + weights.string()),
                     "conv2d.kernel");
  for (const auto &entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos)
        << entry.path();
}

} // namespace
} // namespace cnnc::testing
