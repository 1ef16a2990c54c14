// cnnc::Model: a facade over the frontend (parse, recipe, lowering), the
// compile pipelines and runtime::Model (weights, executors, training loop).
#include "api/Internal.h"

#include "codegen/Compiler.h"
#include "frontend/Frontend.h"
#include "ir/Printer.h"
#include "passes/Pipelines.h"
#include "runtime/ClassSubset.h"
#include "runtime/Communicator.h"
#include "runtime/ImageFolder.h"
#include "runtime/Model.h"
#include "runtime/Profile.h"
#include "runtime/Progress.h"
#include "runtime/ThreadPool.h"
#include "support/Text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc {

const std::vector<std::string> &dtypePolicies() {
  return ir::dtypePolicyNames();
}

Bfloat16Kernels bfloat16Kernels() {
  if (!runtime::bfloat16PairsForHost())
    return Bfloat16Kernels::RoundedOperands;
  return codegen::hostHasBfloat16Dot() ? Bfloat16Kernels::PairsNative
                                       : Bfloat16Kernels::PairsEmulated;
}

namespace {

// The pass after which the training graph counts as fused (Stage::Fused).
constexpr const char *kFusionPass = "fusion";
constexpr int kMaxThreads = 1024;

Status checkThreads(int threads) {
  if (threads < 0 || threads > kMaxThreads)
    return Status(fmt::format("threads: expects 0 (one per core) to {}, got {}",
                              kMaxThreads, threads));
  return Status();
}

EpochMetrics toMetrics(const runtime::EpochRecord &r) {
  EpochMetrics m;
  m.epoch = r.epoch;
  m.loss = r.loss;
  m.accuracy = r.accuracy;
  m.hasValidation = r.hasValidation;
  m.valLoss = r.valLoss;
  m.valAccuracy = r.valAccuracy;
  m.seconds = r.seconds;
  if (r.hasLearningRate())
    m.learningRate = r.learningRate;
  return m;
}

// Applies the overrides, rejecting values the DSL would reject.
Result<ir::TrainingSpec> applyOverrides(ir::TrainingSpec spec,
                                        const CompileOptions &o) {
  if (o.epochs) {
    if (*o.epochs < 1)
      return Status(
          fmt::format("epochs: expects a positive integer, got {}", *o.epochs));
    spec.fit.epochs = *o.epochs;
  }
  if (o.batchSize) {
    if (*o.batchSize < 1)
      return Status(fmt::format(
          "batch size: expects a positive integer, got {}", *o.batchSize));
    spec.fit.batchSize = *o.batchSize;
  }
  if (o.optimizer) {
    frontend::OptimizerResult r =
        frontend::parseOptimizerValue(*o.optimizer, "optimizer option");
    if (r.error)
      return Status(api::toDiagnostic(*r.error));
    spec.optimizer = *r.optimizer;
  }
  if (o.learningRate) {
    if (!std::isfinite(*o.learningRate) || *o.learningRate <= 0)
      return Status(fmt::format(
          "learning rate: expects a positive number, got {}", *o.learningRate));
    // A constant rate, in place of a schedule too.
    spec.optimizer.learningRate = *o.learningRate;
    spec.optimizer.schedule.reset();
  }
  if (o.callbacks) {
    frontend::CallbacksResult r =
        frontend::parseCallbacksValue(*o.callbacks, "callbacks option");
    if (r.error)
      return Status(api::toDiagnostic(*r.error));
    spec.fit.callbacks = *r.callbacks;
  }
  if (o.optimizer || o.learningRate || o.callbacks)
    if (auto conflict = frontend::recipeConflict(spec.optimizer, spec.fit))
      return Status(*conflict);
  if (o.dtypePolicy) {
    std::optional<ir::DtypePolicy> p = ir::dtypePolicyFromName(*o.dtypePolicy);
    if (!p)
      return Status(fmt::format("dtype policy: expects {}, got '{}'",
                                support::orList(ir::dtypePolicyNames()),
                                *o.dtypePolicy));
    spec.dtypePolicy = *p;
  }
  if (o.seed)
    spec.fit.seed = *o.seed;
  if (o.shuffle)
    spec.fit.shuffle = *o.shuffle;
  return spec;
}

} // namespace

struct Model::Impl {
  frontend::Program program;
  ir::TrainingSpec spec;
  frontend::LoweredModel lowered;
  std::unique_ptr<runtime::Model> rt;
  int threads = 0;
  bool profiling = false;
  Instrumentation instrumentation;
};

// Free functions rather than members of Model::Impl: as members of an
// exported class they would be exported too.
namespace {

passes::PipelineOptions pipelineOptions(const Instrumentation &in) {
  passes::PipelineOptions o;
  o.verifyEach = in.verifyEach;
  if (in.print && (in.printAfterAll || !in.printAfter.empty()))
    o.afterPass = [in](const passes::PassInvocation &inv, const ir::Graph &g) {
      const std::string &pass = inv.pass->name;
      if (in.printAfterAll ||
          std::find(in.printAfter.begin(), in.printAfter.end(), pass) !=
              in.printAfter.end())
        in.print(pass, ir::printGraph(g));
    };
  return o;
}

// Lowers the program for `newSpec` and starts a runtime model with fresh
// weights; on failure nothing changes.
Status rebuild(Model::Impl &m, const ir::TrainingSpec &newSpec) {
  frontend::LowerResult result = frontend::lowerModel(m.program, newSpec);
  if (result.error)
    return Status(api::toDiagnostic(*result.error));
  auto rt = runtime::Model::create(result.model->forward, newSpec, m.threads);
  if (!rt.ok())
    return api::toStatus(rt.status());
  // Launched by mpirun: every model trains data-parallel across the
  // processes (docs/distributed.md).
  auto world = runtime::worldCommunicator();
  if (!world.ok())
    return api::toStatus(world.status());
  (*rt)->setCommunicator(*world);
  (*rt)->initializeWeights(newSpec.fit.seed);
  (*rt)->setProfiling(m.profiling);
  (*rt)->setPipelineOptions(pipelineOptions(m.instrumentation));
  m.spec = newSpec;
  m.lowered = *std::move(result.model);
  m.rt = *std::move(rt);
  return Status();
}

} // namespace

//===----------------------------------------------------------------------===//
// Creation
//===----------------------------------------------------------------------===//

namespace {
Result<std::unique_ptr<Model::Impl>> compile(frontend::ParseResult parsed,
                                             const CompileOptions &options) {
  if (parsed.error)
    return Status(api::toDiagnostic(*parsed.error));
  if (Status s = checkThreads(options.threads); !s.ok())
    return s;
  auto impl = std::make_unique<Model::Impl>();
  impl->program = *std::move(parsed.program);
  impl->threads = options.threads;
  auto spec = applyOverrides(frontend::trainingSpec(impl->program), options);
  if (!spec.ok())
    return spec.status();
  if (Status s = rebuild(*impl, *spec); !s.ok())
    return s;
  return impl;
}
} // namespace

Result<Model> Model::fromFile(const std::string &path,
                              const CompileOptions &options) {
  auto impl = compile(frontend::parseFile(path), options);
  if (!impl.ok())
    return impl.status();
  return Model(*std::move(impl));
}

Result<Model> Model::fromString(const std::string &source,
                                const std::string &name,
                                const CompileOptions &options) {
  auto impl = compile(frontend::parseProgram(source, name), options);
  if (!impl.ok())
    return impl.status();
  return Model(*std::move(impl));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model &&) noexcept = default;
Model &Model::operator=(Model &&) noexcept = default;
Model::~Model() = default;

//===----------------------------------------------------------------------===//
// Properties and settings
//===----------------------------------------------------------------------===//

const std::string &Model::name() const { return impl_->program.model.name; }

std::string Model::summary() const {
  return frontend::formatSummary(impl_->lowered);
}

TrainingConfig Model::config() const {
  const ir::TrainingSpec &s = impl_->spec;
  TrainingConfig c;
  c.dataset = ir::datasetName(s.fit.dataset);
  c.idxPrefix = s.fit.idxPrefix;
  if (s.fit.dataset == ir::DatasetKind::ImageFolder) {
    c.imageDirectory = s.fit.images.directory;
    c.validationSplit = s.fit.images.validationSplit;
  }
  if (s.fit.validation == ir::ValidationKind::Folder)
    c.validationImageDirectory = s.fit.validationImages.directory;
  c.epochs = s.fit.epochs;
  c.batchSize = s.fit.batchSize;
  c.learningRate = s.optimizer.learningRate;
  if (s.optimizer.schedule)
    c.learningRateSchedule = ir::scheduleName(s.optimizer.schedule->kind);
  c.seed = s.fit.seed;
  c.shuffle = s.fit.shuffle;
  c.validation = s.fit.validation != ir::ValidationKind::None;
  c.initialWeights = s.fit.initialWeights;
  c.skipMismatch = s.fit.skipMismatch;
  c.classes = s.fit.classes;
  c.dtypePolicy = ir::dtypePolicyName(s.dtypePolicy);
  for (const ir::CallbackSpec &cb : s.fit.callbacks) {
    if (cb.kind == ir::CallbackKind::BackupAndRestore)
      c.backupDirectory = cb.path;
    else if (!cb.path.empty())
      c.callbackFiles.push_back(cb.path);
  }
  return c;
}

std::vector<int64_t> Model::inputShape() const {
  const auto &shape = impl_->program.model.inputShape;
  return {shape.begin(), shape.end()};
}

int64_t Model::numClasses() const {
  const ir::Graph &g = impl_->rt->forward();
  return g.type(g.output("probs")).shape.back();
}

int Model::threads() const { return impl_->rt->threads(); }

Status Model::setThreads(int threads) {
  if (Status s = checkThreads(threads); !s.ok())
    return s;
  if (absl::Status s = impl_->rt->setThreads(threads); !s.ok())
    return api::toStatus(s);
  impl_->threads = threads;
  return Status();
}

Status Model::setSeed(uint64_t seed) {
  ir::TrainingSpec spec = impl_->spec;
  spec.fit.seed = seed;
  return rebuild(*impl_, spec);
}

std::vector<std::string> Model::passNames() const {
  return passes::compilePipelinePassNames();
}

Status Model::setInstrumentation(Instrumentation instrumentation) {
  std::vector<std::string> known = passNames();
  for (const std::string &pass : instrumentation.printAfter)
    if (std::find(known.begin(), known.end(), pass) == known.end())
      return Status(fmt::format("unknown pass '{}'; known passes: {}", pass,
                                fmt::join(known, ", ")));
  impl_->instrumentation = std::move(instrumentation);
  impl_->rt->setPipelineOptions(pipelineOptions(impl_->instrumentation));
  return Status();
}

void Model::setProfiling(bool on) {
  impl_->profiling = on;
  impl_->rt->setProfiling(on);
}

std::vector<KernelTime> Model::kernelProfile() const {
  std::vector<KernelTime> out;
  for (const runtime::KernelProfile &p : impl_->rt->trainingProfile())
    out.push_back({p.name, p.op, p.seconds, p.calls, p.flops});
  return out;
}

std::string Model::profileTable() const {
  return runtime::formatProfile(impl_->rt->trainingProfile());
}

//===----------------------------------------------------------------------===//
// IR
//===----------------------------------------------------------------------===//

Result<std::string> Model::irText(Stage stage, const std::string &targetCpu) {
  std::optional<bool> pairs;
  if (!targetCpu.empty()) {
    if (stage != Stage::Llvm && stage != Stage::Asm)
      return Status("a target CPU is only for the LLVM IR and the assembly "
                    "of the kernels");
    auto bf16 = codegen::targetHasBfloat16Dot(targetCpu);
    if (!bf16.ok())
      return api::toStatus(bf16.status());
    pairs = *bf16;
  }
  if (stage == Stage::Forward)
    return ir::printGraph(impl_->rt->forward());
  passes::PipelineOptions o = pipelineOptions(impl_->instrumentation);
  // Keep the graph as it was before fusion for Stage::Training; without a
  // fusion pass that is the pipeline's result.
  auto user = o.afterPass;
  std::optional<ir::Graph> beforeFusion;
  bool fused = false;
  o.afterPass = [&](const passes::PassInvocation &inv, const ir::Graph &g) {
    if (user)
      user(inv, g);
    if (inv.pass->name == kFusionPass)
      fused = true;
    else if (!fused)
      beforeFusion = g;
  };
  auto train = impl_->rt->trainingGraph(o, pairs);
  if (!train.ok())
    return api::toStatus(train.status());
  if (stage == Stage::Training)
    return ir::printGraph(fused && beforeFusion ? *beforeFusion : *train);
  if (stage == Stage::Fused)
    return ir::printGraph(*train);
  codegen::CompileOptions co;
  co.keepLlvmIr = stage == Stage::Llvm;
  co.keepAsm = stage == Stage::Asm;
  co.targetCpu = targetCpu;
  auto compiled = codegen::compileGraph(*train, co);
  if (!compiled.ok())
    return api::toStatus(compiled.status());
  return co.keepLlvmIr ? (*compiled)->llvmIr() : (*compiled)->assembly();
}

//===----------------------------------------------------------------------===//
// Data, training, prediction, weights
//===----------------------------------------------------------------------===//

namespace {
// Model::dataset before classes=[...].
Result<Dataset> loadDataset(const Model::Impl &m, const std::string &split,
                            const std::string &dataDir) {
  const ir::FitSpec &fit = m.spec.fit;
  switch (fit.dataset) {
  case ir::DatasetKind::Mnist:
    return Dataset::mnist(split, dataDir);
  case ir::DatasetKind::Idx:
    if (dataDir.empty())
      return Dataset::idx(fit.idxPrefix, split);
    return Dataset::idx(
        (fs::path(dataDir) / fs::path(fit.idxPrefix).filename()).string(),
        split);
  case ir::DatasetKind::ImageFolder:
    break;
  }
  ir::ImageFolderSpec images = fit.images;
  if (!dataDir.empty())
    images.directory = dataDir;
  bool validation = split == "t10k";
  switch (validation ? fit.validation : ir::ValidationKind::Split) {
  case ir::ValidationKind::None:
  case ir::ValidationKind::Test:
    return Status(fmt::format("{}: the fit statement gives no validation "
                              "data (validation=none)",
                              images.directory));
  case ir::ValidationKind::Folder: {
    ImageFolderOptions o = api::toOptions(fit.validationImages);
    o.threads = m.rt->threads();
    return Dataset::imageFolder(fit.validationImages.directory, o);
  }
  case ir::ValidationKind::Split:
    break;
  }
  // Training data: the training subset when the folder is split.
  ImageFolderOptions o = api::toOptions(images);
  o.threads = m.rt->threads();
  o.seed = fit.seed;
  if (images.validationSplit > 0)
    o.subset = validation ? "validation" : "training";
  return Dataset::imageFolder(images.directory, o);
}
} // namespace

std::string api::dataKey(const Model &model) {
  const Model::Impl &m = ModelAccess::impl(model);
  const ir::FitSpec &fit = m.spec.fit;
  auto folder = [](const ir::ImageFolderSpec &f) {
    ImageFolderOptions o = api::toOptions(f);
    return fmt::format("{}|{}x{}|{}|{}|{}|{}", f.directory, o.height, o.width,
                       o.colorMode, o.interpolation, o.cropToAspectRatio,
                       f.validationSplit);
  };
  return fmt::format(
      "{}|{}|{}|{}|{}|{}|{}|{}", static_cast<int>(fit.dataset), fit.idxPrefix,
      folder(fit.images), static_cast<int>(fit.validation),
      folder(fit.validationImages), fit.seed, fmt::join(fit.classes, ","),
      fmt::join(model.inputShape(), "x"));
}

Result<Dataset> Model::dataset(const std::string &split,
                               const std::string &dataDir) const {
  const ir::FitSpec &fit = impl_->spec.fit;
  if (split != "train" && split != "t10k")
    return Status(
        fmt::format("dataset: split expects train or t10k, got '{}'", split));
  auto loaded = loadDataset(*impl_, split, dataDir);
  if (!loaded.ok() || fit.classes.empty())
    return loaded;
  // classes=[...]: the same subset of the training and validation data.
  const char *what = split == "train" ? "the training data"
                     : fit.dataset == ir::DatasetKind::ImageFolder
                         ? "the validation data"
                         : "the test data";
  const runtime::LabeledImages &all = loaded->impl_->data;
  auto kept = runtime::selectClasses(all, fit.classes, "classes", what);
  if (!kept.ok())
    return api::toStatus(kept.status());
  auto impl = std::make_shared<Dataset::Impl>();
  impl->data = *std::move(kept);
  impl->log = loaded->impl_->log + runtime::subsetLog(all, impl->data);
  return Dataset(std::move(impl));
}

std::vector<std::string> Model::classNames() const {
  std::vector<std::string> names = impl_->rt->classNames();
  // A subset of IDX data is named by its original labels even before
  // training; an image folder's names need the folder.
  const ir::FitSpec &fit = impl_->spec.fit;
  if (names.empty() && fit.dataset != ir::DatasetKind::ImageFolder)
    for (int64_t c : fit.classes)
      names.push_back(std::to_string(c));
  return names;
}

Result<std::vector<EpochMetrics>> Model::fit(const Dataset &train,
                                             const Dataset *validation,
                                             const FitOptions &options) {
  if (options.report)
    *options.report = FitReport();
  if (options.epochs < 0 || options.limit < 0)
    return Status(
        fmt::format("fit: epochs ({}) and limit ({}) must not be negative",
                    options.epochs, options.limit));
  runtime::Model &rt = *impl_->rt;
  int64_t epochs = options.epochs > 0 ? options.epochs : impl_->spec.fit.epochs;
  runtime::FitOptions fo;
  fo.limit = options.limit;
  std::optional<runtime::ProgressLog> log;
  if (options.progress) {
    log.emplace(options.progress, isatty(fileno(options.progress)) != 0);
    fo.log = &*log;
  }
  if (options.onEpochEnd)
    fo.onEpochEnd = [&](const runtime::EpochRecord &r) {
      return options.onEpochEnd(toMetrics(r));
    };
  fo.stop = options.stop;
  runtime::FitState state;
  fo.state = &state;
  rt.setEpochs(epochs);
  auto history = rt.fit(train.impl_->data,
                        validation ? &validation->impl_->data : nullptr, fo);
  rt.setEpochs(impl_->spec.fit.epochs);
  if (options.report) {
    FitReport &report = *options.report;
    for (const runtime::EpochRecord &r : state.history)
      report.history.push_back(toMetrics(r));
    report.epoch = state.epoch;
    report.step = state.step;
    report.stopped = state.stopped;
  }
  if (!history.ok())
    return api::toStatus(history.status());
  std::vector<EpochMetrics> out;
  for (const runtime::EpochRecord &r : *history)
    out.push_back(toMetrics(r));
  return out;
}

Result<Evaluation> Model::evaluate(const Dataset &data) {
  auto r = impl_->rt->evaluate(data.impl_->data);
  if (!r.ok())
    return api::toStatus(r.status());
  return Evaluation{r->loss, r->accuracy, r->count};
}

namespace {
template <typename Pixel>
Result<std::vector<float>> predictWith(runtime::Model &rt, const Pixel *images,
                                       int64_t count) {
  if (!images)
    return Status("predict: the image buffer is null");
  auto r = rt.predict(images, count);
  if (!r.ok())
    return api::toStatus(r.status());
  return *std::move(r);
}
} // namespace

Result<std::vector<float>> Model::predict(const float *images, int64_t count) {
  return predictWith(*impl_->rt, images, count);
}

Result<std::vector<float>> Model::predict(const uint8_t *images,
                                          int64_t count) {
  return predictWith(*impl_->rt, images, count);
}

Result<ImagePredictions>
Model::predictImages(const std::vector<std::string> &paths) {
  auto files = runtime::listImageFiles(paths);
  if (!files.ok())
    return api::toStatus(files.status());
  if (files->empty())
    return Status("predictImages: no image files given");
  // As the fit statement's image folder reads its images, or else as the
  // input layer asks for them.
  const ir::FitSpec &fit = impl_->spec.fit;
  ir::ImageFolderSpec spec;
  if (fit.dataset == ir::DatasetKind::ImageFolder) {
    spec = fit.images;
  } else {
    std::vector<int64_t> shape = inputShape();
    spec.height = shape[0];
    spec.width = shape[1];
    if (shape[2] != 1 && shape[2] != 3 && shape[2] != 4)
      return Status(fmt::format("predictImages: the model's input has {} "
                                "channels; images have 1, 3 or 4",
                                shape[2]));
    spec.colorMode = shape[2] == 1   ? ir::ColorMode::Grayscale
                     : shape[2] == 3 ? ir::ColorMode::Rgb
                                     : ir::ColorMode::Rgba;
  }
  runtime::ThreadPool pool(impl_->rt->threads());
  auto images = runtime::loadImageFiles(*files, spec, pool);
  if (!images.ok())
    return api::toStatus(images.status());
  auto probs = impl_->rt->predict(images->pixels.data(), images->count);
  if (!probs.ok())
    return api::toStatus(probs.status());
  ImagePredictions out;
  out.files = *std::move(files);
  out.classNames = classNames();
  if (out.classNames.empty())
    for (int64_t c = 0; c < numClasses(); ++c)
      out.classNames.push_back(std::to_string(c));
  out.probabilities = *std::move(probs);
  return out;
}

Status Model::saveWeights(const std::string &path) const {
  return api::toStatus(impl_->rt->saveWeights(path));
}

Status Model::loadWeights(const std::string &path) {
  return api::toStatus(impl_->rt->loadWeights(path));
}

Result<WeightsByName> Model::loadWeightsByName(const std::string &path,
                                               bool skipMismatch) {
  auto r = impl_->rt->loadWeightsByName(path, skipMismatch);
  if (!r.ok())
    return api::toStatus(r.status());
  return WeightsByName{r->loaded, r->skipped, r->fresh, r->unused};
}

Result<DistributedInfo> initDistributed() {
  auto world = runtime::worldCommunicator();
  if (!world.ok())
    return api::toStatus(world.status());
  DistributedInfo d;
  if (*world) {
    d.rank = (*world)->rank();
    d.size = (*world)->size();
  }
  return d;
}

void abortDistributed(int status) { runtime::abortWorld(status); }

} // namespace cnnc
