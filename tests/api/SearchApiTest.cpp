// cnnc::Search, the public face of hyper-parameter search: spaces and the
// tune statement from DSL text, trials as ordinary models.
#include "cnnc/cnnc.h"
#include "e2e/TestData.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <unistd.h>

namespace {

const std::string kSearch = R"(model s {
  input shape=(8, 8, 1)
  conv2d filters=choice(2, 4) kernel_size=3
  flatten
  dense units=int_range(3, 9, step=3) activation=relu
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam(learning_rate=log_uniform(0.0001, 0.01))
tune strategy=random trials=5 seed=4
)";

TEST(SearchApi, TrialsAreOrdinaryModels) {
  auto search = cnnc::Search::fromString(kSearch, "s.dsl");
  ASSERT_TRUE(search.ok()) << search.status().message();
  EXPECT_EQ(
      search->spaceNames(),
      (std::vector<std::string>{"filters@3", "units@5", "learning_rate@8"}));
  const cnnc::TuneSettings &t = search->settings();
  EXPECT_TRUE(t.present);
  EXPECT_EQ(t.strategy, cnnc::TuneStrategy::Random);
  EXPECT_EQ(t.seed, 4u);
  EXPECT_EQ(search->trialCount(), 5u);
  EXPECT_TRUE(search->check().ok());
  std::set<std::vector<std::string>> distinct;
  for (uint64_t i = 0; i < search->trialCount(); ++i) {
    std::vector<std::string> v = search->trialValues(i);
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v, search->trialValues(i)) << "a pure function of (seed, i)";
    distinct.insert(v);
    auto model = cnnc::Model::fromString(search->instantiate(v), "trial.dsl");
    ASSERT_TRUE(model.ok())
        << search->describe(v) << ": " << model.status().message();
    EXPECT_EQ(model->config().learningRate, std::stod(v[2]));
  }
  EXPECT_GT(distinct.size(), 1u);
}

TEST(SearchApi, ErrorsAreDiagnostics) {
  auto bad = cnnc::Search::fromString(
      "model s {\n  input shape=(8, 8, 1)\n  flatten\n  dense "
      "units=int_range(9, 3) activation=softmax\n}\n",
      "bad.dsl");
  ASSERT_FALSE(bad.ok());
  ASSERT_TRUE(bad.status().diagnostic());
  EXPECT_EQ(bad.status().diagnostic()->line, 4);

  // A combination that cannot work: 1 unit where the loss needs 10.
  auto impossible = cnnc::Search::fromString(
      "model s {\n  input shape=(8, 8, 1)\n  flatten\n  dense "
      "units=choice(10, 1) activation=softmax\n}\nfit dataset=mnist\n"
      "tune strategy=grid\n",
      "grid.dsl");
  ASSERT_TRUE(impossible.ok()) << impossible.status().message();
  EXPECT_EQ(impossible->trialCount(), 2u);
  cnnc::Status s = impossible->check();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("units@4=1"), std::string::npos) << s.message();
  EXPECT_FALSE(cnnc::Search::fromFile("/nonexistent.dsl").ok());
}

// Search::tune as an embedding program runs it: trials reported through the
// callback in order, the best among them, and a second call on the same
// directory answered from the journal without training.
TEST(SearchApi, TuneRunsJournalsAndResumes) {
  std::string data = cnnc::testing::mnistDir();
  if (data.empty())
    GTEST_SKIP() << "no MNIST (scripts/fetch-mnist.sh)";
  auto search = cnnc::Search::fromString(R"(model s {
  input shape=(28, 28, 1)
  conv2d filters=choice(2, 3) kernel_size=3 strides=2 activation=relu
  flatten
  dense units=10 activation=softmax
}
fit dataset=mnist epochs=2 batch_size=64
tune strategy=grid objective=val_loss
)",
                                         "g.dsl");
  ASSERT_TRUE(search.ok()) << search.status().message();
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("cnnc_api_tune_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  cnnc::TuneOptions o;
  o.directory = dir.string();
  o.limit = 256;
  o.dataDir = data;
  o.compile.threads = 2;
  std::vector<cnnc::TrialResult> seen;
  o.onTrialEnd = [&](const cnnc::TrialResult &t) { seen.push_back(t); };
  auto report = search->tune(o);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->trials.size(), 2u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(report->threadsPerTrial, 2);
  EXPECT_EQ(report->resumed, 0);
  for (size_t i = 0; i < 2; ++i) {
    const cnnc::TrialResult &t = report->trials[i];
    EXPECT_EQ(t.number, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(t.values, search->trialValues(i));
    EXPECT_EQ(seen[i].number, t.number);
    EXPECT_EQ(t.epochs, 2);
    EXPECT_EQ(t.epochsRun, 2);
    ASSERT_TRUE(t.objective);
    EXPECT_GE(t.bestEpoch, 1);
    EXPECT_LE(t.bestEpoch, 2);
    EXPECT_FALSE(t.fromJournal);
  }
  ASSERT_TRUE(report->best);
  const auto &trials = report->trials;
  size_t best = *trials[1].objective < *trials[0].objective ? 1 : 0;
  EXPECT_EQ(*report->best, best);
  // The best trial's weights load into its model and score as reported.
  auto model = cnnc::Model::fromString(search->instantiate(trials[best].values),
                                       "best.dsl");
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(model->loadWeights((dir / "best.safetensors").string()).ok());
  auto test = cnnc::Dataset::mnist("t10k", data);
  ASSERT_TRUE(test.ok());
  auto eval = model->evaluate(*test);
  ASSERT_TRUE(eval.ok());
  EXPECT_FLOAT_EQ(static_cast<float>(eval->loss),
                  static_cast<float>(*trials[best].objective));

  seen.clear();
  auto again = search->tune(o);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->resumed, 2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].fromJournal && seen[1].fromJournal);
  EXPECT_EQ(*seen[0].objective, *trials[0].objective);
  EXPECT_EQ(again->best, report->best);

  // Other options, another search: refused, naming what differs.
  o.limit = 128;
  auto other = search->tune(o);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("another image limit (256 there, "
                                          "128 now)"),
            std::string::npos)
      << other.status().message();
  std::filesystem::remove_all(dir);
}

} // namespace
