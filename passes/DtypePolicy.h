// The dtype-policy pass: applies a dtype policy (ir/DtypePolicies.def) to a
// graph by giving every contraction (an op flagged kContracts in
// ir/Ops.def) the policy's compute_dtype, and, for bfloat16, by rounding
// each value a contraction multiplies once per step with a
// round_to_bfloat16 op before its first such reader (every contraction
// that reads the value then reads the rounded copy). Kernels read that copy
// as is; an operand not so rounded (a hand-written graph, or a gradient a
// prologue computes) they round at every load (codegen/KernelBuilder.h),
// so compute_dtype alone defines what an op computes. Runs last in the
// compile pipelines, after fusion, so that fused contractions get it too.
#pragma once

#include "ir/DtypePolicy.h"
#include "ir/Graph.h"

namespace cnnc::passes {

// float32 removes the attribute (round_to_bfloat16 ops already in the graph
// stay), so that a float32 graph prints as before.
// With `pairs`, the contractions that can (ir::bfloat16PairAxis: forward
// convolutions, backward data from a transposed kernel, filter gradients,
// matmuls) read both operands as bfloat16 pairs along the axis they sum
// (pack_bfloat16_pairs), which vdpbf16ps multiplies a pair at a time. A
// forward convolution of a one-channel image pairs columns instead: each
// pixel with its right neighbour (pack_bfloat16_column_pairs), the kernel
// along its columns, taps two columns apart (dilations = [1, 2]). A
// filter gradient with only the bias_grad stage is split into
// conv2d_backward_filter and bias_grad for it; one with the
// max_pool2d_argmax_grad prologue reads x as pairs of images (an even
// batch) or a round_to_bfloat16 copy of x.
void applyDtypePolicy(ir::Graph &g, ir::DtypePolicy policy, bool pairs = false);

} // namespace cnnc::passes
