// The training recipe that comes with a model: loss, optimizer, fit settings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::ir {

enum class LossKind { CategoricalCrossentropy, SparseCategoricalCrossentropy };
enum class OptimizerKind { SGD, Adam, RMSprop };

// Defaults are Keras's.
struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::Adam;
  double learningRate = 0.001;       // sgd: 0.01
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
  Monitor monitor = Monitor::ValLoss; // early_stopping, model_checkpoint
  MonitorMode mode = MonitorMode::Auto;
  double minDelta = 0;             // early_stopping
  int64_t patience = 0;            // early_stopping
  bool restoreBestWeights = false; // early_stopping
  int64_t startFromEpoch = 0;      // early_stopping
  std::string path;                // model_checkpoint, csv_logger
  bool saveBestOnly = false;       // model_checkpoint
  bool append = false;             // csv_logger
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
};

struct TrainingSpec {
  LossKind loss = LossKind::CategoricalCrossentropy;
  OptimizerSpec optimizer;
  bool accuracyMetric = true;
  FitSpec fit;
};

} // namespace cnnc::ir
