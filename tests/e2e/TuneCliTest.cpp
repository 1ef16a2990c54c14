// cnnc MODEL.dsl --tune on MNIST: the table, results.csv, best.dsl and
// best.safetensors, and that the best trial's files make a model that
// evaluates as the search measured it.
#include "TestData.h"
#include "common/RunTool.h"
#include "frontend/SearchSpace.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::testing {
namespace {

class TuneCliTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (mnistDir().empty())
      GTEST_SKIP() << "no MNIST (scripts/fetch-mnist.sh)";
    dir_ = fs::temp_directory_path() /
           ("cnnc_tune_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty())
      fs::remove_all(dir_);
  }

  RunResult run(const std::string &args) {
    return runTool(CNNC_BINARY_DIR "/cnnc " + args, dir_);
  }

  fs::path write(const std::string &name, const std::string &content) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  fs::path dir_;
};

// The fields of one CSV line (RFC 4180 quoting, no line breaks inside).
std::vector<std::string> csvFields(const std::string &line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"')
      out.back() += '"', ++i;
    else if (c == '"')
      quoted = !quoted;
    else if (c == ',' && !quoted)
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

const char kRandomModel[] = R"(model tiny {
  input shape=(28, 28, 1)
  conv2d filters=choice(2, 4, 6) kernel_size=3 strides=2 activation=relu
  max_pooling2d pool_size=2
  flatten
  dropout rate=uniform(0.0, 0.3)
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=3 batch_size=32 validation=test
tune strategy=random trials=2 seed=5
)";

TEST_F(TuneCliTest, RandomSearchWritesTableCsvAndTheBestModel) {
  fs::path model = write("m.dsl", kRandomModel);
  RunResult r = run(fmt::format("{} --tune --limit 300 --epochs 1 --threads 2 "
                                "--data {} --tune-dir {}/out",
                                model.string(), mnistDir(), dir_.string()));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");

  // The values the documented formula gives, computed by the library.
  frontend::SearchResult parsed = frontend::parseSearch(kRandomModel, "m.dsl");
  ASSERT_TRUE(parsed.program);
  const frontend::SearchProgram &p = *parsed.program;
  std::vector<std::vector<std::string>> values = {
      frontend::randomTrial(p, 5, 0), frontend::randomTrial(p, 5, 1)};

  std::vector<std::string> out = lines(r.out);
  ASSERT_GE(out.size(), 6u) << r.out;
  EXPECT_EQ(out[0], fmt::format("Tuning {}: random search, 2 trials, "
                                "maximizing val_accuracy",
                                model.string()));
  EXPECT_EQ(out[1], "trial   filters@3  rate@6  epochs  val_accuracy  "
                    "seconds");
  for (int i = 0; i < 2; ++i) {
    // trial, the values, epochs: 1 (--epochs caps the fit statement's 3).
    std::string prefix = fmt::format("{:<6}  {:<9}  {:<6}  {:<6}  ", i + 1,
                                     values[i][0], values[i][1], 1);
    EXPECT_EQ(out[2 + i].rfind(prefix, 0), 0u)
        << "'" << out[2 + i] << "' does not start with '" << prefix << "'";
  }

  // results.csv: a row per trial with the same values, the objective in
  // full precision.
  std::vector<std::string> csv = lines(slurp(dir_ / "out/results.csv"));
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_EQ(csv[0], "trial,filters@3,rate@6,epochs,val_accuracy,seconds");
  std::vector<double> objective;
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> f = csvFields(csv[1 + i]);
    ASSERT_EQ(f.size(), 6u) << csv[1 + i];
    EXPECT_EQ(f[0], std::to_string(i + 1));
    EXPECT_EQ(f[1], values[i][0]);
    EXPECT_EQ(f[2], values[i][1]);
    EXPECT_EQ(f[3], "1");
    objective.push_back(std::stod(f[4]));
    EXPECT_GE(objective.back(), 0.0);
    EXPECT_LE(objective.back(), 1.0);
    // The table shows it to 4 places.
    EXPECT_NE(out[2 + i].find(fmt::format("  {:.4f}  ", objective.back())),
              std::string::npos)
        << out[2 + i];
  }
  int best = objective[1] > objective[0] ? 1 : 0; // ties: the earlier
  EXPECT_EQ(out[4],
            fmt::format("Best: trial {} ({}) val_accuracy {:.4f}", best + 1,
                        frontend::describeValues(p, values[best]),
                        objective[best]));

  // best.dsl: the source with the best values and no tune statement; it
  // parses as an ordinary model, and its weights evaluate as the search
  // measured them on the test split.
  std::string bestDsl = slurp(dir_ / "out/best.dsl");
  EXPECT_EQ(bestDsl, frontend::instantiate(p, values[best]));
  EXPECT_EQ(bestDsl.find("tune"), std::string::npos);
  RunResult eval =
      run(fmt::format("{0}/out/best.dsl --evaluate --load "
                      "{0}/out/best.safetensors --data {1} --threads 2",
                      dir_.string(), mnistDir()));
  ASSERT_EQ(eval.status, 0) << eval.out << eval.err;
  EXPECT_NE(
      eval.out.find(fmt::format("Test accuracy: {:.4f}\n", objective[best])),
      std::string::npos)
      << eval.out;
}

TEST_F(TuneCliTest, GridSearchRunsEveryCombinationInOrder) {
  // 2 x 1 combinations; a tuple value is quoted in the CSV.
  fs::path model = write("g.dsl", R"(model tiny {
  input shape=(28, 28, 1)
  conv2d filters=choice(2, 4) kernel_size=choice((3, 3)) strides=2 activation=relu
  flatten
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=2 batch_size=32 validation=test
tune strategy=grid objective=val_loss max_epochs=1
)");
  RunResult r = run(fmt::format("{} --tune --limit 300 --threads 2 --data {}",
                                model.string(), mnistDir()));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::vector<std::string> out = lines(r.out);
  ASSERT_EQ(out.size(), 6u) << r.out;
  EXPECT_EQ(out[0], fmt::format("Tuning {}: grid search, 2 trials, "
                                "minimizing val_loss",
                                model.string()));
  EXPECT_EQ(out[1],
            "trial   filters@3  kernel_size@3  epochs  val_loss  seconds");
  // max_epochs=1 caps the fit statement's 2.
  EXPECT_EQ(out[2].rfind("1       2          (3, 3)         1       ", 0), 0u)
      << out[2];
  EXPECT_EQ(out[3].rfind("2       4          (3, 3)         1       ", 0), 0u)
      << out[3];

  // The default directory: the model's name + "_tune", next to it.
  std::vector<std::string> csv = lines(slurp(dir_ / "g_tune/results.csv"));
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_EQ(csv[0], "trial,filters@3,kernel_size@3,epochs,val_loss,seconds");
  std::vector<double> loss;
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> f = csvFields(csv[1 + i]);
    ASSERT_EQ(f.size(), 6u) << csv[1 + i];
    EXPECT_EQ(f[1], i == 0 ? "2" : "4");
    EXPECT_EQ(f[2], "(3, 3)");
    EXPECT_NE(csv[1 + i].find(",\"(3, 3)\","), std::string::npos);
    loss.push_back(std::stod(f[4]));
  }
  int best = loss[1] < loss[0] ? 1 : 0;
  EXPECT_EQ(out[4].rfind(fmt::format("Best: trial {} (filters@3={}, "
                                     "kernel_size@3=(3, 3)) val_loss ",
                                     best + 1, best == 0 ? 2 : 4),
                         0),
            0u)
      << out[4];
  std::string bestDsl = slurp(dir_ / "g_tune/best.dsl");
  EXPECT_NE(bestDsl.find(fmt::format("conv2d filters={} kernel_size=(3, 3) "
                                     "strides=2",
                                     best == 0 ? 2 : 4)),
            std::string::npos)
      << bestDsl;
  EXPECT_TRUE(fs::exists(dir_ / "g_tune/best.safetensors"));
}

} // namespace
} // namespace cnnc::testing
