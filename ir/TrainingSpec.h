// The training recipe that comes with a model: loss, optimizer, fit settings.
#pragma once

#include "ir/DtypePolicy.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cnnc::ir {

enum class LossKind { CategoricalCrossentropy, SparseCategoricalCrossentropy };
// ir/Optimizers.def; its table is read through ir/Optimizers.h.
enum class OptimizerKind {
#define OPTIMIZER(Enum, Name, LearningRate) Enum,
#include "ir/Optimizers.def"
};

enum class ScheduleKind {
#define SCHEDULE(Enum, name) Enum,
#include "ir/Schedules.def"
};
const char *scheduleName(ScheduleKind kind);

// A learning-rate schedule (Keras's LearningRateSchedule) with Keras's
// arguments and defaults; each kind reads its own fields.
struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::CosineDecay;
  double initialLearningRate = 0;  // cosine_decay, exponential_decay
  int64_t decaySteps = 1;          // cosine_decay, exponential_decay
  double alpha = 0;                // cosine_decay
  bool hasWarmupTarget = false;    // cosine_decay
  double warmupTarget = 0;         // cosine_decay
  int64_t warmupSteps = 0;         // cosine_decay
  double decayRate = 1;            // exponential_decay
  bool staircase = false;          // exponential_decay
  std::vector<int64_t> boundaries; // piecewise_constant_decay
  std::vector<double> values;      // piecewise_constant_decay
};

// The schedule's rate after `iterations` optimizer steps (Keras calls the
// schedule with optimizer.iterations, 0 at the first step), computed in f64;
// the runtime rounds it to f32 as Keras's f32 arithmetic ends.
double learningRateAt(const ScheduleSpec &s, int64_t iterations);

// Defaults are Keras's.
struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::Adam;
  // The constant rate, or with a schedule its rate at step 0.
  double learningRate = 0.001; // the kind's (defaultOptimizerSpec)
  std::optional<ScheduleSpec> schedule;
  double momentum = 0.0;             // sgd
  bool nesterov = false;             // sgd
  double beta1 = 0.9, beta2 = 0.999; // adam
  double rho = 0.9;                  // rmsprop
  double epsilon = 1e-7;             // adam, rmsprop
};

enum class DatasetKind { Mnist, Idx, ImageFolder };
// Keras's color_mode and interpolation names.
enum class ColorMode { Grayscale, Rgb, Rgba };
enum class Interpolation { Bilinear, Nearest, Area };

const char *datasetName(DatasetKind kind);
const char *colorModeName(ColorMode mode);
const char *interpolationName(Interpolation method);
int64_t channelsOf(ColorMode mode); // 1, 3, 4

// image_folder("dir", ...): Keras's image_dataset_from_directory arguments,
// with its defaults.
struct ImageFolderSpec {
  std::string directory;
  int64_t height = 256, width = 256; // image_size
  ColorMode colorMode = ColorMode::Rgb;
  Interpolation interpolation = Interpolation::Bilinear;
  bool cropToAspectRatio = false;
  double validationSplit = 0; // 0: no split
};

// Where validation (and the closing evaluation) data comes from.
enum class ValidationKind {
  None,
  Test,   // the IDX test split (t10k)
  Split,  // the image folder's validation_split subset
  Folder, // a second image folder
};

enum class CallbackKind {
#define CALLBACK(Enum, name) Enum,
#include "ir/Callbacks.def"
};
const char *callbackName(CallbackKind kind);
// The metrics a callback may monitor, in the order of the history.
enum class Monitor { Loss, Accuracy, ValLoss, ValAccuracy };
const char *monitorName(Monitor m);
// Keras's mode: auto is max for accuracies, min for losses.
enum class MonitorMode { Auto, Min, Max };

// One callback with Keras's defaults; each kind reads its own fields.
struct CallbackSpec {
  CallbackKind kind = CallbackKind::EarlyStopping;
  // early_stopping, model_checkpoint, reduce_lr_on_plateau
  Monitor monitor = Monitor::ValLoss;
  MonitorMode mode = MonitorMode::Auto;
  double minDelta = 0;             // early_stopping; reduce_lr: 1e-4
  int64_t patience = 0;            // early_stopping; reduce_lr: 10
  bool restoreBestWeights = false; // early_stopping
  int64_t startFromEpoch = 0;      // early_stopping
  std::string path;          // model_checkpoint, csv_logger, backup_and_restore
  bool saveBestOnly = false; // model_checkpoint
  bool append = false;       // csv_logger
  double factor = 0.1;       // reduce_lr_on_plateau
  int64_t cooldown = 0;      // reduce_lr_on_plateau
  double minLr = 0;          // reduce_lr_on_plateau
  int64_t saveFreq = 0;      // backup_and_restore: steps; 0: "epoch"
  bool deleteCheckpoint = true; // backup_and_restore
};

struct FitSpec {
  DatasetKind dataset = DatasetKind::Mnist;
  std::string idxPrefix;  // for dataset idx("prefix")
  ImageFolderSpec images; // for dataset image_folder(...)
  int64_t epochs = 1;
  int64_t batchSize = 32;
  ValidationKind validation = ValidationKind::Test;
  ImageFolderSpec validationImages; // for validation=image_folder(...)
  bool shuffle = true;
  uint64_t seed = 0;
  std::vector<CallbackSpec> callbacks; // in the order given
  // initial_weights="FILE": weights loaded by name before training (Keras's
  // load_weights(by_name=True, skip_mismatch=...)); empty for none.
  std::string initialWeights;
  bool skipMismatch = false;
  // classes=[5, 6, 7]: the labels kept, in the order they are renumbered
  // 0..k-1 (training and validation data alike); empty: all.
  std::vector<int64_t> classes;
};

struct TrainingSpec {
  LossKind loss = LossKind::CategoricalCrossentropy;
  OptimizerSpec optimizer;
  bool accuracyMetric = true;
  // compile dtype_policy=NAME (ir/DtypePolicies.def); Keras's default.
  DtypePolicy dtypePolicy = DtypePolicy::Float32;
  FitSpec fit;
};

} // namespace cnnc::ir
