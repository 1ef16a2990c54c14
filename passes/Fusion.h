// The fusion pass ("fusion"): rewrites producer-consumer chains of a
// training, evaluation or prediction graph into the fused ops of
// ir/Ops.def, so that intermediate tensors never reach memory and the step
// runs fewer kernels. A fused op is its anchor op plus the stages of
// ir/FusedStages.def that this pass lists in its `epilogue` (and
// `prologue`) attribute:
//
//   conv2d -> bias_add [-> activation]           conv2d_fused, epilogue
//                                                [bias_add, activation
//     [-> max_pool2d]                             , max_pool2d (no backward)
//     [-> max_pool2d + its gradient ops]          , max_pool2d, argmax], and
//        max_pool2d_grad [-> activation_grad]    max_pool2d_argmax_grad
//        (with a mul feeding the gradient        (mask operand)
//         folded in: dropout's backward)
//     [-> ... -> dropout, mask only read by       ..., argmax, dropout]
//         that folded mul]                       (gradient: scale attribute)
//   matmul -> bias_add [-> activation]           matmul_fused, epilogue
//                                                [bias_add, activation]
//   conv2d_backward_filter(x, dy) + bias_grad(dy)
//                                                conv2d_backward_filter_fused,
//                                                epilogue [bias_grad]
//     with dy = max_pool2d_argmax_grad(...)      prologue
//     read by nothing else                       [max_pool2d_argmax_grad]
//                                                (dy is never materialized)
//   conv2d_backward_data(dy, w)                  conv2d_kernel_transpose(w)
//                                                (once per step, first) +
//                                                conv2d_backward_data_transposed
//
// A value is fused into its producer only when the chain is its only user
// and it is not a graph output: a value with two users keeps its op. Every
// fused op computes what the ops it replaces compute, bit for bit (see the
// emitters). Values of replaced ops stay in the value table (unused), so
// ValueIds remain valid.
#pragma once

#include "ir/Graph.h"

#include "absl/status/status.h"

namespace cnnc::passes {

struct FusionOptions {
  // Largest per-thread buffer (bytes) for the convolution rows a fused max
  // pool reads; bigger layers keep an unfused pool.
  int64_t maxPoolRowBytes = 128 << 10;
};

// Fuses in place, then removes dead ops. Fails only on an internal error
// (a fused op whose shape rule rejects it).
absl::Status fuseOps(ir::Graph &g, const FusionOptions &options = {});

} // namespace cnnc::passes
