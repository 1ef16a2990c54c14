#include "bench/Workloads.h"

#include "codegen/Compiler.h"
#include "frontend/Frontend.h"
#include "passes/Pipelines.h"
#include "passes/Rebatch.h"
#include "runtime/Idx.h"
#include "runtime/Model.h"
#include "runtime/Profile.h"
#include "support/Random.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace cnnc::bench {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int fail(const std::string &what) {
  fmt::print(stderr, "cnnc-bench: error: {}\n", what);
  return 1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Loaded {
  ir::Graph forward;
  ir::TrainingSpec spec;
};

// The model lowered for batch size `batch`, one epoch, no validation.
absl::StatusOr<Loaded> loadModel(const std::string &path, int64_t batch,
                                 const std::string &dtypePolicy = "") {
  frontend::ParseResult parsed = frontend::parseFile(path);
  if (parsed.error)
    return absl::InvalidArgumentError(parsed.error->str());
  Loaded out;
  out.spec = frontend::trainingSpec(*parsed.program);
  out.spec.fit.batchSize = batch;
  out.spec.fit.epochs = 1;
  if (!dtypePolicy.empty()) {
    std::optional<ir::DtypePolicy> p = ir::dtypePolicyFromName(dtypePolicy);
    if (!p)
      return absl::InvalidArgumentError("unknown dtype policy " + dtypePolicy);
    out.spec.dtypePolicy = *p;
  }
  frontend::LowerResult lowered =
      frontend::lowerModel(*parsed.program, out.spec);
  if (lowered.error)
    return absl::InvalidArgumentError(lowered.error->str());
  out.forward = std::move(lowered.model->forward);
  return out;
}

// FNV-1a over the bytes of the floats: equal digests mean bit-identical
// predictions (and, in practice, weights).
uint64_t digest(const std::vector<float> &v) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (float f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) {
      h ^= (bits >> (8 * i)) & 0xff;
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

runtime::LabeledImages syntheticImages(int64_t count, int64_t rows,
                                       int64_t cols, int64_t channels,
                                       int64_t classes, uint64_t seed) {
  runtime::LabeledImages d;
  d.images.count = count;
  d.images.rows = rows;
  d.images.cols = cols;
  d.images.channels = channels;
  support::SplitMix64 rng(seed);
  d.images.pixels.resize(static_cast<size_t>(count * rows * cols * channels));
  for (uint8_t &p : d.images.pixels)
    p = static_cast<uint8_t>(rng.next() >> 56);
  d.labels.resize(static_cast<size_t>(count));
  for (uint8_t &l : d.labels)
    l = static_cast<uint8_t>(rng.below(static_cast<uint64_t>(classes)));
  return d;
}

} // namespace

int runTrainWorkload(const WorkloadOptions &o) {
  auto loaded = loadModel(o.model, o.batch, o.dtypePolicy);
  if (!loaded.ok())
    return fail(std::string(loaded.status().message()));
  // MNIST for models of its shape; random pixels and labels of the input's
  // shape for others (colour models): the step's speed does not depend on
  // the values.
  const std::vector<int64_t> &x =
      loaded->forward.type(loaded->forward.findValue("x")).shape;
  absl::StatusOr<runtime::LabeledImages> train, test;
  if (x[1] == 28 && x[2] == 28 && x[3] == 1) {
    auto dir = runtime::findMnistDir(o.data);
    if (!dir.ok())
      return fail(std::string(dir.status().message()));
    train = runtime::loadIdxSplit(*dir + "/", "train");
    test = runtime::loadIdxSplit(*dir + "/", "t10k");
  } else {
    const std::vector<int64_t> &probs =
        loaded->forward.type(loaded->forward.output("probs")).shape;
    train = syntheticImages(std::max<int64_t>(o.images, 4 * o.batch), x[1],
                            x[2], x[3], probs[1], 1);
    test = syntheticImages(2000, x[1], x[2], x[3], probs[1], 2);
  }
  if (!train.ok())
    return fail(std::string(train.status().message()));
  if (!test.ok())
    return fail(std::string(test.status().message()));

  auto model = runtime::Model::create(loaded->forward, loaded->spec, o.threads);
  if (!model.ok())
    return fail(std::string(model.status().message()));
  runtime::Model &m = **model;
  m.initializeWeights(loaded->spec.fit.seed);
  auto graph = m.trainingGraph();
  if (!graph.ok())
    return fail(std::string(graph.status().message()));
  double flops = runtime::graphFlops(*graph);

  int64_t maxSteps = train->images.count / o.batch;
  int64_t steps = std::clamp<int64_t>(o.images / o.batch, 1, maxSteps);
  auto fitSteps = [&](int64_t n) -> absl::StatusOr<double> {
    runtime::FitOptions fo;
    fo.limit = n * o.batch;
    auto h = m.fit(*train, nullptr, fo);
    if (!h.ok())
      return h.status();
    return h->back().seconds;
  };

  // The first fit compiles the step; its epoch time excludes that.
  auto start = Clock::now();
  auto warm = fitSteps(std::clamp<int64_t>(o.warmupSteps, 1, maxSteps));
  if (!warm.ok())
    return fail(std::string(warm.status().message()));
  double compileSeconds = since(start) - *warm;
  std::vector<double> msPerStep;
  for (int r = 0; r < o.repeats; ++r) {
    auto s = fitSteps(steps);
    if (!s.ok())
      return fail(std::string(s.status().message()));
    msPerStep.push_back(*s * 1e3 / static_cast<double>(steps));
  }

  start = Clock::now();
  auto ev = m.evaluate(*test);
  if (!ev.ok())
    return fail(std::string(ev.status().message()));
  double evalFirst = since(start);
  std::vector<double> evalSeconds;
  for (int r = 0; r < o.repeats; ++r) {
    start = Clock::now();
    ev = m.evaluate(*test);
    if (!ev.ok())
      return fail(std::string(ev.status().message()));
    evalSeconds.push_back(since(start));
  }
  double evalMedian = median(evalSeconds);

  auto probs = m.predict(test->images.pixels.data(),
                         std::min<int64_t>(1000, test->images.count));
  if (!probs.ok())
    return fail(std::string(probs.status().message()));

  fmt::print("result train ms_per_step={:.5f} flops_per_step={:.6g} "
             "compile_s={:.4f} eval_images_per_s={:.1f} eval_compile_s={:.4f} "
             "steps={} digest={:016x} test_accuracy={:.4f}\n",
             median(msPerStep), flops, compileSeconds,
             static_cast<double>(ev->count) / evalMedian,
             std::max(0.0, evalFirst - evalMedian), steps, digest(*probs),
             ev->accuracy);
  std::fflush(stdout);

  if (o.profile) {
    m.setProfiling(true);
    auto s = fitSteps(steps);
    if (!s.ok())
      return fail(std::string(s.status().message()));
    fmt::print("{}", runtime::formatProfile(m.trainingProfile(), o.peakGflops));
  }
  return 0;
}

int runCompileWorkload(const WorkloadOptions &o) {
  auto loaded = loadModel(o.model, o.batch, o.dtypePolicy);
  if (!loaded.ok())
    return fail(std::string(loaded.status().message()));
  bool pairs = runtime::bfloat16PairsForHost();
  auto train =
      passes::runTrainingPipeline(loaded->forward, loaded->spec, {}, pairs);
  if (!train.ok())
    return fail(std::string(train.status().message()));
  codegen::CompileOptions co;
  co.threads = o.compileThreads;
  auto start = Clock::now();
  auto compiled = codegen::compileGraph(*train, co);
  if (!compiled.ok())
    return fail(std::string(compiled.status().message()));
  double trainSeconds = since(start);

  auto fwd = passes::rebatch(loaded->forward, 250);
  if (!fwd.ok())
    return fail(std::string(fwd.status().message()));
  auto eval =
      passes::runEvalPipeline(*fwd, {}, loaded->spec.dtypePolicy, pairs);
  if (!eval.ok())
    return fail(std::string(eval.status().message()));
  start = Clock::now();
  auto evalCompiled = codegen::compileGraph(*eval, co);
  if (!evalCompiled.ok())
    return fail(std::string(evalCompiled.status().message()));
  const codegen::CompileStats &st = (*compiled)->stats();
  fmt::print("result compile train_s={:.4f} eval_s={:.4f} kernels={} "
             "hit={} threads={} key_s={:.4f} generate_s={:.4f} "
             "optimize_s={:.4f} codegen_s={:.4f} link_s={:.4f} "
             "object_bytes={}\n",
             trainSeconds, since(start), st.kernels, st.cacheHit ? 1 : 0,
             st.threads, st.keySeconds, st.generateSeconds, st.optimizeSeconds,
             st.codegenSeconds, st.linkSeconds, st.objectBytes);
  return 0;
}

} // namespace cnnc::bench
