// The compile pipelines the runtime runs on a model's forward graph. Each is
// a list of registered passes (passes/Pipeline.h) run by the one pass
// manager, runPipeline, with the instrumentation behind cnnc
// --print-after-all / --print-after=PASS / --verify-each.
#pragma once

#include "passes/Pipeline.h"

#include "ir/Graph.h"
#include "ir/TrainingSpec.h"

#include "absl/status/statusor.h"

#include <string>
#include <vector>

namespace cnnc::passes {

using PipelineOptions = PassInstrumentation;

// autodiff{the optimizer's options} -> dce -> fusion, then
// dtype-policy{policy, pairs} unless the policy is float32. `pairs`: the
// target multiplies bfloat16 pairs (passes/DtypePolicy.h).
std::vector<PassInvocation>
trainingPipeline(const ir::OptimizerSpec &opt,
                 ir::DtypePolicy policy = ir::DtypePolicy::Float32,
                 bool pairs = false);
// eval -> dce -> fusion (-> dtype-policy)
std::vector<PassInvocation>
evalPipeline(ir::DtypePolicy policy = ir::DtypePolicy::Float32,
             bool pairs = false);
// predict -> dce -> fusion (-> dtype-policy)
std::vector<PassInvocation>
predictPipeline(ir::DtypePolicy policy = ir::DtypePolicy::Float32,
                bool pairs = false);

// The distinct names of the passes the three pipelines run, in order (with
// bfloat16 pairs, so that every pass a pipeline may run is listed).
std::vector<std::string> compilePipelinePassNames();

// The forward graph copied and run through the pipeline.
absl::StatusOr<ir::Graph> runTrainingPipeline(const ir::Graph &forward,
                                              const ir::TrainingSpec &spec,
                                              const PipelineOptions &options,
                                              bool pairs = false);
absl::StatusOr<ir::Graph>
runEvalPipeline(const ir::Graph &forward, const PipelineOptions &options,
                ir::DtypePolicy policy = ir::DtypePolicy::Float32,
                bool pairs = false);
absl::StatusOr<ir::Graph>
runPredictPipeline(const ir::Graph &forward, const PipelineOptions &options,
                   ir::DtypePolicy policy = ir::DtypePolicy::Float32,
                   bool pairs = false);

} // namespace cnnc::passes
