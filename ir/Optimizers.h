// The optimizer table (ir/Optimizers.def): names, default learning rates
// and arguments, for the frontend, cnnc-opt's options and the pipelines.
#pragma once

#include "ir/TrainingSpec.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

struct OptimizerInfo {
  const char *name;
  double learningRate; // Keras's default
};
const OptimizerInfo &optimizerInfo(OptimizerKind kind);
std::optional<OptimizerKind> optimizerKindFromName(std::string_view name);
// Every optimizer's name, in table order.
const std::vector<std::string> &optimizerNames();

enum class OptimizerArgRange { Bool, Positive, UnitOpen, UnitClosed };

struct OptimizerArg {
  OptimizerKind optimizer;
  const char *name;
  OptimizerArgRange range;
  double OptimizerSpec::*number; // unless range is Bool
  bool OptimizerSpec::*flag;     // when range is Bool
  const char *help;
};
// Every row, in table order.
const std::vector<OptimizerArg> &optimizerArgs();
// The rows of `kind`.
std::vector<OptimizerArg> optimizerArgs(OptimizerKind kind);

// Keras's defaults for `kind`.
OptimizerSpec defaultOptimizerSpec(OptimizerKind kind);
// Whether x is in the range; "in [0, 1)"-style text for messages.
bool inRange(OptimizerArgRange range, double x);
const char *rangeText(OptimizerArgRange range);

} // namespace cnnc::ir
