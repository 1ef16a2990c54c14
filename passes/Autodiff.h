// Reverse-mode automatic differentiation: forward graph -> training graph.
#pragma once

#include "ir/Graph.h"
#include "ir/TrainingSpec.h"

#include "absl/status/statusor.h"

namespace cnnc::passes {

// Builds the graph of one training step from a forward graph whose last op
// is softmax(%logits) (outputs "logits" and "probs"):
//   1. the forward ops, same value names; input %labels : i32[N] is added and
//      the final softmax becomes softmax_cross_entropy(logits, labels) ->
//      (%loss, %probs), followed by count_correct -> %correct;
//   2. the backward pass: each forward op's vector-Jacobian product
//      (Gradients.cpp) in reverse order, only for values on a path from a
//      param to the loss; gradients of values used more than once are
//      summed with `add`;
//   3. one optimizer update per trainable param that has a gradient, with
//      its state values ("<param>.m"/".v" for Adam, ".velocity" for SGD with
//      momentum, ".ms" for RMSprop). Params with attribute trainable = 0
//      (batch normalization's moving statistics, which forward ops update)
//      get no gradient and no update.
// Outputs: "loss", "correct", "probs". The graph is named "<forward>_train".
absl::StatusOr<ir::Graph> buildTrainingGraph(const ir::Graph &forward,
                                             const ir::TrainingSpec &spec);

} // namespace cnnc::passes
