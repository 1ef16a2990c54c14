// The cnnc command as a user meets it: exit status, one-line errors, files.
#include "TestData.h"
#include "common/RunTool.h"
#include "common/Sanitizers.h"
#include "runtime/Idx.h"
#include "runtime/Image.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

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

  // For inputs that never end: bounded in memory and time, so that a reader
  // without a limit fails the test instead of exhausting the machine.
  // `before` runs first in the same shell.
  RunResult runBounded(const std::string &args,
                       const std::string &before = "") {
    // Under ASan the address-space cap would stop cnnc before main (its
    // shadow memory); the time bound and the reader's own cap remain.
    std::string memoryCap =
        cnnc::testing::kAddressSanitizer ? "" : "ulimit -v 4000000; ";
    return runTool(before + memoryCap + "timeout -s KILL 60 " +
                       CNNC_BINARY_DIR "/cnnc " + args,
                   dir_);
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
  expectOneLineError(run(kModel + " --evaluate --load-by-name w.safetensors"),
                     "--load-by-name needs --train");
  expectOneLineError(
      run(kModel +
          " --train --load a.safetensors --load-by-name b.safetensors"),
      "choose one of --load and --load-by-name");
}

// --predict takes the paths up to the next flag and needs weights; its
// options need it.
TEST_F(CliTest, PredictFlags) {
  expectOneLineError(run(kModel + " --predict"),
                     "--predict: expects image files or directories");
  expectOneLineError(run(kModel + " --predict --top-k 2"),
                     "--predict: expects image files or directories");
  expectOneLineError(run(kModel + " --top-k 2"), "--top-k needs --predict");
  expectOneLineError(run(kModel + " --history h.csv"),
                     "--history needs --train");
  expectOneLineError(run(kModel + " --evaluate --plot p.svg"),
                     "--plot needs --train");
  expectOneLineError(run(kModel + " --save w.safetensors"),
                     "--save needs --train");
  expectOneLineError(run(kModel + " --output p.csv"),
                     "--output needs --predict");
  expectOneLineError(run(kModel + " --train --predict a.png"),
                     "choose one of --train, --evaluate, --predict and --emit");
  expectOneLineError(run(kModel + " --predict a.png --predict b.png"),
                     "--predict given twice");
  expectOneLineError(run(kModel + " --predict a.png --top-k 0"),
                     "--top-k: expects a positive integer");
  // Weights are needed before any image is read.
  expectOneLineError(run(kModel + " --predict a.png --load none.safetensors"),
                     "none.safetensors");
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

// Numbers are plain decimals: strtoll's and strtod's leniency (spaces, signs,
// hex, inf) is not a number the user meant.
TEST_F(CliTest, NumbersAreStrictDecimals) {
  expectOneLineError(
      run(kModel + " --learning-rate 0x10"),
      "--learning-rate: expects a positive number written like 0.001");
  expectOneLineError(run(kModel + " --learning-rate inf"), "got 'inf'");
  expectOneLineError(run(kModel + " --learning-rate nan"), "got 'nan'");
  expectOneLineError(run(kModel + " --learning-rate ' 0.1'"), "got ' 0.1'");
  expectOneLineError(run(kModel + " --learning-rate 1e999"), "got '1e999'");
  expectOneLineError(run(kModel + " --limit ' 5'"),
                     "--limit: expects a positive integer, got ' 5'");
  expectOneLineError(run(kModel + " --limit '5 '"), "got '5 '");
  expectOneLineError(run(kModel + " --epochs +3"), "got '+3'");
  expectOneLineError(run(kModel + " --seed 0x10"), "got '0x10'");
  expectOneLineError(run(kModel + " --epochs 99999999999999999999"),
                     "--epochs: expects at most 2147483647");
  for (const char *ok : {"0.01", "1e-3", ".5", "2.", "3E+2", "7"}) {
    RunResult r = run(kModel + " --learning-rate " + ok);
    EXPECT_EQ(r.status, 0) << ok << ": " << r.err;
  }
}

TEST_F(CliTest, AFlagGivenTwiceIsAnError) {
  expectOneLineError(run(kModel + " --epochs 2 --epochs 3"),
                     "--epochs given twice");
  expectOneLineError(run(kModel + " --save=a --save b"), "--save given twice");
  expectOneLineError(run(kModel + " --no-shuffle --no-shuffle"),
                     "--no-shuffle given twice");
  expectOneLineError(run(kModel + " -h --help"), "--help given twice");
  // Documented as repeatable.
  RunResult r =
      run(kModel + " --emit=ir --print-after=dce --print-after=fusion");
  EXPECT_EQ(r.status, 0) << r.err;
}

// Only regular files and pipes are read, and at most 64 MiB of them: a
// device or an endless pipe would otherwise be read until memory runs out.
TEST_F(CliTest, ModelFilesAreReadUpToALimit) {
  RunResult zero = runBounded("/dev/zero");
  EXPECT_EQ(zero.status, 1);
  EXPECT_EQ(zero.err, "/dev/zero: error: cannot read: not a regular file or "
                      "pipe (a character device)\n");

  fs::path big = dir_ / "big.dsl";
  std::ofstream(big) << "model m {}\n";
  fs::resize_file(big, (uint64_t{64} << 20) + 1); // sparse
  RunResult r = runBounded(big.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, big.string() +
                       ": error: larger than the 64 MiB limit for a model "
                       "file\n");

  // A FIFO that never ends; the old reader grew until killed.
  fs::path fifo = dir_ / "fifo.dsl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  RunResult endless =
      runBounded(fifo.string(), "(yes >" + fifo.string() + " &); ");
  EXPECT_EQ(endless.status, 1) << endless.err;
  EXPECT_EQ(endless.err, fifo.string() +
                             ": error: larger than the 64 MiB limit for a "
                             "model file\n");

  // A model with an error at a line, from a pipe whose writer is then
  // gone: reported once, never read again (that would wait forever).
  fs::path once = dir_ / "once.dsl";
  ASSERT_EQ(::mkfifo(once.c_str(), 0600), 0);
  fs::path bad = write("bad.dsl", "model m {\n  input shape=(8, 8, 1)\n  "
                                  "dense units=choice(2, 3)\n}\n");
  RunResult piped = runBounded(once.string(), "(cat " + bad.string() + " >" +
                                                  once.string() + " &); ");
  EXPECT_EQ(piped.status, 1) << piped.err;
  EXPECT_NE(piped.err.find("once.dsl:3:15: error: units expects an integer"),
            std::string::npos)
      << piped.err;
}

// Every output is checked before anything is compiled or trained: here the
// data directory does not even exist, and that is not what is reported.
TEST_F(CliTest, OutputsAreCheckedBeforeAnyWork) {
  std::string train = kModel + " --train --data " + (dir_ / "none").string();
  fs::create_directories(dir_ / "sub");
  RunResult r = run(train + " --save " + (dir_ / "sub").string());
  expectOneLineError(r, "/sub: is a directory; only a regular file can be "
                        "written");
  EXPECT_EQ(r.out, "");
  expectOneLineError(run(train + " --save " + (dir_ / "w").string() +
                         " --history " + (dir_ / "sub").string()),
                     "--history");

  fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expectOneLineError(run(train + " --plot " + fifo.string()),
                     "/fifo: is a FIFO");
  fs::create_symlink(fifo, dir_ / "link");
  expectOneLineError(run(train + " --history " + (dir_ / "link").string()),
                     "/link: links to " + fifo.string() + ", a FIFO");
  EXPECT_TRUE(fs::is_fifo(fifo));

  // Two outputs that are one file, also through a symlink or "./".
  fs::create_symlink(dir_ / "h.csv", dir_ / "h-link.csv");
  expectOneLineError(run(train + " --history " + (dir_ / "h.csv").string() +
                         " --plot " + (dir_ / "h-link.csv").string()),
                     "are the same file");
  expectOneLineError(run(train + " --save " + (dir_ / "x").string() +
                         " --history " + (dir_ / "." / "x").string()),
                     "--save " + (dir_ / "x").string() + " and --history");
  // The default weights path next to the model, and the model itself.
  fs::path model = write("m.dsl", kTinyModel);
  expectOneLineError(run(model.string() + " --train --data none --history " +
                         (dir_ / "m.safetensors").string()),
                     "are the same file");
  expectOneLineError(
      run(model.string() + " --train --data none --save " + model.string()),
      "is the model file");
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

// --dtype-policy replaces the compile statement's dtype_policy; the
// step's graph shows the policy on its contractions: rounded operands, or
// bfloat16 pairs where the CPU multiplies them (CNNC_BF16_PAIRS chooses
// here, whatever the host).
TEST_F(CliTest, DtypePolicyFlag) {
  expectOneLineError(run(kModel + " --dtype-policy float16"),
                     "--dtype-policy: expects float32 or mixed_bfloat16, got "
                     "'float16'");
  RunResult f32 = run(kModel + " --emit=fused-ir");
  EXPECT_EQ(f32.status, 0) << f32.err;
  EXPECT_EQ(f32.out.find("compute_dtype"), std::string::npos);
  RunResult pairs =
      runTool("CNNC_BF16_PAIRS=1 " CNNC_BINARY_DIR "/cnnc " + kModel +
                  " --emit=fused-ir --dtype-policy mixed_bfloat16",
              dir_);
  EXPECT_EQ(pairs.status, 0) << pairs.err;
  // The first layer's pooled result is written as the next layer's pairs
  // (passes/FoldPacks.h); its one-channel input pairs columns
  // (passes/DtypePolicy.h).
  EXPECT_NE(pairs.out.find("%dropout.bf16x2, %dropout.bf16x2_1, "
                           "%max_pooling2d.argmax = "
                           "conv2d_fused(%x.columns, %conv2d.kernel.bf16x2, "
                           "%conv2d.bias, %step) {activation = \"relu\", "
                           "axes = [3, 0], compute_dtype = \"bfloat16\", "
                           "dilations = [1, 2]"),
            std::string::npos)
      << pairs.out.substr(0, 2000);
  RunResult bf16 =
      runTool("CNNC_BF16_PAIRS=0 " CNNC_BINARY_DIR "/cnnc " + kModel +
                  " --emit=fused-ir --dtype-policy mixed_bfloat16",
              dir_);
  EXPECT_EQ(bf16.status, 0) << bf16.err;
  EXPECT_NE(bf16.out.find("%conv2d.kernel.bf16 = "
                          "round_to_bfloat16(%conv2d.kernel)"),
            std::string::npos)
      << bf16.out.substr(0, 2000);
  EXPECT_NE(bf16.out.find("conv2d_fused(%x.bf16, %conv2d.kernel.bf16, "
                          "%conv2d.bias, %step) {activation = \"relu\", "
                          "compute_dtype = \"bfloat16\""),
            std::string::npos)
      << bf16.out.substr(0, 2000);
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

// early_stopping with restore_best_weights ends with the best epoch's
// weights: the closing evaluation repeats that epoch's val_loss; the
// checkpoints and the CSV log are written as the epochs pass.
TEST_F(CliTest, CallbacksStopRestoreCheckpointAndLog) {
  std::string data = mnistDir();
  if (data.empty())
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  // A learning rate high enough that val_loss soon stops improving.
  std::string source = R"(model cb {
  input shape=(28, 28, 1)
  conv2d 4 3 strides=2 activation=relu
  flatten
  dense 10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam(learning_rate=0.05)
fit epochs=12 batch_size=64 seed=3 callbacks=[early_stopping(patience=1, restore_best_weights=true), model_checkpoint("best.safetensors", save_best_only=true), model_checkpoint("w-{epoch:02d}.safetensors"), csv_logger("log.csv")]
)";
  fs::path model = write("cb.dsl", source);
  RunResult t = runTool("cd " + dir_.string() +
                            " && " CNNC_BINARY_DIR
                            "/cnnc cb.dsl --train --limit 3000 --data " +
                            data,
                        dir_);
  ASSERT_EQ(t.status, 0) << t.err;
  size_t stop = t.out.find(": early stopping; restoring weights from epoch ");
  ASSERT_NE(stop, std::string::npos) << t.out;
  int stopped = std::stoi(t.out.substr(t.out.rfind("Epoch ", stop) + 6));
  int best = std::stoi(t.out.substr(stop + 47));
  EXPECT_LT(best, stopped);
  // The best epoch's val_loss, as its epoch line printed it.
  std::string line = "Epoch " + std::to_string(best) + "/12 ";
  size_t at = t.out.find(line);
  ASSERT_NE(at, std::string::npos) << t.out;
  size_t v = t.out.find("val_loss: ", at);
  std::string valLoss = t.out.substr(v + 10, 6);
  EXPECT_NE(t.out.find("Test loss: " + valLoss), std::string::npos) << t.out;
  EXPECT_TRUE(fs::exists(dir_ / "best.safetensors"));
  for (int e = 1; e <= stopped; ++e)
    EXPECT_TRUE(fs::exists(dir_ / fmt::format("w-{:02}.safetensors", e)));
  EXPECT_FALSE(
      fs::exists(dir_ / fmt::format("w-{:02}.safetensors", stopped + 1)));
  std::string log = slurp(dir_ / "log.csv");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), stopped + 1) << log;
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

// classes=[5, 6, 7, 8, 9] with a 5-unit head (Keras's mnist_transfer_cnn):
// trains on those digits only, evaluates on their test images, and the
// weights name the units by digit, so that --predict says "7", not "2".
TEST_F(CliTest, ClassSubsetTrainsAndPredictsWithTheDigitsAsNames) {
  std::string data = mnistDir();
  if (data.empty())
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  std::string source = kTinyModel;
  source.replace(source.find("units=10"), 8, "units=5");
  source.replace(source.find("seed=3"), 6, "seed=3 classes=[5, 6, 7, 8, 9]");
  fs::path model = write("upper.dsl", source);
  RunResult t = run(model.string() + " --train --limit 500 --data " + data);
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.out.find("Keeping 5 of 10 classes (5, 6, 7, 8, 9): "),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("Training on 500 images"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Test accuracy: "), std::string::npos) << t.out;
  ASSERT_TRUE(fs::exists(dir_ / "upper.safetensors"));

  // The first test image of each digit 0..9 as a PNG.
  auto test = runtime::loadIdxSplit(data + "/", "t10k");
  ASSERT_TRUE(test.ok()) << test.status();
  std::vector<bool> written(10, false);
  for (int64_t i = 0; i < test->images.count; ++i) {
    int label = test->labels[i];
    if (written[label])
      continue;
    runtime::Image im;
    im.height = im.width = 28;
    im.channels = 1;
    const uint8_t *px = test->images.pixels.data() + i * 784;
    im.pixels.assign(px, px + 784);
    fs::create_directories(dir_ / "digits");
    ASSERT_TRUE(
        runtime::writePng(
            (dir_ / "digits" / fmt::format("{}.png", label)).string(), im)
            .ok());
    written[label] = true;
  }
  RunResult p = run(model.string() + " --predict " +
                    (dir_ / "digits").string() + " --top-k 5");
  ASSERT_EQ(p.status, 0) << p.err;
  // One line per image, each naming all five kept digits once, no other.
  std::istringstream lines(p.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    std::string names = line.substr(line.find(".png:") + 5);
    for (int digit = 0; digit < 10; ++digit) {
      size_t n = 0;
      for (size_t at = names.find(fmt::format(" {} (", digit));
           at != std::string::npos;
           at = names.find(fmt::format(" {} (", digit), at + 1))
        ++n;
      EXPECT_EQ(n, digit >= 5 ? 1u : 0u) << line;
    }
  }
  EXPECT_EQ(count, 10) << p.out;

  // A class MNIST lacks: one line naming it, before any training.
  std::string bad = source;
  bad.replace(bad.find("classes=[5, 6, 7, 8, 9]"), 23, "classes=[12]");
  bad.replace(bad.find("units=5"), 7, "units=1");
  expectOneLineError(
      run(write("bad.dsl", bad).string() + " --train --data " + data),
      "classes: 12 is not a class of the test data, which has "
      "10 classes (0 to 9)");
  EXPECT_FALSE(fs::exists(dir_ / "bad.safetensors"));
}

// With terminate_on_nan a diverging run fails, but the history of the
// epochs that finished is written; the weights (no longer finite) are not.
TEST_F(CliTest, DivergedRunKeepsTheFinishedEpochs) {
  std::string data = mnistDir();
  if (data.empty())
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  std::string source = kTinyModel;
  source.replace(source.find("seed=3"), 6,
                 "seed=3 callbacks=[terminate_on_nan]");
  fs::path model = write("tiny.dsl", source);
  fs::path csv = dir_ / "h.csv", svg = dir_ / "h.svg";
  // One step per epoch: epoch 1 computes its loss before the first update,
  // which a learning rate of 1e30 makes infinite for epoch 2.
  RunResult r =
      run(model.string() +
          " --train --limit 50 --epochs 3 --learning-rate 1e30 "
          "--data " +
          data + " --history " + csv.string() + " --plot " + svg.string());
  expectOneLineError(r, "terminate_on_nan stopped training: the loss is not "
                        "finite at epoch 2, step 1; the history of the 1 "
                        "completed epoch is in " +
                            csv.string() + " and " + svg.string());
  EXPECT_NE(r.out.find("Epoch 2, step 1: invalid loss, terminating training"),
            std::string::npos)
      << r.out;
  std::string history = slurp(csv);
  EXPECT_EQ(std::count(history.begin(), history.end(), '\n'), 2) << history;
  EXPECT_EQ(history.find("\n0,"), history.find('\n')) << history;
  EXPECT_NE(slurp(svg).find("<svg"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "tiny.safetensors"));

  // Without it, as in Keras, training goes on and the history says nan.
  write("plain.dsl", kTinyModel);
  r = run((dir_ / "plain.dsl").string() +
          " --train --limit 50 --epochs 3 --learning-rate 1e30 --data " + data +
          " --history " + csv.string());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Epoch 2: the loss is not finite"), std::string::npos)
      << r.out;
  history = slurp(csv);
  size_t row1 = history.find("\n1,");
  ASSERT_NE(row1, std::string::npos) << history;
  EXPECT_NE(history.find(",nan,", row1), std::string::npos) << history;
  EXPECT_EQ(r.out.find("-nan"), std::string::npos) << r.out;
}

// Starts cnnc with `args` in the background, stdout and stderr going to
// files in `dir`; returns its pid.
pid_t spawnCnnc(std::vector<std::string> args, const fs::path &dir) {
  // Everything the child needs is made before fork: after it, only
  // async-signal-safe calls.
  std::string exe = CNNC_BINARY_DIR "/cnnc";
  std::vector<char *> argv = {exe.data()};
  for (std::string &a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int out = ::open((dir / "stdout").c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open((dir / "stderr").c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || err < 0 || in < 0)
    return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  ::close(in);
  return pid;
}

// The first SIGINT (or SIGTERM) stops training after the current step; the
// weights and the history of the finished epochs are saved, and the exit
// status says which signal it was.
TEST_F(CliTest, InterruptSavesWeightsAndHistory) {
  std::string data = mnistDir();
  if (data.empty())
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  fs::path model = write("tiny.dsl", kTinyModel);
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig);
    fs::path csv = dir_ / "h.csv", weights = dir_ / "w.safetensors";
    fs::remove(csv);
    fs::remove(weights);
    pid_t pid = spawnCnnc({model.string(), "--train", "--limit", "200",
                           "--epochs", "100000", "--data", data, "--history",
                           csv.string(), "--save", weights.string()},
                          dir_);
    ASSERT_GT(pid, 0);
    // Wait for the second epoch to finish, then interrupt.
    bool started = false;
    for (int i = 0; i < 1200 && !started; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      started = slurp(dir_ / "stdout").find("Epoch 2/100000 4/4") !=
                std::string::npos;
    }
    EXPECT_TRUE(started) << slurp(dir_ / "stdout") << slurp(dir_ / "stderr");
    ::kill(pid, sig);
    int raw = 0;
    ASSERT_EQ(::waitpid(pid, &raw, 0), pid);
    ASSERT_TRUE(WIFEXITED(raw)) << "killed by signal " << WTERMSIG(raw);
    EXPECT_EQ(WEXITSTATUS(raw), 128 + sig);
    std::string err = slurp(dir_ / "stderr");
    EXPECT_EQ(err.rfind("cnnc: interrupted at epoch ", 0), 0u) << err;
    EXPECT_NE(err.find("; saved weights to " + weights.string() +
                       " and history to " + csv.string() + "\n"),
              std::string::npos)
        << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    std::string history = slurp(csv);
    EXPECT_EQ(history.rfind("epoch,accuracy,loss,", 0), 0u) << history;
    EXPECT_NE(history.find("\n1,"), std::string::npos) << history;
    // The saved weights are a complete file the model loads.
    RunResult e = run(model.string() + " --evaluate --data " + data +
                      " --load " + weights.string());
    EXPECT_EQ(e.status, 0) << e.err;
  }
}

// A model trained on MNIST, then another with the same feature layer, a
// new dense layer and head: the fit statement's initial_weights loads the
// features by name (skip_mismatch for the old head's dense layer), and
// --load-by-name replaces it; what was loaded, skipped and left new is
// printed.
TEST_F(CliTest, LoadsWeightsByName) {
  std::string data = mnistDir();
  if (data.empty())
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  fs::path first = write("first.dsl", kTinyModel);
  RunResult r = run(first.string() + " --train --limit 100 --epochs 1 --data " +
                    data + " --save " + (dir_ / "first.safetensors").string());
  ASSERT_EQ(r.status, 0) << r.err;
  std::string second = kTinyModel;
  second.replace(second.find("  dense units=10"), 0,
                 "  dense units=8 activation=relu\n");
  second.replace(second.find("seed=3"), 6,
                 "seed=3 initial_weights=\"" +
                     (dir_ / "first.safetensors").string() +
                     "\" skip_mismatch=true");
  fs::path model = write("second.dsl", second);
  r = run(model.string() + " --train --limit 100 --epochs 1 --data " + data);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Weights by name from " +
                       (dir_ / "first.safetensors").string() +
                       ": 2 loaded, 2 skipped, 2 new\n"
                       "  loaded: conv2d.kernel, conv2d.bias\n"
                       "  skipped (shape differs): dense.kernel ([144,10] in "
                       "the file, [144,8] in the model), dense.bias ([10] in "
                       "the file, [8] in the model)\n"
                       "  new (not in the file): dense_1.kernel, "
                       "dense_1.bias\n"),
            std::string::npos)
      << r.out;
  // --load-by-name of the second model's own weights: all six load.
  r = run(model.string() + " --train --limit 100 --epochs 1 --data " + data +
          " --load-by-name " + (dir_ / "second.safetensors").string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(": 6 loaded, 0 skipped, 0 new\n"), std::string::npos)
      << r.out;
  // Without skip_mismatch the old head's shape is an error before training.
  second.replace(second.find(" skip_mismatch=true"), 19, "");
  model = write("strict.dsl", second);
  expectOneLineError(
      run(model.string() + " --train --limit 100 --data " + data),
      "tensor 'dense.kernel' is [144,10] in the file but [144,8] in the "
      "model; skip_mismatch=true leaves such weights as they are");
}

} // namespace
} // namespace cnnc::testing
