#include "ir/TrainingSpec.h"

namespace cnnc::ir {

const char *datasetName(DatasetKind kind) {
  switch (kind) {
  case DatasetKind::Mnist:
    return "mnist";
  case DatasetKind::Idx:
    return "idx";
  case DatasetKind::ImageFolder:
    return "image_folder";
  }
  return "?";
}

const char *colorModeName(ColorMode mode) {
  switch (mode) {
  case ColorMode::Grayscale:
    return "grayscale";
  case ColorMode::Rgb:
    return "rgb";
  case ColorMode::Rgba:
    return "rgba";
  }
  return "?";
}

const char *interpolationName(Interpolation method) {
  switch (method) {
  case Interpolation::Bilinear:
    return "bilinear";
  case Interpolation::Nearest:
    return "nearest";
  case Interpolation::Area:
    return "area";
  }
  return "?";
}

const char *callbackName(CallbackKind kind) {
  switch (kind) {
#define CALLBACK(Enum, name)                                                   \
  case CallbackKind::Enum:                                                     \
    return name;
#include "ir/Callbacks.def"
  }
  return "?";
}

const char *monitorName(Monitor m) {
  switch (m) {
  case Monitor::Loss:
    return "loss";
  case Monitor::Accuracy:
    return "accuracy";
  case Monitor::ValLoss:
    return "val_loss";
  case Monitor::ValAccuracy:
    return "val_accuracy";
  }
  return "?";
}

int64_t channelsOf(ColorMode mode) {
  switch (mode) {
  case ColorMode::Grayscale:
    return 1;
  case ColorMode::Rgb:
    return 3;
  case ColorMode::Rgba:
    return 4;
  }
  return 0;
}

} // namespace cnnc::ir
