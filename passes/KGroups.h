// The k-groups pass: a dense layer's forward matmul whose kernel (operand
// 1, a parameter or its bfloat16 pairs) is big sums its contraction in `groups`
// fixed groups, each into a partial product of its own (the matmul's k_groups
// attribute, ir/ShapeRules.h), and a group_sum after it (group_sum_fused, with
// the bias_add and activation a matmul_fused had) adds them in group order into
// the value the matmul wrote before.
//
// The optimizer update writes the kernel's elements split over the
// threads, so each thread writes a block of its rows; the input gradient
// reads it split the same way, and so does the packing of its bfloat16
// pairs under mixed_bfloat16; only the forward matmul split its columns,
// so each thread read rows the other core had just written, and the next
// update had to take them back (mnist's dense forward and its Adam update
// took twice the CPU on two threads as on one). With a group per thread,
// each thread reads only the rows it writes. The groups are fixed by the
// graph, not by the thread count, so the bits do not depend on it.
#pragma once

#include "ir/Graph.h"

namespace cnnc::passes {

// Two groups, as the batch-groups pass (passes/BatchGroups.h).
inline constexpr int64_t kDefaultKGroups = 2;
// Kernels smaller than this stay whole: they stay in cache, and a split
// would cost a kernel more per step than it saves.
inline constexpr int64_t kKGroupsFromBytes = 256 << 10;

void splitKGroups(ir::Graph &g, int64_t groups);

} // namespace cnnc::passes
