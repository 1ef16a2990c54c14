// The batch-groups pass: every sum over the batch of a convolution layer
// (its filter gradient, conv2d_backward_filter[_fused] with the bias
// gradient when fused, and its bias_grad) sums its batch in `groups` fixed
// groups, each into a partial sum of its own (the op's batch_groups
// attribute, ir/ShapeRules.h), and a group_sum after it adds the partials
// in group order into the value the op wrote before.
//
// Every other kernel of a training step splits its work over the batch, so
// a thread writes and reads the same images all along; these sums split
// over output channels instead, so each thread read every image, half of
// them from the other core's cache, and the next step's writes to those
// images had to invalidate the copies the other core had read. With a
// group per thread, each thread reads only its own images. The groups are
// fixed by the graph, not by the thread count, so the bits do not depend
// on it.
//
// A training batch_norm and batch_norm_grad sum over the batch as well (the
// statistics; dbeta and dgamma), and a kernel cannot split a sum over
// threads, so each thread read all of x for them. Their sums move into a
// batch_norm_sums or batch_norm_grad_sums before them (f64[G, 2, C], a sum
// per group), which they take as their last operand and add up.
#pragma once

#include "ir/Graph.h"

namespace cnnc::passes {

// Two groups: the cores this project's machine has. Any count keeps the
// results independent of the thread count.
inline constexpr int64_t kDefaultBatchGroups = 2;

void splitBatchGroups(ir::Graph &g, int64_t groups);

} // namespace cnnc::passes
