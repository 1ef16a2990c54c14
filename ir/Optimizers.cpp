#include "ir/Optimizers.h"

namespace cnnc::ir {

namespace {

const OptimizerInfo kOptimizers[] = {
#define OPTIMIZER(Enum, Name, LearningRate) {Name, LearningRate},
#include "ir/Optimizers.def"
};

OptimizerArg arg(OptimizerKind k, const char *name, double OptimizerSpec::*m,
                 OptimizerArgRange r, const char *help) {
  return {k, name, r, m, nullptr, help};
}
OptimizerArg arg(OptimizerKind k, const char *name, bool OptimizerSpec::*m,
                 OptimizerArgRange r, const char *help) {
  return {k, name, r, nullptr, m, help};
}

} // namespace

const OptimizerInfo &optimizerInfo(OptimizerKind kind) {
  return kOptimizers[static_cast<int>(kind)];
}

std::optional<OptimizerKind> optimizerKindFromName(std::string_view name) {
  for (size_t i = 0; i < std::size(kOptimizers); ++i)
    if (name == kOptimizers[i].name)
      return static_cast<OptimizerKind>(i);
  return std::nullopt;
}

const std::vector<std::string> &optimizerNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const OptimizerInfo &o : kOptimizers)
      v.push_back(o.name);
    return v;
  }();
  return names;
}

const std::vector<OptimizerArg> &optimizerArgs() {
  // A Bool row must name a bool member and a number row a double one: the
  // overloads of arg() reject any other pairing at compile time.
  static const std::vector<OptimizerArg> args = {
#define OPTIMIZER_ARG(Optimizer, Name, Field, Range, Help)                     \
  arg(OptimizerKind::Optimizer, Name, &OptimizerSpec::Field,                   \
      OptimizerArgRange::Range, Help),
#include "ir/Optimizers.def"
  };
  return args;
}

std::vector<OptimizerArg> optimizerArgs(OptimizerKind kind) {
  std::vector<OptimizerArg> out;
  for (const OptimizerArg &a : optimizerArgs())
    if (a.optimizer == kind)
      out.push_back(a);
  return out;
}

OptimizerSpec defaultOptimizerSpec(OptimizerKind kind) {
  OptimizerSpec spec;
  spec.kind = kind;
  spec.learningRate = optimizerInfo(kind).learningRate;
  return spec;
}

bool inRange(OptimizerArgRange range, double x) {
  switch (range) {
  case OptimizerArgRange::Bool:
    return true;
  case OptimizerArgRange::Positive:
    return x > 0;
  case OptimizerArgRange::UnitOpen:
    return x >= 0 && x < 1;
  case OptimizerArgRange::UnitClosed:
    return x >= 0 && x <= 1;
  }
  return false;
}

const char *rangeText(OptimizerArgRange range) {
  switch (range) {
  case OptimizerArgRange::Bool:
    return "true or false";
  case OptimizerArgRange::Positive:
    return "> 0";
  case OptimizerArgRange::UnitOpen:
    return "in [0, 1)";
  case OptimizerArgRange::UnitClosed:
    return "in [0, 1]";
  }
  return "";
}

} // namespace cnnc::ir
