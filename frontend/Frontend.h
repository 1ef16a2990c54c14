// The DSL frontend: parse a model file, check it, and lower it to a forward
// tensor-IR graph plus the training recipe. The one header other stages use.
// Nothing here throws or prints; every failure is a Diagnostic value.
#pragma once

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "ir/Graph.h"
#include "ir/TrainingSpec.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::frontend {

// Exactly one of the two is set.
struct ParseResult {
  std::optional<Program> program;
  std::optional<Diagnostic> error;
};

// Parses and checks every statement and argument (the first error wins).
ParseResult parseProgram(std::string_view source, const std::string &filename);
// Loads and parses a file; an unreadable file gives a line-0 diagnostic that
// renders as "file: error: cannot read: <reason>".
ParseResult parseFile(const std::string &path);

// The compile and fit statements with every default applied (Keras's
// defaults; epochs 1).
ir::TrainingSpec trainingSpec(const Program &p);

// What the API's CompileOptions::optimizer and ::callbacks hold: `text` read
// as the value of the compile statement's optimizer= or the fit statement's
// callbacks= argument, checked as there; diagnostics are about `text`
// itself, under `name`. Exactly one of each pair is set.
struct OptimizerResult {
  std::optional<ir::OptimizerSpec> optimizer;
  std::optional<Diagnostic> error;
};
OptimizerResult parseOptimizerValue(std::string_view text,
                                    const std::string &name);
struct CallbacksResult {
  std::optional<std::vector<ir::CallbackSpec>> callbacks;
  std::optional<Diagnostic> error;
};
CallbacksResult parseCallbacksValue(std::string_view text,
                                    const std::string &name);

// What the optimizer and fit arguments cannot be together (checked for the
// whole statements and again after API overrides): a reduce_lr_on_plateau
// with a schedule, a val_ monitor without validation data. The message, or
// nullopt.
std::optional<std::string> recipeConflict(const ir::OptimizerSpec &optimizer,
                                          const ir::FitSpec &fit);

struct LayerSummary {
  std::string name, type;           // "conv2d", "Conv2D"
  std::vector<int64_t> outputShape; // without the batch dimension
  int64_t params = 0;               // all of the layer's weights
  int64_t nonTrainableParams = 0;   // of which not trained (moving stats)
};

struct LoweredModel {
  ir::Graph forward;
  std::vector<LayerSummary> layers;
};

// Exactly one of the two is set.
struct LowerResult {
  std::optional<LoweredModel> model;
  std::optional<Diagnostic> error;
};

// Shape-checks every layer and builds the forward graph for batch size
// spec.fit.batchSize (see docs/dsl.md for the graph's conventions).
LowerResult lowerModel(const Program &p, const ir::TrainingSpec &spec);

// A table like Keras's model.summary(): layer (type), output shape, params,
// then the totals. Ends with a newline.
std::string formatSummary(const LoweredModel &m);

} // namespace cnnc::frontend
