// Re-specializes a forward graph to another batch size. Shapes are static,
// so a partial last batch or a larger evaluation batch needs its own graph.
#pragma once

#include "ir/Graph.h"

#include "absl/status/statusor.h"

namespace cnnc::passes {

// Rebuilds g with the leading (batch) dimension of input %x set to `batch`;
// every op is re-created through its shape rule, and batch-carrying
// attributes (reshape's shape, *_shape) are adjusted.
absl::StatusOr<ir::Graph> rebatch(const ir::Graph &g, int64_t batch);

} // namespace cnnc::passes
