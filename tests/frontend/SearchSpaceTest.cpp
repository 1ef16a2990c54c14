#include "frontend/SearchSpace.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>

namespace cnnc::frontend {
namespace {

using Kind = SearchSpace::Kind;

const char kModel[] = R"(model m {
  input shape=(28, 28, 1)
  conv2d filters=choice(8, 16) kernel_size=choice(3, (5, 5)) activation=relu
  max_pooling2d
  flatten
  dropout uniform(0.1, 0.5)
  dense int_range(16, 64, step=16) choice(relu, tanh)
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam(learning_rate=log_uniform(1e-4, 1e-2))
fit dataset=mnist epochs=2
tune strategy=random trials=5 seed=7 max_epochs=1 objective=val_loss
)";

SearchProgram parse(const std::string &source) {
  SearchResult r = parseSearch(source, "m.dsl");
  EXPECT_FALSE(r.error) << r.error->str();
  return r.program ? *r.program : SearchProgram{};
}

std::string errorOf(const std::string &source) {
  SearchResult r = parseSearch(source, "m.dsl");
  EXPECT_FALSE(r.program);
  if (!r.error)
    return "";
  return fmt::format("{}:{}: {}", r.error->line, r.error->col,
                     r.error->message);
}

TEST(SearchSpace, FindsSpansDomainsAndNames) {
  std::string src = kModel;
  SearchProgram p = parse(src);
  ASSERT_EQ(p.spaces.size(), 6u);
  auto span = [&](const SearchSpace &s) {
    return src.substr(s.begin, s.end - s.begin);
  };
  // Named by the argument (positional ones by the layer's positional
  // order) and the statement's line.
  std::vector<std::string> names, spans;
  for (const SearchSpace &s : p.spaces) {
    names.push_back(s.name);
    spans.push_back(span(s));
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "filters@3", "kernel_size@3", "rate@6", "units@7",
                       "activation@7", "learning_rate@10"}));
  EXPECT_EQ(spans, (std::vector<std::string>{
                       "choice(8, 16)", "choice(3, (5, 5))",
                       "uniform(0.1, 0.5)", "int_range(16, 64, step=16)",
                       "choice(relu, tanh)", "log_uniform(1e-4, 1e-2)"}));
  EXPECT_EQ(p.spaces[0].kind, Kind::Choice);
  EXPECT_EQ(p.spaces[1].choices, (std::vector<std::string>{"3", "(5, 5)"}));
  EXPECT_EQ(p.spaces[1].loc.line, 3);
  EXPECT_EQ(p.spaces[1].loc.col, 44);
  EXPECT_EQ(p.spaces[2].kind, Kind::Uniform);
  EXPECT_EQ(p.spaces[2].low, 0.1);
  EXPECT_EQ(p.spaces[2].high, 0.5);
  EXPECT_EQ(p.spaces[3].kind, Kind::IntRange);
  EXPECT_EQ(p.spaces[3].size(), 4u);
  EXPECT_EQ(p.spaces[3].valueAt(3), "64");
  EXPECT_EQ(p.spaces[5].kind, Kind::LogUniform);
  EXPECT_EQ(p.spaces[5].size(), 0u);

  ASSERT_TRUE(p.tune);
  EXPECT_EQ(p.tune->strategy, TuneStrategy::Random);
  EXPECT_EQ(p.tune->objective, TuneObjective::ValLoss);
  EXPECT_EQ(p.tune->trials, 5);
  EXPECT_EQ(p.tune->maxEpochs, 1);
  EXPECT_EQ(p.tune->seed, 7u);
  EXPECT_EQ(p.tune->loc.line, 12);
}

TEST(SearchSpace, TwoSpacesOfOneArgumentGetDistinctNames) {
  SearchProgram p = parse("model m {\n  input shape=(28, 28, 1)\n"
                          "  conv2d 8 (choice(3, 5), choice(3, 5))\n}\n");
  ASSERT_EQ(p.spaces.size(), 2u);
  EXPECT_EQ(p.spaces[0].name, "kernel_size@3");
  EXPECT_EQ(p.spaces[1].name, "kernel_size@3.2");
  EXPECT_FALSE(p.tune);
}

TEST(SearchSpace, InstantiateReplacesSpansAndRemovesTheTuneLine) {
  SearchProgram p = parse("model m {\n"
                          "  dense units=choice(8, 16) activation=relu\n"
                          "  dropout rate=uniform(0, 1)  # why\n"
                          "}\n"
                          "tune strategy=random trials=2\n"
                          "fit epochs=1\n");
  EXPECT_EQ(instantiate(p, {"16", "0.25"}), "model m {\n"
                                            "  dense units=16 activation=relu\n"
                                            "  dropout rate=0.25  # why\n"
                                            "}\n"
                                            "\n"
                                            "fit epochs=1\n");
}

TEST(SearchSpace, FormatRealReadsBackExactly) {
  EXPECT_EQ(formatReal(3.0), "3.0");
  EXPECT_EQ(formatReal(-2.0), "-2.0");
  EXPECT_EQ(formatReal(0.1), "0.1");
  EXPECT_EQ(formatReal(1e-5), "1e-05");
  for (double x : {0.1, 1.0 / 3, 2.5e-7, 123456.789, 1e300}) {
    std::string s = formatReal(x);
    double back = 0;
    std::from_chars(s.data(), s.data() + s.size(), back);
    EXPECT_EQ(back, x) << s;
  }
}

TEST(SearchSpace, GridIsLexicographicWithTheFirstSpaceOutermost) {
  SearchProgram p = parse("model m {\n"
                          "  dense units=choice(8, 16) activation=relu\n"
                          "  dropout rate=int_range(1, 5, step=2)\n"
                          "}\n");
  ASSERT_EQ(gridSize(p), 6u);
  std::vector<std::vector<std::string>> all;
  for (uint64_t i = 0; i < gridSize(p); ++i)
    all.push_back(gridTrial(p, i));
  EXPECT_EQ(all, (std::vector<std::vector<std::string>>{{"8", "1"},
                                                        {"8", "3"},
                                                        {"8", "5"},
                                                        {"16", "1"},
                                                        {"16", "3"},
                                                        {"16", "5"}}));
}

// The documented formula, written out again: SplitMix64 seeded with
// mix64(seed + (i + 1) * gamma), one draw per space.
struct Reference {
  static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state;
  Reference(uint64_t seed, uint64_t i) : state(mix(seed + (i + 1) * kGamma)) {}
  uint64_t next() { return mix(state += kGamma); }
  uint64_t below(uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, r;
    do
      r = next();
    while (r >= limit);
    return r % n;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

TEST(SearchSpace, RandomTrialsFollowTheDocumentedFormula) {
  SearchProgram p = parse("model m {\n"
                          "  dense units=choice(8, 16, 32) activation=relu\n"
                          "  dropout rate=uniform(0.1, 0.6)\n"
                          "  dense int_range(10, 100, step=10)\n"
                          "}\n"
                          "compile optimizer=adam(learning_rate="
                          "log_uniform(1e-4, 1e-1))\n");
  const std::vector<std::string> units = {"8", "16", "32"};
  for (uint64_t seed : {0ull, 42ull}) {
    for (uint64_t i = 0; i < 20; ++i) {
      Reference ref(seed, i);
      std::string u = units[ref.below(3)];
      double rate = 0.1 + (0.6 - 0.1) * ref.uniform();
      std::string d = std::to_string(10 + 10 * ref.below(10));
      double lr = std::exp(std::log(1e-4) +
                           (std::log(1e-1) - std::log(1e-4)) * ref.uniform());
      std::vector<std::string> expected = {u, formatReal(rate), d,
                                           formatReal(lr)};
      EXPECT_EQ(randomTrial(p, seed, i), expected) << seed << " " << i;
      // A pure function of (seed, i): the same again.
      EXPECT_EQ(randomTrial(p, seed, i), randomTrial(p, seed, i));
    }
  }
  EXPECT_NE(randomTrial(p, 0, 0), randomTrial(p, 1, 0));
  EXPECT_NE(randomTrial(p, 0, 0), randomTrial(p, 0, 1));
}

TEST(SearchSpace, RandomValuesStayInTheirRanges) {
  SearchProgram p = parse("model m {\n"
                          "  dropout rate=uniform(0.25, 0.5)\n"
                          "  dropout rate=log_uniform(0.001, 0.01)\n"
                          "}\n");
  for (uint64_t i = 0; i < 500; ++i) {
    std::vector<std::string> v = randomTrial(p, 3, i);
    double a = std::stod(v[0]), b = std::stod(v[1]);
    EXPECT_TRUE(a >= 0.25 && a < 0.5) << v[0];
    EXPECT_TRUE(b >= 0.001 && b < 0.01) << v[1];
  }
}

const char kCheckedModel[] = R"(model m {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=choice(3, 5, 40) activation=relu
  flatten
  dense units=choice(10, 0) activation=softmax
}
)";

TEST(SearchSpace, CheckReportsTheFirstFailingCombination) {
  // Grid order: (3, 10) passes, (3, 0) is the first to fail.
  SearchProgram p = parse(kCheckedModel);
  std::optional<Diagnostic> d = checkCombinations(p, 0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->line, 5);
  EXPECT_EQ(d->message, "units must be at least 1, got 0 (with "
                        "kernel_size@3=3, units@5=0)");
  EXPECT_EQ(d->sourceLine, "  dense units=0 activation=softmax");

  // A shape error found by lowering only.
  p = parse("model m {\n  input shape=(28, 28, 1)\n"
            "  conv2d filters=8 kernel_size=choice(3, 40)\n"
            "  flatten\n  dense units=10 activation=softmax\n}\n");
  d = checkCombinations(p, 0);
  ASSERT_TRUE(d);
  EXPECT_NE(d->message.find("(with kernel_size@3=40)"), std::string::npos)
      << d->message;

  // The endpoints of a continuous space: rate=uniform(0, 1) never gives 1.
  p = parse("model m {\n  input shape=(28, 28, 1)\n  flatten\n"
            "  dropout rate=uniform(0, 1)\n"
            "  dense units=choice(4, 10) activation=softmax\n}\n");
  EXPECT_FALSE(checkCombinations(p, 0));
}

TEST(SearchSpace, DomainErrors) {
  auto wrap = [](const std::string &layer) {
    return "model m {\n  input shape=(28, 28, 1)\n" + layer + "\n}\n";
  };
  EXPECT_EQ(errorOf(wrap("  dense units=int_range(64, 16)")),
            "3:29: int_range needs lo <= hi, got 64 and 16");
  EXPECT_EQ(errorOf(wrap("  dense units=int_range(1, 8, step=0)")),
            "3:36: int_range's step must be at least 1, got 0");
  EXPECT_EQ(errorOf(wrap("  dense units=int_range(1.5, 8)")),
            "3:25: int_range expects integers, got 1.5");
  EXPECT_EQ(errorOf(wrap("  dense units=int_range(1, 8, stride=2)")),
            "3:31: unknown int_range argument 'stride'; expected step");
  EXPECT_EQ(errorOf(wrap("  dropout uniform(0.5, 0.5)")),
            "3:24: uniform needs lo < hi, got 0.5 and 0.5");
  EXPECT_EQ(errorOf(wrap("  dropout log_uniform(0, 0.5)")),
            "3:23: log_uniform needs lo > 0, got 0");
  EXPECT_EQ(errorOf(wrap("  dropout uniform(0.1)")),
            "3:11: uniform expects (lo, hi), got 1 value");
  EXPECT_EQ(errorOf(wrap("  dense choice()")),
            "3:9: choice needs at least one value");
  EXPECT_EQ(errorOf(wrap("  dense choice(8, choice(1, 2))")),
            "3:19: choice inside choice: a search space cannot contain "
            "another");
  EXPECT_EQ(errorOf(wrap("  dense choice(8,, 9)")),
            "3:18: expected a value, got ','");
  EXPECT_EQ(errorOf("model m {\n}\ntune strategy=random\n"),
            "3:1: tune statement without a search space; write "
            "choice(...), int_range(...), uniform(...) or "
            "log_uniform(...) as an argument's value");
}

// Keras Tuner's Hyperband plan (keras_tuner/tuners/hyperband.py):
// bracket0_end_size = ceil(1 + log(max_epochs, factor)); round r of bracket
// b has ceil(end0 / (b + 1) * factor^(b - r)) trials trained to epoch
// ceil(max_epochs / factor^(b - r)).
TEST(SearchSpace, HyperbandFollowsKerasTunersPlan) {
  TuneSpec t;
  t.strategy = TuneStrategy::Hyperband;
  t.maxEpochs = 9;
  t.factor = 3;
  // 9, 3 and 1 are >= min_epochs 1: three brackets.
  EXPECT_EQ(hyperbandBrackets(t), 3);
  int64_t sizes[3][3] = {{3, 0, 0}, {5, 2, 0}, {9, 3, 1}};
  int64_t epochs[3][3] = {{9, 0, 0}, {3, 9, 0}, {1, 3, 9}};
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t r = 0; r <= b; ++r) {
      EXPECT_EQ(hyperbandSize(t, b, r), sizes[b][r]) << b << "," << r;
      EXPECT_EQ(hyperbandEpochs(t, b, r), epochs[b][r]) << b << "," << r;
    }
  EXPECT_EQ(hyperbandTrials(t), 3u + 5 + 2 + 9 + 3 + 1);
  t.hyperbandIterations = 2;
  EXPECT_EQ(hyperbandTrials(t), 2u * 23);

  // Python's math.log(243, 3) is 4.999999999999999, so Keras Tuner's
  // bracket0_end_size is ceil(5.999999999999999) = 6: the same double
  // arithmetic here gives the same plan.
  t.hyperbandIterations = 1;
  t.maxEpochs = 243;
  EXPECT_EQ(hyperbandBrackets(t), 6);
  EXPECT_EQ(hyperbandSize(t, 0, 0), 6);
  EXPECT_EQ(hyperbandSize(t, 5, 0), 243); // ceil(6 / 6 * 243)
  EXPECT_EQ(hyperbandEpochs(t, 5, 0), 1);
  EXPECT_EQ(hyperbandEpochs(t, 5, 3), 27);
  t.maxEpochs = 27;
  EXPECT_EQ(hyperbandBrackets(t), 4);
  EXPECT_EQ(hyperbandSize(t, 3, 0), 27); // ceil(4 / 4 * 27)
  EXPECT_EQ(hyperbandSize(t, 3, 1), 9);
  EXPECT_EQ(hyperbandSize(t, 1, 0), 6); // ceil(4 / 2 * 3)
  EXPECT_EQ(hyperbandSize(t, 0, 0), 4);

  // factor 2, max_epochs 10: brackets at 10, 5, 2.5, 1.25.
  t.maxEpochs = 10;
  t.factor = 2;
  EXPECT_EQ(hyperbandBrackets(t), 4);
  EXPECT_EQ(hyperbandEpochs(t, 3, 0), 2); // ceil(10 / 8)
  EXPECT_EQ(hyperbandEpochs(t, 3, 1), 3); // ceil(10 / 4)
}

TEST(SearchSpace, TuneStatementErrors) {
  std::string m = "model m {\n  input shape=(28, 28, 1)\n  dense "
                  "units=choice(8, 16)\n}\n";
  EXPECT_EQ(errorOf(m + "tune strategy=hyperband\n"),
            "5:1: tune strategy=hyperband needs max_epochs=N (the epochs of "
            "its longest trials)");
  EXPECT_EQ(errorOf(m + "tune strategy=random trials=2 factor=3\n"),
            "5:31: factor and hyperband_iterations are for "
            "strategy=hyperband");
  EXPECT_EQ(errorOf(m + "tune strategy=hyperband max_epochs=9 factor=1\n"),
            "5:45: factor must be between 2 and 1000, got 1");
  EXPECT_EQ(errorOf(m + "tune strategy=hyperbond\n"),
            "5:15: unknown strategy 'hyperbond'; did you mean 'hyperband'?");
  SearchProgram p = parse(m + "tune strategy=hyperband max_epochs=9 factor=4 "
                              "hyperband_iterations=2 trials=30\n");
  ASSERT_TRUE(p.tune);
  EXPECT_EQ(p.tune->strategy, TuneStrategy::Hyperband);
  EXPECT_EQ(p.tune->maxEpochs, 9);
  EXPECT_EQ(p.tune->factor, 4);
  EXPECT_EQ(p.tune->hyperbandIterations, 2);
  EXPECT_EQ(p.tune->trials, 30);
}

} // namespace
} // namespace cnnc::frontend
