// cnnc as a library: compile a CNN described in the cnnc DSL, inspect its IR
// at each stage, train, evaluate and predict with it, and save or load its
// weights. This is the one public header; it uses only the standard library
// (C++17 or later). Nothing here throws, prints or exits: every failure comes
// back as a Status (with a Diagnostic for DSL errors). See docs/api.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#if defined(CNNC_BUILDING_LIBRARY)
#define CNNC_API [[gnu::visibility("default")]]
#else
#define CNNC_API
#endif

namespace cnnc {

// The library's version, "MAJOR.MINOR.PATCH".
CNNC_API const char *version();

//===----------------------------------------------------------------------===//
// Errors as values
//===----------------------------------------------------------------------===//

// A DSL error tied to a position in the model source.
struct CNNC_API Diagnostic {
  std::string file;       // the path, or the name given to Model::fromString
  int line = 0;           // 1-based; 0: about the whole file
  int column = 0;         // 1-based
  std::string message;    // what is wrong, e.g. "unknown layer 'conv3d'; ..."
  std::string sourceLine; // the text of `line`, without its newline

  // As a compiler prints it, without a trailing newline:
  //   file:line:column: error: message
  //     <source line>
  //     <spaces>^
  // or "file: error: message" when line is 0.
  std::string str() const;
};

// Success, or a one-line message saying where and why.
class [[nodiscard]] CNNC_API Status {
public:
  Status() = default; // success
  explicit Status(std::string message)
      : ok_(false), message_(std::move(message)) {}
  explicit Status(Diagnostic diagnostic);

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // One line; empty on success. For a DSL error "file:line:column: message".
  const std::string &message() const { return message_; }
  // Set for errors in the model source.
  const std::optional<Diagnostic> &diagnostic() const { return diagnostic_; }

private:
  bool ok_ = true;
  std::string message_;
  std::optional<Diagnostic> diagnostic_;
};

// A value, or the Status saying why there is none. Reading the value of a
// failed Result is a programming error (check ok() first).
template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : value_(std::move(value)) {}
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok())
      status_ = Status("cnnc::Result made from a success Status has no value");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status &status() const { return status_; }

  T &value() & { return *value_; }
  const T &value() const & { return *value_; }
  T &&value() && { return std::move(*value_); }
  T &operator*() & { return *value_; }
  const T &operator*() const & { return *value_; }
  T &&operator*() && { return std::move(*value_); }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }

private:
  std::optional<T> value_;
  Status status_;
};

//===----------------------------------------------------------------------===//
// Data
//===----------------------------------------------------------------------===//

class Model;

// How Dataset::imageFolder reads a folder: Keras's
// image_dataset_from_directory arguments, with its defaults.
struct ImageFolderOptions {
  int64_t height = 256, width = 256;      // image_size
  std::string colorMode = "rgb";          // grayscale | rgb | rgba
  std::string interpolation = "bilinear"; // bilinear | nearest | area
  bool cropToAspectRatio = false;
  // With subset "training" or "validation": Keras's split, a fixed function
  // of the seed and the sorted file list (the subsets never overlap).
  double validationSplit = 0;
  std::string subset; // "" (all images), "training" or "validation"
  uint64_t seed = 0;
  int threads = 0; // decoding threads; 0: one per available core
};

// Labeled images, u8 pixels row-major [count, rows, cols, channels]. Copies
// share the (immutable) pixels.
class CNNC_API Dataset {
public:
  // The MNIST split "train" or "t10k" (IDX files, raw or .gz) from `dir`;
  // with an empty dir, the first of $CNNC_DATA_DIR, ./data/mnist,
  // <exe dir>/../data/mnist, <exe dir>/../../data/mnist and
  // ../shared/data/mnist that holds it.
  static Result<Dataset> mnist(const std::string &split,
                               const std::string &dir = "");
  // prefix + split + "-images-idx3-ubyte[.gz]" and "-labels-idx1-ubyte[.gz]";
  // the prefix is used as is ("data/fashion/").
  static Result<Dataset> idx(const std::string &prefix,
                             const std::string &split);
  // A directory with one subdirectory of images per class (PNG, JPEG, BMP,
  // GIF), decoded on all cores and resized (docs/formats.md, "Images");
  // decoded pixels are cached on disk for the next run.
  static Result<Dataset> imageFolder(const std::string &directory,
                                     const ImageFolderOptions &options = {});
  // Copies count images of rows x cols x channels pixels and their labels.
  static Result<Dataset> fromMemory(const uint8_t *pixels,
                                    const uint8_t *labels, int64_t count,
                                    int64_t rows, int64_t cols,
                                    int64_t channels = 1);

  int64_t size() const;
  int64_t rows() const;
  int64_t cols() const;
  int64_t channels() const;
  const uint8_t *pixels() const; // [size, rows, cols, channels]
  const uint8_t *labels() const; // [size]
  // What each label means (an image folder's class directories, sorted);
  // empty for IDX and in-memory data.
  const std::vector<std::string> &classNames() const;
  // How the data was found, in Keras's words ("Found 70000 files belonging
  // to 10 classes.\nUsing 56000 files for training.\n"), then for a
  // subset "Keeping 2 of 10 classes (cat, dog): 14000 images.\n"; empty
  // for IDX data (without a subset).
  const std::string &loadLog() const;
  // The first n examples (all of them when n >= size()).
  Dataset head(int64_t n) const;
  // The examples of some classes, in their order, relabeled: label
  // classes[i] becomes i (the fit statement's classes=[...]). Class names
  // follow: the kept names in the new order, or for data without names the
  // original labels as text ("5"). Errors: an empty or repeated list, a
  // class the data lacks (it has classNames().size() classes, or without
  // names its largest label plus one), no example left.
  Result<Dataset> subset(const std::vector<int64_t> &classes) const;

private:
  struct Impl;
  friend class Model;
  explicit Dataset(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

struct ClassScore {
  int64_t index = 0;
  std::string name; // the class name, or its number when names are unknown
  float probability = 0;
};

// Model::predictImages's answer.
struct CNNC_API ImagePredictions {
  std::vector<std::string> files; // the images, directories expanded
  // One per class: Model::classNames(), or "0", "1", ... when unknown.
  std::vector<std::string> classNames;
  // Row-major [files.size(), classNames.size()].
  std::vector<float> probabilities;

  // The k most probable classes of image i, most probable first (equal
  // probabilities: the lower index first); all classes when k exceeds them.
  std::vector<ClassScore> top(size_t i, int64_t k = 1) const;
};

//===----------------------------------------------------------------------===//
// Compiling
//===----------------------------------------------------------------------===//

// The dtype policies CompileOptions::dtypePolicy accepts, in Keras's
// spelling ("float32", "mixed_bfloat16").
CNNC_API const std::vector<std::string> &dtypePolicies();

// How mixed_bfloat16's contractions multiply on this machine: float32 FMAs
// on bfloat16-rounded operands, or bfloat16 pairs (all but the filter
// gradients) with vdpbf16ps (AVX512_BF16), or with the pair kernels'
// two-FMA form (CNNC_BF16_PAIRS=1 on a CPU without it).
enum class Bfloat16Kernels { RoundedOperands, PairsEmulated, PairsNative };
CNNC_API Bfloat16Kernels bfloat16Kernels();

// Overrides of the model's compile and fit statements; unset keeps the
// statement's value (or Keras's default).
struct CompileOptions {
  std::optional<int64_t> epochs, batchSize;
  // The compile statement's optimizer, written as there (docs/dsl.md):
  // "adam(learning_rate=cosine_decay(0.002, 9380))". Errors come back as a
  // diagnostic about this text.
  std::optional<std::string> optimizer;
  // A constant learning rate for the optimizer (in place of a schedule).
  std::optional<double> learningRate;
  // The fit statement's callbacks list, written as there, replacing it:
  // "[early_stopping(patience=3, restore_best_weights=true),
  // csv_logger(\"log.csv\")]"; "[]" for none.
  std::optional<std::string> callbacks;
  std::optional<uint64_t> seed;
  std::optional<bool> shuffle;
  // Keras's dtype policy: "float32" or "mixed_bfloat16" (convolutions and
  // matmuls take bfloat16 operands and sum in float32; weights, optimizer
  // state, loss and softmax stay float32). See docs/dsl.md.
  std::optional<std::string> dtypePolicy;
  int threads = 0; // worker threads; 0: one per available core (max 1024)
};

// The training recipe in effect: the statements with the overrides applied.
struct TrainingConfig {
  std::string dataset; // "mnist", "idx" or "image_folder"
  std::string idxPrefix;
  std::string imageDirectory;           // dataset image_folder
  std::string validationImageDirectory; // validation=image_folder(...)
  double validationSplit = 0;           // the image folder's
  int64_t epochs = 1, batchSize = 32;
  double learningRate = 0.001; // a schedule's rate at step 0
  // The schedule's name ("cosine_decay"); empty for a constant rate.
  std::string learningRateSchedule;
  uint64_t seed = 0;
  bool shuffle = true;
  // Whether fit validates (and cnnc --train then evaluates): on MNIST's or
  // the IDX test split, the image folder's validation_split subset, or the
  // validation image folder.
  bool validation = true;
  // The files the fit statement's callbacks write (model_checkpoint,
  // csv_logger), as written there.
  std::vector<std::string> callbackFiles;
  // backup_and_restore's directory; empty without one.
  std::string backupDirectory;
  // initial_weights="FILE" (loaded by name before training; cnnc --train
  // does it, an embedder calls loadWeightsByName) and skip_mismatch.
  std::string initialWeights;
  bool skipMismatch = false;
  // The fit statement's classes=[...]: the labels kept, in the order they
  // are renumbered 0..k-1 (Model::dataset applies it); empty: all classes.
  std::vector<int64_t> classes;
  std::string dtypePolicy = "float32"; // compile dtype_policy=
};

// What Model::loadWeightsByName did, weight by weight ("conv2d.kernel").
struct WeightsByName {
  std::vector<std::string> loaded;
  // Left as they were, the file's tensor having another shape:
  // "dense_1.kernel ([128,5] in the file, [128,10] in the model)".
  std::vector<std::string> skipped;
  std::vector<std::string> fresh;  // not in the file: as initialized
  std::vector<std::string> unused; // the file's tensors that name no weight
};

// The IR at each stage of compilation, as text.
enum class Stage {
  Forward,  // the forward graph from the DSL (docs/ir.md)
  Training, // the training-step graph: autodiff, then cleanup, before fusion
  Fused,    // the training-step graph after every pass (as compiled)
  Llvm,     // the optimized LLVM IR of the training step's kernels
  Asm,      // their host assembly
};

// Debugging hooks on the compile pipelines (training, evaluation and
// prediction graphs), for irText and every later compilation of the model.
struct Instrumentation {
  bool verifyEach = false; // run the IR verifier after every pass
  bool printAfterAll = false;
  std::vector<std::string> printAfter; // pass names (see Model::passNames)
  // Receives the graph after each selected pass, as text.
  std::function<void(const std::string &pass, const std::string &ir)> print;
};

//===----------------------------------------------------------------------===//
// Training
//===----------------------------------------------------------------------===//

struct EpochMetrics {
  int epoch = 0;                 // 1-based
  double loss = 0, accuracy = 0; // averages over the epoch's batches
  bool hasValidation = false;
  double valLoss = 0, valAccuracy = 0;
  double seconds = 0; // training time of the epoch
  // The learning rate at the epoch's end, with reduce_lr_on_plateau among
  // the callbacks (Keras logs it then); unset otherwise.
  std::optional<double> learningRate;
};

// How far a fit got, however it ended (FitOptions::report).
struct FitReport {
  // The epochs completed: what fit returns on success, and on failure (a
  // diverging loss) or a stop the epochs finished before it.
  std::vector<EpochMetrics> history;
  // The last training step run: its 1-based epoch (of this fit) and step
  // within that epoch; 0 and 0 when none ran. The weights are as after it.
  int64_t epoch = 0, step = 0;
  bool stopped = false; // ended early by FitOptions::stop
};

struct FitOptions {
  int64_t epochs = 0; // 0: the training recipe's
  int64_t limit = 0;  // use only the first N training images; 0: all
  // Keras-like per-epoch log written here (e.g. stdout); redrawn live while
  // an epoch runs when it is a terminal. nullptr: silent.
  std::FILE *progress = nullptr;
  // Called after each epoch; return false to stop training.
  std::function<bool(const EpochMetrics &)> onEpochEnd;
  // Read after every training step; once it is true, fit stops there and
  // succeeds with the epochs completed (the epoch in progress is left out
  // of the history; its steps stay in the weights). Safe to set from a
  // signal handler or another thread. nullptr: never stops.
  const std::atomic<bool> *stop = nullptr;
  // When set, filled in however fit ends, with what a failed Result cannot
  // carry: the completed epochs and where training stopped.
  FitReport *report = nullptr;
};

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
};

// Time spent in one kernel of the training step while profiling was on.
struct KernelTime {
  std::string name; // "k3_conv2d"
  std::string op;   // "conv2d"; a fused op with its stages:
                    // "conv2d_fused(bias_add, activation)"
  double seconds = 0;
  int64_t calls = 0;
  double flops = 0; // per call (a multiply-add counts 2)
};

//===----------------------------------------------------------------------===//
// The model
//===----------------------------------------------------------------------===//

// A compiled model with its weights (initialized from the seed on creation).
// Kernels are JIT-compiled on first use for each batch size they meet.
// Move-only; not safe to use from two threads at once.
class CNNC_API Model {
public:
  static Result<Model> fromFile(const std::string &path,
                                const CompileOptions &options = {});
  // `name` stands for the file in diagnostics.
  static Result<Model> fromString(const std::string &source,
                                  const std::string &name = "<string>",
                                  const CompileOptions &options = {});
  Model(Model &&) noexcept;
  Model &operator=(Model &&) noexcept;
  ~Model();

  const std::string &name() const; // from `model NAME { ... }`
  // A table like Keras's model.summary(), ending with a newline.
  std::string summary() const;
  TrainingConfig config() const;
  std::vector<int64_t> inputShape() const; // [height, width, channels]
  int64_t numClasses() const;

  int threads() const;
  // 0: one per available core; at most 1024.
  Status setThreads(int threads);
  // Restarts from weights initialized from `seed`, which also drives
  // shuffling and dropout from now on.
  Status setSeed(uint64_t seed);

  // The names of the passes the compile pipelines run, in order.
  std::vector<std::string> passNames() const;
  // Fails, naming the known passes, on an unknown printAfter name.
  Status setInstrumentation(Instrumentation instrumentation);

  // The IR at `stage` for the recipe's batch size, ending with a newline.
  // targetCpu (Stage::Llvm and Stage::Asm only): the kernels as compiled
  // for that x86-64 CPU ("znver5", LLVM's names) instead of this host,
  // with the graph it would get (bfloat16 pairs where it has AVX512_BF16).
  Result<std::string> irText(Stage stage, const std::string &targetCpu = "");

  // The data the fit statement names: "train" the training data, "t10k"
  // the validation data (MNIST's or the IDX test split; an image folder's
  // validation_split subset or validation folder), with its classes=[...]
  // applied (Dataset::subset). `dataDir` replaces the default MNIST
  // directory, the idx prefix's or the image folder.
  Result<Dataset> dataset(const std::string &split,
                          const std::string &dataDir = "") const;
  // What each output unit means: the class directories of the image folder
  // the model was last trained on, or the names saved with the loaded
  // weights; else, with classes=[...] on IDX data, those labels as text
  // ("5"); empty when unknown (classes are then their numbers).
  std::vector<std::string> classNames() const;

  // Trains from the current weights; the history of the epochs run. Shuffle
  // orders and dropout continue across fits (two fits of one epoch equal one
  // of two). A loss that stops being finite fails with "training diverged:
  // ..."; options.report then still has the epochs completed before it.
  Result<std::vector<EpochMetrics>> fit(const Dataset &train,
                                        const Dataset *validation = nullptr,
                                        const FitOptions &options = {});
  Result<Evaluation> evaluate(const Dataset &data);
  // Class probabilities, row-major [count, numClasses()], for `count` NHWC
  // images of inputShape() in the caller's buffer: floats as the model sees
  // them, or u8 pixels scaled by 1/255 as in training.
  Result<std::vector<float>> predict(const float *images, int64_t count);
  Result<std::vector<float>> predict(const uint8_t *images, int64_t count);
  // Class probabilities for image files; a directory stands for its images
  // (recursively, by extension, sorted). Decoded and resized exactly as the
  // fit statement's image_folder reads training images (without one: to
  // the input size, bilinear, grayscale/rgb/rgba by its channels).
  Result<ImagePredictions> predictImages(const std::vector<std::string> &paths);

  // safetensors (docs/formats.md); written atomically.
  Status saveWeights(const std::string &path) const;
  // Every tensor must match by name and shape; otherwise the error names the
  // first that differs.
  Status loadWeights(const std::string &path);
  // Keras's load_weights(by_name=True, skip_mismatch): the file's tensors
  // whose names are weights of this model with the same shape; the others
  // keep their values. A same-named tensor of another shape is an error, or
  // with skipMismatch is left out (reported). Nothing changes on error; the
  // class names stay the model's.
  Result<WeightsByName> loadWeightsByName(const std::string &path,
                                          bool skipMismatch = false);

  void setProfiling(bool on);
  std::vector<KernelTime> kernelProfile() const;
  // kernelProfile() as a table (kernel, op, calls, ms/call, GFLOP/s, share
  // of the step), slowest first; empty when nothing was profiled.
  std::string profileTable() const;

  struct Impl; // opaque

private:
  friend struct ModelAccess;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

//===----------------------------------------------------------------------===//
// Data-parallel training over MPI (docs/distributed.md)
//===----------------------------------------------------------------------===//
struct DistributedInfo {
  int rank = 0; // this process
  int size = 1; // the processes of the run
};
// In a process started by mpirun (`mpirun -np N program`): initializes MPI
// once (finalized at exit) and says which rank this is. Every Model created
// in such a process trains data-parallel: the fit statement's batch_size
// stays the global batch, each rank computing batch_size / N of it, and
// fit, evaluate and the callbacks see the metrics of the whole batch. Every
// rank must call fit and evaluate alike. A plain process is rank 0 of 1.
// Fails when started by mpirun and cnnc was built without MPI.
CNNC_API Result<DistributedInfo> initDistributed();
// After an error on one rank: ends every rank of the run at once with
// `status`, rather than leave the others waiting for this one. A plain
// process just exits.
[[noreturn]] CNNC_API void abortDistributed(int status);

//===----------------------------------------------------------------------===//
// Hyper-parameter search
//===----------------------------------------------------------------------===//

// A DSL file's tune statement (docs/dsl.md, "Hyper-parameter search").
enum class TuneStrategy { Random, Grid, Hyperband };
struct TuneSettings {
  bool present = false; // the file has a tune statement
  TuneStrategy strategy = TuneStrategy::Random;
  bool minimizeLoss = false; // objective=val_loss; else val_accuracy
  // random: the number of trials; grid and hyperband: a cap (0: none).
  int64_t trials = 0;
  // Caps the fit statement's epochs (0: none); hyperband: the epochs of its
  // longest trials.
  int64_t maxEpochs = 0;
  int64_t factor = 3;              // hyperband
  int64_t hyperbandIterations = 1; // hyperband
  uint64_t seed = 0;
};
// One trial of Search::tune: a model trained with one value per space.
struct TrialResult {
  int64_t number = 0;              // 1-based, in the search's fixed order
  std::vector<std::string> values; // one per space, as DSL text
  // Hyperband: the bracket and round, and the trial whose best weights this
  // one continues from (0: none; it starts from fresh weights).
  int64_t bracket = 0, round = 0, continues = 0;
  // The epochs it trains: initialEpoch + 1 to epochs (Keras's fit
  // initial_epoch and epochs; hyperband sets both).
  int64_t initialEpoch = 0, epochs = 0;
  int64_t epochsRun = 0; // fewer than planned when a callback stopped it
  // Keras Tuner's score: the best epoch's val_accuracy (or val_loss); unset
  // when the trial failed, `error` saying why.
  std::optional<double> objective;
  int64_t bestEpoch = 0; // the epoch that scored it
  std::string error;
  double seconds = 0;
  bool fromJournal = false; // finished by an earlier, interrupted run
};
struct TuneOptions {
  // Where the journal, results.csv, best.dsl and best.safetensors go
  // (created; required). A directory that holds an interrupted search of the
  // same file and options continues it.
  std::string directory;
  // Overrides for every trial; `compile.threads` is the threads of the
  // whole search (0: one per core), shared by the trials run at once.
  CompileOptions compile;
  int64_t epochs = 0;     // caps every trial's epochs (not hyperband's)
  int64_t limit = 0;      // use only the first N training images; 0: all
  std::string dataDir;    // as Model::dataset's
  int parallelTrials = 1; // trials trained side by side
  // Called after each trial (and for each trial found in the journal), one
  // call at a time, from the thread that ran it.
  std::function<void(const TrialResult &)> onTrialEnd;
  // Read after every training step; once true, the trials in progress stop
  // unrecorded (they run again when the search is resumed).
  const std::atomic<bool> *stop = nullptr;
};
struct TuneReport {
  std::vector<TrialResult> trials; // finished, by number
  std::optional<size_t> best;      // index in trials; unset: none succeeded
  int threadsPerTrial = 1;
  int64_t resumed = 0; // trials taken from the journal
  bool stopped = false;
};
// The search spaces of a DSL file (choice, int_range, uniform, log_uniform)
// and its tune statement. A trial is the file with each space replaced by
// one value: an ordinary model for Model::fromString.
class CNNC_API Search {
public:
  // Syntax and domains checked; errors are diagnostics.
  static Result<Search> fromFile(const std::string &path);
  static Result<Search> fromString(const std::string &source,
                                   const std::string &name = "<string>");
  Search(Search &&) noexcept;
  Search &operator=(Search &&) noexcept;
  ~Search();

  // One per space, in source order: the argument and its line, "units@7".
  const std::vector<std::string> &spaceNames() const;
  const TuneSettings &settings() const;
  // How many trials the tune statement asks for (grid: every combination;
  // hyperband: every round of every bracket), at most its trials=.
  uint64_t trialCount() const;
  // Draw i's value of each space, as DSL text: grid combination i, or the
  // i-th random draw (a pure function of the seed and i), which is random
  // trial i and hyperband's i-th fresh trial.
  std::vector<std::string> trialValues(uint64_t i) const;
  // The model text with those values, the tune statement removed.
  std::string instantiate(const std::vector<std::string> &values) const;
  // "units@7=512, rate@9=0.5".
  std::string describe(const std::vector<std::string> &values) const;
  // Parses and lowers the combinations (at most 4096; uniform spaces at
  // their ends): the first that cannot work, as a diagnostic.
  Status check() const;
  // Runs the search (docs/dsl.md, "Hyper-parameter search"): trains the
  // trials, journals each finished one in options.directory and keeps
  // results.csv, best.dsl and best.safetensors there up to date. Trials are
  // deterministic for a seed and threads per trial, so a search resumed
  // after a crash ends as an uninterrupted one would. Errors: the directory,
  // a journal of another search, the data; a trial that fails is a result.
  Result<TuneReport> tune(const TuneOptions &options) const;

  struct Impl; // opaque

private:
  friend struct SearchAccess;
  explicit Search(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Keras CSVLogger columns plus seconds (docs/formats.md); atomic.
CNNC_API Status writeHistoryCsv(const std::string &path,
                                const std::vector<EpochMetrics> &history);
// Per image: file, then the top k classes and their probabilities (columns
// file,class,probability; or class_1,probability_1,... for k > 1), RFC 4180
// quoting (docs/formats.md); atomic.
CNNC_API Status writePredictionsCsv(const std::string &path,
                                    const ImagePredictions &predictions,
                                    int64_t k = 1);
// Training and validation accuracy and loss per epoch, as SVG; atomic.
CNNC_API Status writeHistorySvg(const std::string &path,
                                const std::vector<EpochMetrics> &history,
                                const std::string &title);

} // namespace cnnc
