// Randomly generated *valid* models through every compile pipeline: the
// training, evaluation and prediction pipelines with the verifier after each
// pass, memory planning, and print -> parse -> print of every stage; a few
// of them also JIT-compiled and trained for an epoch on synthetic images.
// The shipped models are a handful of shapes; generated layer stacks reach
// the combinations no hand-written test names (three `same` convolutions in
// a row once crashed autodiff through a reference into a growing vector).
#include "frontend/Frontend.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/Pipeline.h"
#include "passes/Pipelines.h"
#include "runtime/Model.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace cnnc::testing {
namespace {

struct Shape {
  int64_t h, w, c;
  bool flat = false; // after flatten/dense/global pooling: (c) only
};

// A random layer stack that is valid by construction: every window fits,
// flat layers come after flatten, softmax only at the end.
class ModelGenerator {
public:
  explicit ModelGenerator(uint64_t seed) : rng_(seed) {}

  std::string generate(bool grayscale) {
    Shape s{pick(1, 24), pick(1, 24), grayscale ? 1 : pick(1, 4)};
    std::string out = "model random {\n";
    out += fmt::format("  input shape=({}, {}, {})\n", s.h, s.w, s.c);
    int layers = pick(0, 7);
    for (int i = 0; i < layers; ++i)
      out += s.flat ? flatLayer(s) : imageLayer(s);
    if (!s.flat)
      out += chance(0.3) && s.h * s.w > 1 ? "  global_average_pooling2d\n"
                                          : "  flatten\n";
    out += fmt::format("  dense units={} activation=softmax\n", pick(2, 10));
    out += "}\n";
    out += fmt::format("compile optimizer={}\n", optimizer());
    out += fmt::format("fit batch_size={} seed={}\n", pick(1, 9), pick(0, 99));
    return out;
  }

private:
  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T> const T &oneOf(const std::vector<T> &v) {
    return v[pick(0, static_cast<int64_t>(v.size()) - 1)];
  }

  std::string activation() {
    static const std::vector<std::string> kinds = {
        "relu", "sigmoid", "tanh", "linear", "leaky_relu", "elu"};
    return oneOf(kinds);
  }
  std::string optimizer() {
    static const std::vector<std::string> kinds = {
        "sgd", "sgd(momentum=0.9)", "sgd(momentum=0.5, nesterov=true)", "adam",
        "rmsprop"};
    return oneOf(kinds);
  }

  // A window (k, stride, padding) that fits an axis of size n.
  static int64_t outSize(int64_t n, int64_t k, int64_t s, bool same) {
    return same ? (n + s - 1) / s : (n - k) / s + 1;
  }

  std::string imageLayer(Shape &s) {
    switch (pick(0, 9)) {
    case 0:
    case 1:
    case 2: { // conv2d
      int64_t kh = pick(1, 5), kw = pick(1, 5), sh = pick(1, 2),
              sw = pick(1, 2), f = pick(1, 8);
      bool same = chance(0.5) || kh > s.h || kw > s.w;
      s = {outSize(s.h, kh, sh, same), outSize(s.w, kw, sw, same), f};
      return fmt::format("  conv2d filters={} kernel_size=({}, {}) "
                         "strides=({}, {}) padding={} activation={}{}\n",
                         f, kh, kw, sh, sw, same ? "same" : "valid",
                         activation(), chance(0.2) ? " use_bias=false" : "");
    }
    case 3:
    case 4: { // pooling
      int64_t ph = pick(1, 3), pw = pick(1, 3);
      bool same = chance(0.5) || ph > s.h || pw > s.w;
      std::string strides;
      int64_t sh = ph, sw = pw;
      if (chance(0.3)) {
        sh = pick(1, 3);
        sw = pick(1, 3);
        strides = fmt::format(" strides=({}, {})", sh, sw);
      }
      s = {outSize(s.h, ph, sh, same), outSize(s.w, pw, sw, same), s.c};
      return fmt::format("  {} pool_size=({}, {}){} padding={}\n",
                         chance(0.6) ? "max_pooling2d" : "average_pooling2d",
                         ph, pw, strides, same ? "same" : "valid");
    }
    case 5:
      return fmt::format("  dropout rate={}\n",
                         oneOf<std::string>({"0", "0.25", "0.5"}));
    case 6:
      return chance(0.5) ? "  batch_normalization\n"
                         : "  batch_normalization center=false scale=false "
                           "momentum=0.9\n";
    case 7:
      return fmt::format("  {}\n",
                         oneOf<std::string>({"activation activation=relu",
                                             "activation activation=tanh",
                                             "leaky_re_lu", "elu alpha=0.5"}));
    case 8:
      s = {1, 1, s.h * s.w * s.c, true};
      return "  flatten\n";
    default:
      s = {1, 1, s.c, true};
      return "  global_average_pooling2d\n";
    }
  }

  std::string flatLayer(Shape &s) {
    switch (pick(0, 3)) {
    case 0:
    case 1: {
      int64_t units = pick(1, 16);
      s.c = units;
      return fmt::format("  dense units={} activation={}{}\n", units,
                         activation(), chance(0.2) ? " use_bias=false" : "");
    }
    case 2:
      return "  dropout rate=0.5\n";
    default:
      return chance(0.5) ? "  batch_normalization\n"
                         : "  activation activation=sigmoid\n";
    }
  }

  std::mt19937_64 rng_;
};

// print -> parse -> print is the identity.
void expectRoundTrip(const ir::Graph &g, const std::string &what) {
  std::string text = ir::printGraph(g);
  auto parsed = ir::parseGraph(text, what);
  ASSERT_TRUE(parsed.ok()) << what << ": " << parsed.status() << "\n" << text;
  EXPECT_EQ(ir::printGraph(*parsed), text) << what;
}

struct Compiled {
  frontend::LoweredModel lowered;
  ir::TrainingSpec spec;
};

std::optional<Compiled> compile(const std::string &source) {
  auto parsed = frontend::parseProgram(source, "random.dsl");
  EXPECT_FALSE(parsed.error) << parsed.error->str() << "\n" << source;
  if (parsed.error)
    return std::nullopt;
  Compiled c;
  c.spec = frontend::trainingSpec(*parsed.program);
  auto lowered = frontend::lowerModel(*parsed.program, c.spec);
  EXPECT_FALSE(lowered.error) << lowered.error->str() << "\n" << source;
  if (lowered.error)
    return std::nullopt;
  c.lowered = std::move(*lowered.model);
  return c;
}

TEST(RandomModelsTest, EveryPipelineVerifiesAndRoundTrips) {
  ModelGenerator gen(20261202);
  passes::PipelineOptions options;
  options.verifyEach = true;
  for (int i = 0; i < 1000; ++i) {
    std::string source = gen.generate(/*grayscale=*/false);
    SCOPED_TRACE(source);
    auto c = compile(source);
    ASSERT_TRUE(c);
    const ir::Graph &forward = c->lowered.forward;
    expectRoundTrip(forward, "forward");

    auto train = passes::runTrainingPipeline(forward, c->spec, options);
    ASSERT_TRUE(train.ok()) << train.status();
    expectRoundTrip(*train, "training");
    ir::Graph planned = *train;
    ASSERT_TRUE(
        passes::runPasses(planned, {"memory-plan", "check-memory-plan"}, true)
            .ok());

    auto eval = passes::runEvalPipeline(forward, options);
    ASSERT_TRUE(eval.ok()) << eval.status();
    expectRoundTrip(*eval, "evaluation");
    auto predict = passes::runPredictPipeline(forward, options);
    ASSERT_TRUE(predict.ok()) << predict.status();
    expectRoundTrip(*predict, "prediction");
    if (::testing::Test::HasFailure())
      return; // one model's failures are enough to read
  }
}

// Kernels for every generated shape: an epoch of training on synthetic
// images gives finite losses, and predictions are probability rows.
TEST(RandomModelsTest, CompiledModelsTrainAndPredict) {
  ModelGenerator gen(7);
  for (int i = 0; i < 6; ++i) {
    std::string source = gen.generate(/*grayscale=*/true);
    SCOPED_TRACE(source);
    auto c = compile(source);
    ASSERT_TRUE(c);
    auto model = runtime::Model::create(c->lowered.forward, c->spec, 2);
    ASSERT_TRUE(model.ok()) << model.status();
    const ir::TensorType &x =
        c->lowered.forward.type(c->lowered.forward.findValue("x"));
    int64_t h = x.shape[1], w = x.shape[2], n = 20;
    runtime::LabeledImages data;
    data.images.count = n;
    data.images.rows = h;
    data.images.cols = w;
    std::mt19937 rng(i);
    for (int64_t p = 0; p < n * h * w; ++p)
      data.images.pixels.push_back(static_cast<uint8_t>(rng()));
    int64_t classes =
        (*model)->forward().type((*model)->forward().output("probs")).shape[1];
    for (int64_t k = 0; k < n; ++k)
      data.labels.push_back(static_cast<uint8_t>(k % classes));
    auto history = (*model)->fit(data, &data, {});
    ASSERT_TRUE(history.ok()) << history.status();
    ASSERT_EQ(history->size(), 1u);
    EXPECT_TRUE(std::isfinite((*history)[0].loss));
    auto probs = (*model)->predict(data.images.pixels.data(), n);
    ASSERT_TRUE(probs.ok()) << probs.status();
    ASSERT_EQ(probs->size(), static_cast<size_t>(n * classes));
    for (int64_t k = 0; k < n; ++k) {
      double sum = 0;
      for (int64_t j = 0; j < classes; ++j)
        sum += (*probs)[k * classes + j];
      EXPECT_NEAR(sum, 1.0, 1e-4);
    }
  }
}

} // namespace
} // namespace cnnc::testing
