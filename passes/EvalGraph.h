// Inference graphs derived from a forward graph.
#pragma once

#include "ir/Graph.h"

#include "absl/status/statusor.h"

namespace cnnc::passes {

// The evaluation graph: the forward ops in inference mode (dropout removed,
// its uses reading its input; batch_norm using its moving statistics, see
// CopyOptions::movingStatistics), input %labels : i32[N], and the final
// softmax replaced by
// softmax_cross_entropy(logits, labels) -> (%loss, %probs) and
// count_correct -> %correct. Outputs "loss", "correct", "probs"; named
// "<forward>_eval". Needs outputs "logits" and "probs" = softmax(logits).
absl::StatusOr<ir::Graph> buildEvalGraph(const ir::Graph &forward);

// The prediction graph: the forward ops in inference mode; output
// "probs" (the forward graph's). Named "<forward>_predict".
absl::StatusOr<ir::Graph> buildPredictGraph(const ir::Graph &forward);

} // namespace cnnc::passes
