#include "ir/TrainingSpec.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cnnc::ir {

const char *scheduleName(ScheduleKind kind) {
  switch (kind) {
#define SCHEDULE(Enum, name)                                                   \
  case ScheduleKind::Enum:                                                     \
    return name;
#include "ir/Schedules.def"
  }
  return "?";
}

// Keras 3's formulas (keras/src/optimizers/schedules/
// learning_rate_schedule.py), step for step.
double learningRateAt(const ScheduleSpec &s, int64_t iterations) {
  auto step = static_cast<double>(iterations);
  auto decaySteps = static_cast<double>(s.decaySteps);
  switch (s.kind) {
  case ScheduleKind::CosineDecay: {
    auto decay = [&](double t, double from) {
      double cosine = 0.5 * (1 + std::cos(std::numbers::pi * (t / decaySteps)));
      return from * ((1 - s.alpha) * cosine + s.alpha);
    };
    if (!s.hasWarmupTarget)
      return decay(std::min(step, decaySteps), s.initialLearningRate);
    auto warmup = static_cast<double>(s.warmupSteps);
    step = std::min(step, decaySteps + warmup);
    if (step < warmup)
      return (s.warmupTarget - s.initialLearningRate) * (step / warmup) +
             s.initialLearningRate;
    return decay(step - warmup, s.warmupTarget);
  }
  case ScheduleKind::ExponentialDecay: {
    double p = step / decaySteps;
    if (s.staircase)
      p = std::floor(p);
    return s.initialLearningRate * std::pow(s.decayRate, p);
  }
  case ScheduleKind::PiecewiseConstantDecay: {
    // values[i] while step <= boundaries[i]; the last value after them all.
    for (size_t i = 0; i < s.boundaries.size(); ++i)
      if (iterations <= s.boundaries[i])
        return s.values[i];
    return s.values.back();
  }
  }
  return 0;
}

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
