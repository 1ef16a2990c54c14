#include "runtime/Model.h"
#include "runtime/DataParallel.h"

#include "runtime/Callbacks.h"
#include "runtime/ClassNames.h"
#include "runtime/MemoryBudget.h"

#include "codegen/Compiler.h"
#include "ir/FusedStages.h"
#include "ir/Printer.h"
#include "passes/Pipelines.h"
#include "passes/Rebatch.h"
#include "runtime/Progress.h"
#include "runtime/Safetensors.h"
#include "support/Hash.h"
#include "support/Random.h"

#include "absl/status/status.h"
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>

namespace cnnc::runtime {

using support::SplitMix64;

namespace {

// Evaluation batch: large enough to amortize per-step overhead, small enough
// to keep the arena (and RSS) modest.
constexpr int64_t kEvalBatch = 250;
// Training steps per Executor::runSteps call: between two of them, a
// worker feeds the next batch when the caller is descheduled; at the end,
// the progress line and the checks of each step (fit's loop).
constexpr int kStepsPerRun = 16;

int64_t numClasses(const ir::Graph &forward) {
  ir::ValueId probs = forward.output("probs");
  return probs < 0 ? 0 : forward.type(probs).shape.back();
}

// u8 pixels as the model sees them: x / 255.
void scalePixels(const uint8_t *in, int64_t n, float *out) {
  constexpr float kScale = 1.0f / 255.0f;
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(in[i]) * kScale;
}

// Where a training or evaluation graph takes a batch and gives its metrics,
// looked up by name once per executor instead of on every step.
struct BatchIO {
  float *x = nullptr;
  int32_t *labels = nullptr;
  int32_t *step = nullptr;       // training graphs only
  float *learningRate = nullptr; // training graphs only
  const float *loss = nullptr, *correct = nullptr;
};

absl::StatusOr<BatchIO> bindBatchIO(const Executor &ex, bool training) {
  const ir::Graph &g = ex.graph();
  ir::ValueId x = g.findValue("x"), labels = g.findValue("labels");
  ir::ValueId step = training ? g.findValue("step") : 0;
  ir::ValueId lr = training ? g.findValue("learning_rate") : 0;
  ir::ValueId loss = g.output("loss"), correct = g.output("correct");
  if (x < 0 || labels < 0 || step < 0 || lr < 0 || loss < 0 || correct < 0)
    return absl::InternalError(fmt::format(
        "graph '{}' lacks one of %x, %labels{} and the outputs 'loss' and "
        "'correct'",
        g.name(), training ? ", %step, %learning_rate" : ""));
  BatchIO io;
  io.x = ex.f32(x);
  io.labels = ex.i32(labels);
  io.step = training ? ex.i32(step) : nullptr;
  io.learningRate = training ? ex.f32(lr) : nullptr;
  io.loss = ex.f32(loss);
  io.correct = ex.f32(correct);
  return io;
}

// Images [begin, begin + batch) of `order` (of the data when empty).
void feedImages(const BatchIO &io, const LabeledImages &data,
                const std::vector<int64_t> &order, int64_t begin,
                int64_t batch) {
  int64_t pixels = data.images.imageSize();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t src = order.empty() ? begin + b : order[begin + b];
    scalePixels(data.images.pixels.data() + src * pixels, pixels,
                io.x + b * pixels);
    io.labels[b] = data.labels[src];
  }
}
} // namespace

void shuffledOrder(uint64_t seed, int64_t epoch, std::vector<int64_t> &order) {
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int64_t>(i);
  SplitMix64 rng(seed ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(epoch)));
  // Fisher-Yates with our own bounded draws: std::shuffle's algorithm is
  // implementation-defined, and results must not depend on the library.
  for (size_t i = order.size(); i > 1; --i)
    std::swap(order[i - 1], order[rng.below(i)]);
}

Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>>
Model::create(ir::Graph forward, ir::TrainingSpec spec, int threads) {
  if (forward.findValue("x") < 0 || forward.output("probs") < 0)
    return absl::InvalidArgumentError(
        "the forward graph needs an input %x and an output 'probs'");
  if (absl::Status s = checkWeightMemory(forward, spec); !s.ok())
    return s;
  auto m = std::unique_ptr<Model>(new Model());
  m->forward_ = std::move(forward);
  m->spec_ = std::move(spec);
  m->learningRate_ = static_cast<float>(m->spec_.optimizer.learningRate);
  if (absl::Status s = m->setThreads(threads); !s.ok())
    return s;
  for (const ir::Value &v : m->forward_.values())
    if (v.kind == ir::ValueKind::Param)
      m->store_.getOrCreate(v.name, v.type);
  return m;
}

void Model::initializeWeights(uint64_t seed) {
  SplitMix64 rng(seed);
  for (const ir::Value &v : forward_.values()) {
    if (v.kind != ir::ValueKind::Param)
      continue;
    float *data = store_.find(v.name);
    int64_t n = v.type.numElements();
    if (v.attrs.getString(ir::AttrName::Init) == "glorot_uniform") {
      double fanIn =
          static_cast<double>(v.attrs.getInt(ir::AttrName::FanIn, 1));
      double fanOut =
          static_cast<double>(v.attrs.getInt(ir::AttrName::FanOut, 1));
      double limit = std::sqrt(6.0 / (fanIn + fanOut));
      for (int64_t i = 0; i < n; ++i)
        data[i] = static_cast<float>(limit * (2.0 * rng.uniform() - 1.0));
    } else if (v.attrs.getString(ir::AttrName::Init) == "ones") {
      // Batch normalization's gamma and moving variance.
      std::fill(data, data + n, 1.0f);
    } else {
      std::memset(data, 0, n * sizeof(float));
    }
  }
  globalStep_ = 0;
  globalEpoch_ = 0;
  learningRate_ = static_cast<float>(spec_.optimizer.learningRate);
}

CallbackHooks Model::callbackHooks() {
  CallbackHooks h;
  h.writesFiles = !parallel() || parallel()->rank() == 0;
  // The params (Keras's get_weights: batch normalization's moving
  // statistics included), not the optimizer's state.
  h.snapshotWeights = [this] {
    std::vector<std::vector<float>> w;
    for (const ir::Value &v : forward_.values())
      if (v.kind == ir::ValueKind::Param) {
        const float *data = store_.find(v.name);
        w.emplace_back(data, data + v.type.numElements());
      }
    return w;
  };
  h.restoreWeights = [this](const std::vector<std::vector<float>> &w) {
    size_t i = 0;
    for (const ir::Value &v : forward_.values())
      if (v.kind == ir::ValueKind::Param && i < w.size()) {
        std::copy(w[i].begin(), w[i].end(), store_.find(v.name));
        ++i;
      }
  };
  h.saveWeights = [this](const std::string &path) { return saveWeights(path); };
  h.learningRate = [this] { return learningRate_; };
  h.setLearningRate = [this](float lr) { learningRate_ = lr; };
  return h;
}

BackupIdentity Model::backupIdentity(const LabeledImages &train,
                                     int64_t limit) const {
  BackupIdentity id;
  id.version = CNNC_VERSION;
  id.model = fmt::format("{:016x}", support::hash64(ir::printGraph(forward_)));
  id.recipe = fmt::format("{:016x}", support::hash64(recipeText(spec_)));
  uint64_t h = support::hash64(
      std::string_view(reinterpret_cast<const char *>(train.labels.data()),
                       train.labels.size() * sizeof(train.labels[0])));
  h = support::hash64(std::string_view(reinterpret_cast<const char *>(
                                           train.images.pixels.data()),
                                       train.images.pixels.size()),
                      h);
  id.data = fmt::format("{} images (limit {}), {:016x}", train.images.count,
                        limit, h);
  id.threads = threads();
  return id;
}

absl::Status Model::checkRanksAgree(const LabeledImages &train, int64_t limit) {
  Communicator &comm = *parallel();
  BackupIdentity id = backupIdentity(train, limit);
  std::pair<const char *, std::string> parts[] = {
      {"cnnc version", id.version},
      {"model", id.model},
      {"training recipe", id.recipe},
      {"training data", id.data}};
  for (const auto &[what, text] : parts) {
    auto all = comm.allGather(support::hash64(text));
    if (!all.ok())
      return all.status();
    for (int r = 1; r < comm.size(); ++r)
      if ((*all)[r] != (*all)[0])
        return absl::FailedPreconditionError(fmt::format(
            "data-parallel training: rank {} has another {} than rank 0; "
            "every process must run the same cnnc on the same model, recipe "
            "and data",
            r, what));
  }
  return absl::OkStatus();
}

TrainingBackup Model::backupOf(const Callbacks &callbacks) const {
  TrainingBackup b;
  for (const std::string &name : store_.names()) {
    const ir::TensorType *type = store_.typeOf(name);
    const float *data = store_.find(name);
    b.tensors.push_back({name, type->shape,
                         std::vector<float>(data, data + type->numElements())});
  }
  b.callbacks = callbacks.saveState();
  b.globalStep = globalStep_;
  b.globalEpoch = globalEpoch_;
  b.learningRate = learningRate_;
  return b;
}

absl::Status Model::restoreFrom(const TrainingBackup &b, Callbacks &callbacks) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const std::string &name : store_.names())
    expected.push_back({name, store_.typeOf(name)->shape});
  std::vector<NamedTensor> sorted = b.tensors;
  if (absl::Status s = matchTensors("the backup", sorted, expected); !s.ok())
    return s;
  if (absl::Status s = callbacks.restoreState(b.callbacks); !s.ok())
    return s;
  if (b.epoch < 1 || b.epoch > spec_.fit.epochs + 1 || b.step < 0 ||
      b.globalStep > std::numeric_limits<int32_t>::max())
    return absl::InvalidArgumentError(
        fmt::format("it stands at epoch {}, step {} (step {} overall), "
                    "outside this fit",
                    b.epoch, b.step, b.globalStep));
  for (const NamedTensor &t : b.tensors)
    std::memcpy(store_.find(t.name), t.data.data(),
                t.data.size() * sizeof(float));
  globalStep_ = b.globalStep;
  globalEpoch_ = b.globalEpoch;
  learningRate_ = b.learningRate;
  return absl::OkStatus();
}

absl::Status Model::saveWeights(const std::string &path) const {
  std::vector<NamedTensor> tensors;
  for (const ir::Value &v : forward_.values()) {
    if (v.kind != ir::ValueKind::Param)
      continue;
    const float *data = store_.find(v.name);
    tensors.push_back({v.name, v.type.shape,
                       std::vector<float>(data, data + v.type.numElements())});
  }
  std::map<std::string, std::string> metadata = {{"format", "cnnc"},
                                                 {"model", forward_.name()}};
  if (!classNames_.empty())
    metadata[kClassNamesKey] = classNamesToJson(classNames_);
  return writeSafetensors(path, tensors, metadata);
}

absl::Status Model::loadWeights(const std::string &path) {
  std::map<std::string, std::string> metadata;
  auto loaded = readSafetensors(path, &metadata);
  if (!loaded.ok())
    return loaded.status();
  std::vector<std::string> names;
  if (auto it = metadata.find(kClassNamesKey); it != metadata.end()) {
    auto parsed = classNamesFromJson(it->second, path);
    if (!parsed.ok())
      return parsed.status();
    names = *std::move(parsed);
    int64_t classes = numClasses(forward_);
    if (static_cast<int64_t>(names.size()) != classes)
      return absl::InvalidArgumentError(fmt::format(
          "{}: __metadata__ {} names {} classes but the model's last layer "
          "has {} units",
          path, kClassNamesKey, names.size(), classes));
  }
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const ir::Value &v : forward_.values())
    if (v.kind == ir::ValueKind::Param)
      expected.push_back({v.name, v.type.shape});
  if (absl::Status s = matchTensors(path, *loaded, expected); !s.ok())
    return s;
  for (const NamedTensor &t : *loaded)
    std::memcpy(store_.find(t.name), t.data.data(),
                t.data.size() * sizeof(float));
  classNames_ = std::move(names);
  return absl::OkStatus();
}

absl::StatusOr<WeightsByName> Model::loadWeightsByName(const std::string &path,
                                                       bool skipMismatch) {
  auto file = readSafetensors(path);
  if (!file.ok())
    return file.status();
  std::map<std::string, const NamedTensor *> byName;
  for (const NamedTensor &t : *file)
    byName.emplace(t.name, &t);
  WeightsByName report;
  std::vector<const NamedTensor *> toCopy;
  for (const ir::Value &v : forward_.values()) {
    if (v.kind != ir::ValueKind::Param)
      continue;
    auto it = byName.find(v.name);
    if (it == byName.end()) {
      report.fresh.push_back(v.name);
      continue;
    }
    const NamedTensor &t = *it->second;
    byName.erase(it);
    if (t.shape != v.type.shape) {
      std::string what =
          fmt::format("{} ({} in the file, {} in the model)", v.name,
                      ir::shapeStr(t.shape), ir::shapeStr(v.type.shape));
      if (!skipMismatch)
        return absl::InvalidArgumentError(fmt::format(
            "{}: tensor '{}' is {} in the file but {} in the model; "
            "skip_mismatch=true leaves such weights as they are",
            path, v.name, ir::shapeStr(t.shape), ir::shapeStr(v.type.shape)));
      report.skipped.push_back(std::move(what));
      continue;
    }
    report.loaded.push_back(v.name);
    toCopy.push_back(&t);
  }
  for (const auto &[name, t] : byName)
    report.unused.push_back(name);
  for (const NamedTensor *t : toCopy)
    std::memcpy(store_.find(t->name), t->data.data(),
                t->data.size() * sizeof(float));
  return report;
}

bool bfloat16PairsForHost() {
  if (const char *e = std::getenv("CNNC_BF16_PAIRS"); e && *e)
    return std::string_view(e) == "1";
  return codegen::hostHasBfloat16Dot();
}

absl::StatusOr<ir::Graph>
Model::trainingGraph(const passes::PipelineOptions &options,
                     std::optional<bool> pairs) const {
  return passes::runTrainingPipeline(forward_, spec_, options,
                                     pairs.value_or(bfloat16PairsForHost()));
}

absl::StatusOr<Executor *> Model::cachedExecutor(ExecutorCache &cache,
                                                 int64_t batch,
                                                 const Pipeline &pipeline) {
  auto it = cache.find(batch);
  if (it != cache.end())
    return it->second.get();
  auto fwd = passes::rebatch(forward_, batch);
  if (!fwd.ok())
    return fwd.status();
  auto g = pipeline(*fwd);
  if (!g.ok())
    return g.status();
  auto ex = Executor::create(*std::move(g), store_);
  if (!ex.ok())
    return ex.status();
  return (cache[batch] = *std::move(ex)).get();
}

absl::StatusOr<Executor *> Model::trainExecutor(int64_t batch) {
  return cachedExecutor(train_, batch, [&](const ir::Graph &fwd) {
    return passes::runTrainingPipeline(fwd, spec_, pipeline_,
                                       bfloat16PairsForHost());
  });
}

absl::StatusOr<Executor *> Model::evalExecutor(int64_t batch) {
  return cachedExecutor(eval_, batch, [&](const ir::Graph &fwd) {
    return passes::runEvalPipeline(fwd, pipeline_, spec_.dtypePolicy,
                                   bfloat16PairsForHost());
  });
}

absl::StatusOr<Executor *> Model::predictExecutor(int64_t batch) {
  return cachedExecutor(predict_, batch, [&](const ir::Graph &fwd) {
    return passes::runPredictPipeline(fwd, pipeline_, spec_.dtypePolicy,
                                      bfloat16PairsForHost());
  });
}

absl::Status Model::checkData(const LabeledImages &data,
                              const char *what) const {
  const std::vector<int64_t> &x = forward_.type(forward_.findValue("x")).shape;
  const IdxImages &im = data.images;
  if (im.channels != x[3] || im.rows != x[1] || im.cols != x[2])
    return absl::InvalidArgumentError(
        fmt::format("{} images are {}x{}x{} but the model's input is {}x{}x{}",
                    what, im.rows, im.cols, im.channels, x[1], x[2], x[3]));
  // The data is the caller's: never trust its sizes to agree.
  if (im.count < 0 || static_cast<int64_t>(data.labels.size()) != im.count ||
      static_cast<int64_t>(im.pixels.size()) != im.count * im.imageSize())
    return absl::InvalidArgumentError(fmt::format(
        "{} set holds {} labels and {} pixels for {} images of {}x{}x{}", what,
        data.labels.size(), im.pixels.size(), im.count, im.rows, im.cols,
        im.channels));
  int64_t classes = numClasses(forward_);
  if (!data.classNames.empty() &&
      static_cast<int64_t>(data.classNames.size()) != classes)
    return absl::InvalidArgumentError(fmt::format(
        "{} set has {} classes ({}) but the model's last layer has {} units",
        what, data.classNames.size(), joinClassNames(data.classNames),
        classes));
  for (size_t i = 0; i < data.labels.size(); ++i)
    if (data.labels[i] >= classes)
      return absl::InvalidArgumentError(fmt::format(
          "{} label {} at index {} is outside the model's {} classes", what,
          data.labels[i], i, classes));
  if (data.images.count == 0)
    return absl::InvalidArgumentError(fmt::format("{} set is empty", what));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EpochRecord>>
Model::fit(const LabeledImages &train, const LabeledImages *validation,
           const FitOptions &options) {
  FitState localState;
  FitState &state = options.state ? *options.state : localState;
  state = FitState();
  if (absl::Status s = checkData(train, "training"); !s.ok())
    return s;
  if (validation) {
    if (absl::Status s = checkData(*validation, "validation"); !s.ok())
      return s;
    if (!validation->classNames.empty() && !train.classNames.empty() &&
        validation->classNames != train.classNames)
      return absl::InvalidArgumentError(fmt::format(
          "the validation classes ({}) differ from the training classes ({})",
          joinClassNames(validation->classNames),
          joinClassNames(train.classNames)));
  }
  if (!train.classNames.empty())
    classNames_ = train.classNames;
  int64_t count = train.images.count;
  if (options.limit > 0)
    count = std::min(count, options.limit);
  int64_t batch = std::min(spec_.fit.batchSize, count);
  int64_t steps = (count + batch - 1) / batch;
  int64_t tail = count - (steps - 1) * batch;

  // Data-parallel: every rank takes its slice of each (global) batch.
  Communicator *comm = parallel();
  int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;
  if (comm) {
    if (spec_.fit.batchSize % ranks != 0 || batch < ranks)
      return absl::InvalidArgumentError(fmt::format(
          "data-parallel training: batch_size {} does not divide among {} "
          "processes (each takes batch_size / {} examples of every batch)",
          spec_.fit.batchSize, ranks, ranks));
    for (const ir::CallbackSpec &c : spec_.fit.callbacks)
      if (c.kind == ir::CallbackKind::BackupAndRestore)
        return absl::InvalidArgumentError(
            "data-parallel training: backup_and_restore is not supported "
            "across processes yet");
    if (absl::Status s = checkRanksAgree(train, options.limit); !s.ok())
      return s;
  }
  Slice fullSlice = sliceOf(batch, rank, ranks);
  Slice tailSlice = sliceOf(tail, rank, ranks);

  // Compile everything before the first epoch so epoch times are clean.
  auto full = trainExecutor(fullSlice.count);
  if (!full.ok())
    return full.status();
  Executor *tailEx = *full;
  if (tailSlice.count != fullSlice.count && tailSlice.count > 0) {
    auto t = trainExecutor(tailSlice.count);
    if (!t.ok())
      return t.status();
    tailEx = *t;
  }
  DataParallelStep *fullParallel = nullptr, *tailParallel = nullptr;
  if (comm) {
    // Every rank makes the same buffers in the same order (collectively,
    // on one machine), whichever batches it has examples of.
    for (auto [b, to] : {std::pair{fullSlice.count, &fullParallel},
                         std::pair{tailSlice.count, &tailParallel}}) {
      if (b == 0)
        continue;
      std::unique_ptr<DataParallelStep> &dp =
          parallelSteps_[{fullSlice.count, b}];
      if (!dp) {
        auto made = DataParallelStep::create(
            *train_.at(b), *comm, 2,
            b == fullSlice.count
                ? nullptr
                : parallelSteps_.at({fullSlice.count, fullSlice.count}).get());
        if (!made.ok())
          return made.status();
        dp = *std::move(made);
      }
      *to = dp.get();
    }
    if (!tailParallel)
      tailParallel = fullParallel;
  }
  if (validation) {
    auto e = evalExecutor(std::min(kEvalBatch, validation->images.count));
    if (!e.ok())
      return e.status();
  }
  for (auto &[b, ex] : train_)
    ex->setProfiling(profiling_);
  auto fullIO = bindBatchIO(**full, /*training=*/true);
  if (!fullIO.ok())
    return fullIO.status();
  auto tailIO = bindBatchIO(*tailEx, /*training=*/true);
  if (!tailIO.ok())
    return tailIO.status();

  Callbacks callbacks(spec_.fit.callbacks, callbackHooks());
  const ir::CallbackSpec *backup = nullptr;
  bool terminateOnNan = false, logLearningRate = false;
  for (const ir::CallbackSpec &c : spec_.fit.callbacks) {
    backup = c.kind == ir::CallbackKind::BackupAndRestore ? &c : backup;
    terminateOnNan |= c.kind == ir::CallbackKind::TerminateOnNan;
    logLearningRate |= c.kind == ir::CallbackKind::ReduceLrOnPlateau;
  }
  // Where this fit starts: epoch 1, or where a backup left it.
  TrainingBackup at;
  BackupIdentity identity;
  if (backup) {
    identity = backupIdentity(train, options.limit);
    auto restored = readBackup(backup->path, identity);
    if (!restored.ok())
      return restored.status();
    if (*restored) {
      if (absl::Status s = restoreFrom(**restored, callbacks); !s.ok())
        return absl::Status(s.code(),
                            fmt::format("{}: {}", backupPath(backup->path),
                                        std::string(s.message())));
      at = **std::move(restored);
      if (at.step > steps)
        return absl::InvalidArgumentError(fmt::format(
            "{}: the backup stands at step {} of an epoch of {} steps",
            backupPath(backup->path), at.step, steps));
      at.tensors.clear();
      at.callbacks.clear();
      state.history = at.history;
      if (options.log)
        options.log->note(
            at.finished
                ? fmt::format("Restored the finished run from {}",
                              backupPath(backup->path))
                : fmt::format("Restored from {}: epoch {}, step {} of {}",
                              backupPath(backup->path), at.epoch, at.step,
                              steps));
    }
  }
  // Writes the backup of the run as it stands: at `epoch`'s step `step`.
  auto writeBackupAt = [&](int64_t epoch, int64_t step, bool finished,
                           double lossSum, double correct, int64_t seen,
                           double seconds) {
    TrainingBackup b = backupOf(callbacks);
    b.identity = identity;
    b.epoch = epoch;
    b.step = step;
    b.finished = finished;
    b.lossSum = lossSum;
    b.correct = correct;
    b.seen = seen;
    b.seconds = seconds;
    b.history = state.history;
    return writeBackup(backup->path, b);
  };
  // The fit is over: Keras's delete_checkpoint removes the backup; kept, it
  // says so, and running again only restores the outcome.
  auto finish = [&]() -> absl::StatusOr<std::vector<EpochRecord>> {
    if (backup) {
      absl::Status s = backup->deleteCheckpoint
                           ? removeBackup(backup->path)
                           : writeBackupAt(at.epoch, 0, true, 0, 0, 0, 0);
      if (!s.ok())
        return s;
    }
    return state.history;
  };
  if (at.finished)
    return finish();

  const int64_t startEpoch = at.epoch, startStep = at.step;
  std::vector<int64_t> order(count);
  std::vector<std::pair<double, double>> stepMetrics;
  stepMetrics.reserve(kStepsPerRun);
  bool reportedNan = false;
  for (int64_t epoch = startEpoch; epoch <= spec_.fit.epochs; ++epoch) {
    auto start = std::chrono::steady_clock::now();
    // Resumed inside an epoch, whose shuffle order was already drawn.
    bool resumed = epoch == startEpoch && startStep > 0;
    int64_t firstStep = resumed ? startStep : 0;
    double priorSeconds = resumed ? at.seconds : 0;
    // The first fit shuffles as epochs 1, 2, ...; the next continues.
    int64_t shuffleEpoch = resumed ? globalEpoch_ : ++globalEpoch_;
    if (spec_.fit.shuffle)
      shuffledOrder(spec_.fit.seed, shuffleEpoch, order);
    else
      std::iota(order.begin(), order.end(), int64_t{0});
    if (options.log)
      options.log->beginEpoch(epoch, spec_.fit.epochs, steps);
    double lossSum = resumed ? at.lossSum : 0,
           correct = resumed ? at.correct : 0;
    int64_t seen = resumed ? at.seen : 0;
    auto elapsed = [&] {
      return priorSeconds + std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - start)
                                .count();
    };
    // Feeds step s: its batch, learning rate and number.
    auto feed = [&](const BatchIO &io, int64_t s, Slice mine) {
      if (mine.count > 0)
        feedImages(io, train, order, s * batch + mine.begin, mine.count);
      // Keras calls a schedule with the steps taken before this one.
      *io.learningRate = spec_.optimizer.schedule
                             ? static_cast<float>(ir::learningRateAt(
                                   *spec_.optimizer.schedule, globalStep_))
                             : learningRate_;
      *io.step = static_cast<int32_t>(++globalStep_);
    };
    const int64_t fullSteps = tail == batch ? steps : steps - 1;
    for (int64_t s = firstStep; s < steps;) {
      int64_t n = s + 1 < steps ? batch : tail;
      Slice mine = n == batch ? fullSlice : tailSlice;
      // A rank without examples in the tail still joins its sum, and
      // updates through the full batch's executor.
      bool useTail = n != batch && mine.count > 0;
      Executor &ex = useTail ? *tailEx : **full;
      const BatchIO &io = useTail ? *tailIO : *fullIO;
      feed(io, s, mine);
      // Per step made (s, s + 1, ...): its loss times its examples, and
      // its correct count.
      std::vector<std::pair<double, double>> &made = stepMetrics;
      made.clear();
      if (comm) {
        float share = static_cast<float>(mine.count) / static_cast<float>(n);
        DataParallelStep &dp = useTail ? *tailParallel : *fullParallel;
        double sums[2] = {0, 0};
        if (absl::Status st = dp.run(
                *pool_, *comm, mine.count > 0, share,
                [&](double *m) {
                  m[0] = mine.count > 0 ? *io.loss * mine.count : 0.0;
                  m[1] = mine.count > 0 ? *io.correct : 0.0;
                },
                sums, profiling_ ? &sumProfile_ : nullptr,
                profiling_ ? &waitProfile_ : nullptr);
            !st.ok())
          return st;
        made.emplace_back(sums[0], sums[1]);
      } else {
        // Full batches back to back, up to the next backup; between two,
        // whichever thread is free feeds the next (Executor::runSteps).
        int64_t count = std::max<int64_t>(
            1, std::min(fullSteps - s, int64_t{kStepsPerRun}));
        int64_t done = (epoch - 1) * steps + s;
        if (backup && backup->saveFreq > 0)
          count = std::min(count, backup->saveFreq - done % backup->saveFreq);
        int runs = ex.runSteps(*pool_, static_cast<int>(count), [&](int i) {
          made.emplace_back(*io.loss * n, *io.correct);
          // Where the loss is not finite or a stop was asked for, the runs
          // end after that step, as they would one at a time.
          if ((terminateOnNan && !std::isfinite(made.back().first)) ||
              (options.stop && options.stop->load(std::memory_order_relaxed)))
            return false;
          feed(io, s + i, mine);
          return true;
        });
        // The last step's (unless the call that ended the runs took them).
        if (made.size() < static_cast<size_t>(runs))
          made.emplace_back(*io.loss * n, *io.correct);
      }
      for (auto [loss, right] : made) {
        lossSum += loss;
        correct += right;
        seen += n;
        ++s;
        state.epoch = epoch;
        state.step = s;
        if (options.log)
          options.log->step(s, lossSum / seen, correct / seen);
        if (!std::isfinite(lossSum) && terminateOnNan) {
          if (options.log)
            options.log->note(fmt::format(
                "Epoch {}, step {}: invalid loss, terminating training", epoch,
                s));
          return absl::FailedPreconditionError(fmt::format(
              "terminate_on_nan stopped training: the loss is not finite at "
              "epoch {}, step {}",
              epoch, s));
        }
      }
      bool stopping =
          options.stop && options.stop->load(std::memory_order_relaxed);
      // Every save_freq steps of the fit, and where a stop request ends it.
      int64_t done = (epoch - 1) * steps + s;
      if (backup &&
          ((backup->saveFreq > 0 && done % backup->saveFreq == 0) || stopping))
        if (absl::Status st = writeBackupAt(epoch, s, false, lossSum, correct,
                                            seen, elapsed());
            !st.ok())
          return st;
      if (stopping) {
        state.stopped = true;
        return state.history;
      }
    }
    EpochRecord r;
    r.epoch = static_cast<int>(epoch);
    r.loss = lossSum / seen;
    r.accuracy = correct / seen;
    r.seconds = elapsed();
    if (validation) {
      auto v = evaluate(*validation);
      if (!v.ok())
        return v.status();
      r.hasValidation = true;
      r.valLoss = v->loss;
      r.valAccuracy = v->accuracy;
    }
    if (logLearningRate)
      r.learningRate = learningRate_;
    if (options.log)
      options.log->endEpoch(r);
    if (!std::isfinite(r.loss) && !reportedNan && options.log) {
      reportedNan = true;
      options.log->note(fmt::format(
          "Epoch {}: the loss is not finite; callbacks=[terminate_on_nan] "
          "stops at the first such step",
          epoch));
    }
    state.history.push_back(r);
    std::vector<std::string> notes;
    auto stop = callbacks.epochEnd(state.history, notes);
    if (!stop.ok())
      return stop.status();
    for (const std::string &note : notes)
      if (options.log)
        options.log->note(note);
    bool last = *stop || epoch == spec_.fit.epochs;
    at.epoch = epoch + 1;
    if (backup && backup->saveFreq == 0 && !last)
      if (absl::Status st = writeBackupAt(epoch + 1, 0, false, 0, 0, 0, 0);
          !st.ok())
        return st;
    if (*stop)
      break;
    if (options.onEpochEnd && !options.onEpochEnd(r))
      break;
  }
  return finish();
}

absl::StatusOr<EvalResult> Model::evaluate(const LabeledImages &data) {
  if (absl::Status s = checkData(data, "evaluation"); !s.ok())
    return s;
  int64_t count = data.images.count;
  // Data-parallel: each rank evaluates its share, and the sums are summed.
  Communicator *comm = parallel();
  Slice mine =
      comm ? sliceOf(count, comm->rank(), comm->size()) : Slice{0, count};
  int64_t batch = std::min(kEvalBatch, std::max<int64_t>(mine.count, 1));
  const int64_t end = mine.begin + mine.count;
  double lossSum = 0, correct = 0;
  for (int64_t begin = mine.begin; begin < end;) {
    int64_t n = std::min(batch, end - begin);
    auto ex = evalExecutor(n);
    if (!ex.ok())
      return ex.status();
    auto io = bindBatchIO(**ex, /*training=*/false);
    if (!io.ok())
      return io.status();
    // The batches of this size back to back: between two, whichever thread
    // is free adds up one and feeds the next (Executor::runSteps), as in
    // training, so that a descheduled caller does not stop the workers.
    auto add = [&] {
      lossSum += *io->loss * n;
      correct += *io->correct;
    };
    auto count = static_cast<int>(
        std::min<int64_t>((end - begin) / n, std::numeric_limits<int>::max()));
    feedImages(*io, data, {}, begin, n);
    int runs = (*ex)->runSteps(*pool_, count, [&](int i) {
      add();
      feedImages(*io, data, {}, begin + i * n, n);
      return true;
    });
    add();
    begin += runs * n;
  }
  if (comm) {
    double sums[2] = {lossSum, correct};
    if (absl::Status s = comm->sum(sums, 2); !s.ok())
      return s;
    lossSum = sums[0];
    correct = sums[1];
  }
  return EvalResult{lossSum / count, correct / count, count};
}

absl::StatusOr<std::vector<float>> Model::predict(const float *images,
                                                  int64_t count) {
  const ir::TensorType &xt = forward_.type(forward_.findValue("x"));
  int64_t perImage = xt.numElements() / xt.shape[0];
  return predictBatches(count, [&](float *x, int64_t begin, int64_t n) {
    std::memcpy(x, images + begin * perImage, n * perImage * sizeof(float));
  });
}

absl::StatusOr<std::vector<float>> Model::predict(const uint8_t *images,
                                                  int64_t count) {
  const ir::TensorType &xt = forward_.type(forward_.findValue("x"));
  int64_t perImage = xt.numElements() / xt.shape[0];
  return predictBatches(count, [&](float *x, int64_t begin, int64_t n) {
    scalePixels(images + begin * perImage, n * perImage, x);
  });
}

absl::Status Model::setThreads(int threads) {
  auto pool = std::make_unique<ThreadPool>(threads);
  if (!pool->status().ok())
    return pool->status(); // keep the pool there was
  pool_ = std::move(pool);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Model::predictBatches(
    int64_t count,
    const std::function<void(float *x, int64_t begin, int64_t n)> &fill) {
  if (count <= 0)
    return absl::InvalidArgumentError("predict needs at least one image");
  int64_t classes = numClasses(forward_);
  int64_t batch = std::min(kEvalBatch, count);
  std::vector<float> out(count * classes);
  for (int64_t begin = 0; begin < count;) {
    int64_t n = std::min(batch, count - begin);
    auto ex = predictExecutor(n);
    if (!ex.ok())
      return ex.status();
    const ir::Graph &g = (*ex)->graph();
    float *x = (*ex)->f32(g.findValue("x"));
    const float *probs = (*ex)->f32(g.output("probs"));
    // Batches of one size back to back, as evaluate's.
    auto take = [&](int64_t at) {
      std::memcpy(out.data() + at * classes, probs,
                  n * classes * sizeof(float));
    };
    auto runs = static_cast<int>(std::min<int64_t>(
        (count - begin) / n, std::numeric_limits<int>::max()));
    fill(x, begin, n);
    int made = (*ex)->runSteps(*pool_, runs, [&](int i) {
      take(begin + (i - 1) * n);
      fill(x, begin + i * n, n);
      return true;
    });
    take(begin + (made - 1) * n);
    begin += made * n;
  }
  return out;
}

std::vector<KernelProfile> Model::trainingProfile() const {
  std::vector<KernelProfile> out;
  for (const auto &[batch, ex] : train_) {
    const ir::Graph &g = ex->graph();
    for (size_t i = 0; i < g.ops().size(); ++i) {
      const OpProfile &p = ex->profile()[i];
      if (p.calls == 0)
        continue;
      out.push_back({codegen::kernelName(g, i), ir::opLabel(g.ops()[i]),
                     p.seconds, p.calls, opFlops(g, i)});
    }
  }
  if (sumProfile_.calls > 0)
    out.push_back(
        {"sum", "allreduce", sumProfile_.seconds, sumProfile_.calls, 0});
  if (waitProfile_.calls > 0)
    out.push_back({"wait for ranks", "barrier", waitProfile_.seconds,
                   waitProfile_.calls, 0});
  return out;
}

} // namespace cnnc::runtime
