// cnnc::Search, the public face of hyper-parameter search: spaces and the
// tune statement from DSL text, trials as ordinary models.
#include "cnnc/cnnc.h"

#include <gtest/gtest.h>

#include <set>

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
  EXPECT_FALSE(t.grid);
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

} // namespace
