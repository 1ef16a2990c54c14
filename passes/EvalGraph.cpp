#include "passes/EvalGraph.h"

#include "passes/GraphCopy.h"

#include "absl/status/status.h"
#include <fmt/format.h>

namespace cnnc::passes {

absl::StatusOr<ir::Graph> buildEvalGraph(const ir::Graph &forward) {
  auto copied = copyForward(
      forward, forward.name() + "_eval",
      {.dropDropout = true, .movingStatistics = true, .addLossHead = true});
  if (!copied.ok())
    return copied.status();
  return std::move(copied->graph);
}

absl::StatusOr<ir::Graph> buildPredictGraph(const ir::Graph &forward) {
  ir::ValueId probs = forward.output("probs");
  if (probs < 0)
    return absl::InvalidArgumentError(
        "the forward graph has no 'probs' output to predict");
  auto copied = copyForward(
      forward, forward.name() + "_predict",
      {.dropDropout = true, .movingStatistics = true, .addLossHead = false});
  if (!copied.ok())
    return copied.status();
  if (copied->map[probs] < 0)
    return absl::InvalidArgumentError(fmt::format(
        "output 'probs' is %{}, which this pass removes (a dropout mask or "
        "batch statistic)",
        forward.value(probs).name));
  copied->graph.addOutput("probs", copied->map[probs]);
  return std::move(copied->graph);
}

} // namespace cnnc::passes
