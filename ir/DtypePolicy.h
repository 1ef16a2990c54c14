// The dtype policy table (ir/DtypePolicies.def), for the frontend, the
// pipelines, cnnc-opt's options and the runtime's header line.
#pragma once

#include "ir/AttrEnums.h"
#include "ir/Graph.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

enum class DtypePolicy : uint8_t {
#define DTYPE_POLICY(Enum, Name, ComputeDtype) Enum,
#include "ir/DtypePolicies.def"
};

const char *dtypePolicyName(DtypePolicy policy);
ComputeDtype policyComputeDtype(DtypePolicy policy);
std::optional<DtypePolicy> dtypePolicyFromName(std::string_view name);
// Every policy's name, in table order.
const std::vector<std::string> &dtypePolicyNames();

// v is a round_to_bfloat16 result: bfloat16 values (kept as f32) that a
// bfloat16 contraction reads as they are (passes/DtypePolicy.h).
bool isRoundedToBfloat16(const Graph &g, ValueId v);

// The axis of operand `operand` (0 or 1) of a `kind` op with `attrs` along
// which it may be read as bfloat16 pairs (ir/Types.h packedBfloat16Pairs):
// the axis the op sums over. -1 where no kernel reads pairs. Convolutions
// forward and backward data (from a transposed kernel): the image's
// channels (3) and the kernel's matching axis (2); the filter gradient
// (conv2d_backward_filter, not its fused forms): the batch (0) of x and dy;
// matmuls but for transpose_a with transpose_b: the contraction axis of
// each.
int64_t bfloat16PairAxis(OpKind kind, const Attrs &attrs, size_t operand);

} // namespace cnnc::ir
