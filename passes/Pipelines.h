// The compile pipelines the runtime runs on a model's forward graph, with
// the instrumentation behind cnnc --print-after-all / --print-after=PASS /
// --verify-each.
#pragma once

#include "ir/Graph.h"
#include "ir/TrainingSpec.h"

#include "absl/status/statusor.h"

#include <functional>
#include <string>

namespace cnnc::passes {

struct PipelineOptions {
  // Runs the verifier after every pass; a failure names the pass.
  bool verifyEach = false;
  // Called after each pass with the pass's name and the graph it produced.
  std::function<void(const std::string &pass, const ir::Graph &)> afterPass;
};

// forward → autodiff ("autodiff") → dead-code elimination ("dce") → fusion
// ("fusion", passes/Fusion.h).
absl::StatusOr<ir::Graph> runTrainingPipeline(const ir::Graph &forward,
                                              const ir::TrainingSpec &spec,
                                              const PipelineOptions &options);
// forward → evaluation graph ("eval") → "dce" → "fusion"
absl::StatusOr<ir::Graph> runEvalPipeline(const ir::Graph &forward,
                                          const PipelineOptions &options);
// forward → prediction graph ("predict") → "dce" → "fusion"
absl::StatusOr<ir::Graph> runPredictPipeline(const ir::Graph &forward,
                                             const PipelineOptions &options);

} // namespace cnnc::passes
