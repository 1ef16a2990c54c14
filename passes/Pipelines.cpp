#include "passes/Pipelines.h"

#include "passes/Autodiff.h"
#include "passes/DeadCode.h"
#include "passes/EvalGraph.h"
#include "passes/Fusion.h"

#include "absl/status/status.h"
#include "ir/Verifier.h"
#include <fmt/format.h>

namespace cnnc::passes {

namespace {

// Runs one stage's bookkeeping: verify (if asked), then report.
absl::Status finishPass(const std::string &name, const ir::Graph &g,
                        const PipelineOptions &options) {
  if (options.verifyEach)
    if (absl::Status s = ir::verifyGraph(g); !s.ok())
      return absl::Status(s.code(), fmt::format("after pass '{}': {}", name,
                                                std::string(s.message())));
  if (options.afterPass)
    options.afterPass(name, g);
  return absl::OkStatus();
}

// The in-place passes that follow graph construction in every pipeline.
absl::Status runCleanup(ir::Graph &g, const PipelineOptions &options) {
  eliminateDeadCode(g);
  return finishPass("dce", g, options);
}

absl::StatusOr<ir::Graph> finish(absl::StatusOr<ir::Graph> g,
                                 const std::string &name,
                                 const PipelineOptions &options) {
  if (!g.ok())
    return g.status();
  if (absl::Status s = finishPass(name, *g, options); !s.ok())
    return s;
  if (absl::Status s = runCleanup(*g, options); !s.ok())
    return s;
  // Fusion (passes/Fusion.h) runs last, on the cleaned-up graph.
  if (absl::Status s = fuseOps(*g); !s.ok())
    return s;
  if (absl::Status s = finishPass("fusion", *g, options); !s.ok())
    return s;
  return g;
}

} // namespace

absl::StatusOr<ir::Graph> runTrainingPipeline(const ir::Graph &forward,
                                              const ir::TrainingSpec &spec,
                                              const PipelineOptions &options) {
  return finish(buildTrainingGraph(forward, spec), "autodiff", options);
}

absl::StatusOr<ir::Graph> runEvalPipeline(const ir::Graph &forward,
                                          const PipelineOptions &options) {
  return finish(buildEvalGraph(forward), "eval", options);
}

absl::StatusOr<ir::Graph> runPredictPipeline(const ir::Graph &forward,
                                             const PipelineOptions &options) {
  return finish(buildPredictGraph(forward), "predict", options);
}

} // namespace cnnc::passes
