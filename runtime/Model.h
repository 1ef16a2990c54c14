// A compiled model: its forward graph and training recipe, the weights, and
// JIT-compiled executors for the training step, evaluation and prediction,
// each specialized to the batch sizes it meets.
#pragma once

#include "ir/Graph.h"
#include "ir/TrainingSpec.h"
#include "passes/Pipelines.h"
#include "runtime/Backup.h"
#include "runtime/Callbacks.h"
#include "runtime/Communicator.h"
#include "runtime/Executor.h"
#include "runtime/History.h"
#include "runtime/Idx.h"
#include "runtime/Profile.h" // KernelProfile, for --profile
#include "runtime/ThreadPool.h"

#include "absl/status/statusor.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cnnc::runtime {

class DataParallelStep;

class ProgressLog;

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
};

// How far a fit got, however it ended.
struct FitState {
  std::vector<EpochRecord> history; // the epochs completed
  // The last training step run: its 1-based epoch (of this fit) and step
  // within the epoch; 0 and 0 before the first.
  int64_t epoch = 0, step = 0;
  bool stopped = false; // ended early by FitOptions::stop
};

struct FitOptions {
  int64_t limit = 0;          // use only the first N training images
  ProgressLog *log = nullptr; // Keras-like output, optional
  // Called after each epoch; return false to stop training.
  std::function<bool(const EpochRecord &)> onEpochEnd;
  // Read after every step; once true, fit returns the epochs completed so
  // far (the epoch in progress is dropped, its steps stay in the weights).
  const std::atomic<bool> *stop = nullptr;
  // Kept up to date as fit runs, so that it holds the completed epochs even
  // when fit fails (a diverging loss) or is stopped.
  FitState *state = nullptr;
};

// What Model::loadWeightsByName did, param by param.
struct WeightsByName {
  std::vector<std::string> loaded; // params set from the file
  // Params left as they were because the file's tensor has another shape:
  // "dense_1.kernel ([128,5] in the file, [128,10] in the model)".
  std::vector<std::string> skipped;
  std::vector<std::string> fresh;  // params the file does not have
  std::vector<std::string> unused; // file tensors that name no param
};

// Whether bfloat16 contractions read bfloat16 pairs (the dtype-policy
// pass's `pairs`): where the host multiplies them (AVX512_BF16).
// CNNC_BF16_PAIRS=1 or 0 overrides, to run the pair kernels' emulated form
// elsewhere (tests, comparisons).
bool bfloat16PairsForHost();

class Model {
public:
  static absl::StatusOr<std::unique_ptr<Model>>
  create(ir::Graph forward, ir::TrainingSpec spec, int threads = 0);
  ~Model();

  const ir::Graph &forward() const { return forward_; }
  const ir::TrainingSpec &spec() const { return spec_; }
  int threads() const { return pool_->size(); }

  // What each output unit means: the class directories of the image folder
  // the model last trained on, or loaded with the weights; empty for data
  // without names (IDX), where classes are their numbers.
  const std::vector<std::string> &classNames() const { return classNames_; }

  // Keras defaults: glorot_uniform kernels, zero biases, from `seed`.
  void initializeWeights(uint64_t seed);
  absl::Status saveWeights(const std::string &path) const;
  absl::Status loadWeights(const std::string &path);
  // Keras's load_weights(by_name=True): every tensor of the file whose name
  // is a param of the model with the same shape is loaded; the model's
  // other params keep their values. A same-named tensor of another shape is
  // an error, or skipped with `skipMismatch`. Nothing changes on error.
  // Class names stay the model's (the file's may describe another head).
  absl::StatusOr<WeightsByName> loadWeightsByName(const std::string &path,
                                                  bool skipMismatch);

  absl::StatusOr<std::vector<EpochRecord>> fit(const LabeledImages &train,
                                               const LabeledImages *validation,
                                               const FitOptions &options);
  absl::StatusOr<EvalResult> evaluate(const LabeledImages &data);
  // Class probabilities [count, classes] for NHWC float images.
  absl::StatusOr<std::vector<float>> predict(const float *images,
                                             int64_t count);

  // The training-step graph for the fit batch size (after autodiff).
  absl::StatusOr<ir::Graph>
  trainingGraph(const passes::PipelineOptions &options = {},
                std::optional<bool> pairs = std::nullopt) const;

  void setProfiling(bool on) { profiling_ = on; }
  std::vector<KernelProfile> trainingProfile() const;

  // ----- Settings the public API (api/) changes after creation -----
  // Replaces the worker pool; compiled kernels take any thread count. An
  // error (and the old pool kept) when the system cannot start the threads.
  absl::Status setThreads(int threads);
  // Epochs of later fits.
  void setEpochs(int64_t epochs) { spec_.fit.epochs = epochs; }
  // Data-parallel training and evaluation across the communicator's ranks
  // (runtime/DataParallel.h); nullptr or one rank: this process alone.
  void setCommunicator(std::shared_ptr<Communicator> comm) {
    comm_ = std::move(comm);
  }
  const Communicator *communicator() const { return comm_.get(); }
  // Instrumentation for every later compile pipeline.
  void setPipelineOptions(passes::PipelineOptions options) {
    pipeline_ = std::move(options);
  }
  // predict() for u8 NHWC pixels, scaled as training feeds them (x / 255).
  absl::StatusOr<std::vector<float>> predict(const uint8_t *images,
                                             int64_t count);

private:
  Model() = default;
  using ExecutorCache = std::map<int64_t, std::unique_ptr<Executor>>;
  using Pipeline =
      std::function<absl::StatusOr<ir::Graph>(const ir::Graph &forward)>;
  // The executor of `batch` from cache, or else the forward graph rebatched,
  // run through `pipeline`, compiled and cached.
  absl::StatusOr<Executor *> cachedExecutor(ExecutorCache &cache, int64_t batch,
                                            const Pipeline &pipeline);
  absl::StatusOr<Executor *> trainExecutor(int64_t batch);
  absl::StatusOr<Executor *> evalExecutor(int64_t batch);
  absl::StatusOr<Executor *> predictExecutor(int64_t batch);
  absl::Status checkData(const LabeledImages &data, const char *what) const;
  CallbackHooks callbackHooks();
  // backup_and_restore: what a backup must match, the model's state as a
  // backup, and back.
  BackupIdentity backupIdentity(const LabeledImages &train,
                                int64_t limit) const;
  TrainingBackup backupOf(const Callbacks &callbacks) const;
  absl::Status restoreFrom(const TrainingBackup &b, Callbacks &callbacks);

  ir::Graph forward_;
  ir::TrainingSpec spec_;
  std::unique_ptr<ThreadPool> pool_;
  ParamStore store_;
  ExecutorCache train_, eval_, predict_;
  // Data-parallel runs of train_'s executors, by (the fit's full-batch
  // slice, this executor's batch): every rank makes a fit's sum buffer
  // together, whichever last-batch slice it has. They go before train_.
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<DataParallelStep>>
      parallelSteps_;
  // Steps and epochs trained since the weights were initialized, counted
  // across fits so that a later fit continues the dropout masks and shuffle
  // orders instead of repeating the first fit's.
  int64_t globalStep_ = 0;
  int64_t globalEpoch_ = 0;
  // The optimizer's constant learning rate (f32, as Keras keeps it), which
  // reduce_lr_on_plateau lowers; a schedule ignores it.
  float learningRate_ = 0;
  bool profiling_ = false;
  passes::PipelineOptions pipeline_;
  std::vector<std::string> classNames_;
  std::shared_ptr<Communicator> comm_;
  // The data-parallel sums and the waits before them, while profiling.
  OpProfile sumProfile_, waitProfile_;
  // The communicator when it has more than one rank.
  Communicator *parallel() const {
    return comm_ && comm_->size() > 1 ? comm_.get() : nullptr;
  }
  // Checks at the start of a data-parallel fit that every rank runs the
  // same cnnc, model, recipe and data.
  absl::Status checkRanksAgree(const LabeledImages &train, int64_t limit);
  // Runs the prediction graph over `count` images, `fill` writing the
  // inputs of images [begin, begin + n) to x.
  absl::StatusOr<std::vector<float>> predictBatches(
      int64_t count,
      const std::function<void(float *x, int64_t begin, int64_t n)> &fill);
};

// Fills `order` with a permutation of [0, n) determined by (seed, epoch).
void shuffledOrder(uint64_t seed, int64_t epoch, std::vector<int64_t> &order);

} // namespace cnnc::runtime
