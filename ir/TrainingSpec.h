// The training recipe that comes with a model: loss, optimizer, fit settings.
#pragma once

#include <cstdint>
#include <string>

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

struct FitSpec {
  std::string dataset = "mnist"; // "mnist" or "idx"
  std::string idxPrefix;         // for dataset idx("prefix")
  int64_t epochs = 1;
  int64_t batchSize = 32;
  bool validation = true; // validation=test
  bool shuffle = true;
  uint64_t seed = 0;
};

struct TrainingSpec {
  LossKind loss = LossKind::CategoricalCrossentropy;
  OptimizerSpec optimizer;
  bool accuracyMetric = true;
  FitSpec fit;
};

} // namespace cnnc::ir
