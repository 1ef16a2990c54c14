// Copying a forward graph into a new graph, the first step of every pass
// that derives a training, evaluation or prediction graph from a model.
#pragma once

#include "ir/Graph.h"

#include "absl/status/statusor.h"

#include <string>
#include <vector>

namespace cnnc::passes {

struct CopyOptions {
  // Drops dropout ops and rewires uses of their output to their input
  // (inference: dropout is the identity); likewise the random augmentations
  // but random_crop, which becomes its inference form (training = 0).
  bool dropDropout = false;
  // Batch normalization in inference mode: each batch_norm becomes
  // batch_norm_inference with the moving statistics its
  // moving_average_update ops maintain, and those updates are dropped.
  bool movingStatistics = false;
  // Replaces the final softmax (the op defining output "probs" from output
  // "logits") with softmax_cross_entropy(logits, %labels) and
  // count_correct(probs, %labels); the copy gets outputs loss, correct, probs.
  bool addLossHead = false;
};

struct CopiedGraph {
  ir::Graph graph;
  // Forward ValueId -> ValueId in `graph`; -1 for values that were dropped.
  std::vector<ir::ValueId> map;
};

// Copies `forward` (which must verify) into a graph called `name`, keeping
// value names, kinds, attributes and op order. Outputs are not copied unless
// the loss head is added.
absl::StatusOr<CopiedGraph> copyForward(const ir::Graph &forward,
                                        const std::string &name,
                                        const CopyOptions &options);

} // namespace cnnc::passes
