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

} // namespace cnnc::ir
