// Checks one raw statement against what its keyword accepts (argument names,
// value types, ranges, required arguments) and fills the typed AST.
#pragma once

#include "frontend/AST.h"
#include "frontend/Syntax.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::frontend {

// Layer keywords in the order messages list them, "input" first.
const std::vector<std::string> &layerKeywords();
std::optional<LayerKind> layerKindFromKeyword(std::string_view keyword);

// How a value reads in "X expects ..., got <this>".
std::string describe(const RawValue &v);

class Binder {
public:
  Binder(const std::string &file, std::string_view source)
      : file_(file), source_(source) {}

  // Each returns false and leaves the error in error() on failure.
  bool bindInput(const RawStatement &s, std::array<int64_t, 3> &shape);
  // `layer.kind` must be set; `nameLoc` is set when name= is given.
  bool bindLayer(const RawStatement &s, Layer &layer, SourceLoc &nameLoc);
  bool bindCompile(const RawStatement &s, CompileStmt &c);
  bool bindFit(const RawStatement &s, FitStmt &f);
  // One argument value on its own (parseOptimizerValue, parseCallbacksValue).
  bool bindOptimizer(const RawArg &a, ir::OptimizerSpec &out) {
    return readOptimizer(a, out);
  }
  bool bindCallbacks(const RawArg &a, std::vector<ir::CallbackSpec> &out) {
    return readCallbacks(a, out);
  }

  const std::optional<Diagnostic> &error() const { return error_; }

private:
  // (0,inf) [0,1) [0,1] [0,inf)
  enum class Range { Positive, UnitOpen, UnitClosed, NonNegative };

  bool fail(SourceLoc loc, std::string message);
  // Gives the positional arguments (the parser keeps them first) the names
  // of `positional`, in order; more of them than names is an error.
  bool namePositional(std::vector<RawArg> &args, std::string_view owner,
                      const std::vector<std::string> &positional);
  // Walks `args` in order, rejecting unknown and repeated names (and
  // positional arguments: namePositional names those first) and handing
  // each to `handle`; then reports the first missing required argument.
  bool forEachArg(const std::vector<RawArg> &args, std::string_view owner,
                  SourceLoc ownerLoc, const std::vector<std::string> &known,
                  const std::vector<std::string> &required,
                  const std::function<bool(const RawArg &)> &handle);

  bool readInt(const RawArg &a, int64_t &out, int64_t min, int64_t max);
  bool readPair(const RawArg &a, IntPair &out);
  bool readNumber(const RawArg &a, double &out, Range range);
  bool readBool(const RawArg &a, bool &out);
  bool readChoice(const RawArg &a, std::string_view what,
                  const std::vector<std::string> &choices, size_t &index);
  bool readLayerName(const RawArg &a, std::string &out);
  bool readOptimizer(const RawArg &a, ir::OptimizerSpec &out);
  // learning_rate=cosine_decay(...) etc.: frontend/BindSchedule.cpp.
  bool readSchedule(const RawValue &call, ir::ScheduleSpec &out);
  bool readDataset(const RawArg &a, ir::FitSpec &out);
  bool readImageFolder(const RawValue &call, ir::ImageFolderSpec &out,
                       bool allowSplit);
  bool readValidation(const RawArg *a, FitStmt &f);
  bool readClasses(const RawArg &a, std::vector<int64_t> &out);
  bool readCallbacks(const RawArg &a, std::vector<ir::CallbackSpec> &out);
  bool readMetrics(const RawArg &a, bool &accuracy);
  // The augmentation layers' and rescaling's arguments.
  bool readAugmentArg(const RawArg &a, Layer &layer);
  bool readFactor(const RawArg &a, std::array<double, 2> &out, double min,
                  double max, bool minOpen, bool symmetric);
  bool readFinite(const RawArg &a, double &out);

  std::string file_;
  std::string_view source_;
  std::optional<Diagnostic> error_;
};

} // namespace cnnc::frontend
