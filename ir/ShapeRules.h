// Each op's verifier and shape rule: operand types + attributes -> result
// types.
#pragma once

#include "ir/Op.h"
#include "ir/Types.h"

#include "absl/status/statusor.h"

#include <vector>

namespace cnnc::ir {

absl::StatusOr<std::vector<TensorType>>
inferResultTypes(OpKind kind, const std::vector<TensorType> &operands,
                 const Attrs &attrs);

// Output extent of a windowed op along one axis (conv, pooling) given the
// explicit padding before/after; <= 0 when the window does not fit.
int64_t windowOutputSize(int64_t in, int64_t window, int64_t stride,
                         int64_t padBefore, int64_t padAfter);

// TensorFlow "same" padding: total = max((ceil(in/s)-1)*s + k - in, 0), the
// odd extra cell goes after (bottom/right). Returns {before, after}.
std::pair<int64_t, int64_t> samePadding(int64_t in, int64_t window,
                                        int64_t stride);

// batch_groups = G on a sum over the batch (conv2d_backward_filter[_fused],
// bias_grad) cuts the batch (operand 0's axis 0: images, or pairs of images
// when it holds bfloat16 pairs along it) as a static split over G threads
// does: group g sums items [g * size, min((g + 1) * size, batch)) with this
// size, in the op's own order, into a partial sum of its own (results gain
// a leading axis of G; group_sum adds them up). The groups are fixed by the
// graph, never by the thread count.
inline int64_t batchGroupSize(int64_t batch, int64_t groups) {
  return (batch + groups - 1) / groups;
}

// k_groups = G on a matmul (no transposes) cuts its contraction the same
// way: group g sums k in [g * size, min((g + 1) * size, K)) with this size
// (in words, K / 2 of them, when the operands hold bfloat16 pairs along
// it), k ascending
// as the whole matmul does, into partial product g of a result [G, M, N];
// group_sum or group_sum_fused adds them up (passes/KGroups.h).
inline int64_t kGroupSize(int64_t k, int64_t groups) {
  return (k + groups - 1) / groups;
}

} // namespace cnnc::ir
