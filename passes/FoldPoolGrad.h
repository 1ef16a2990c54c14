// The fold-pool-grad pass: what reads a max_pool2d_argmax_grad's dx only to
// pack it into bfloat16 pairs (pack_bfloat16_pairs, for the convolution
// gradients of mixed_bfloat16) or to sum it into the bias gradient
// (bias_grad, by batch group) becomes a stage of a
// max_pool2d_argmax_grad_fused, whose kernel writes the pairs in dx's place
// and sums the bias gradient from the pooled values: no float32 dx to
// write and read again, no packing or summing pass over memory.
//
// The packing folds only where it is dx's only reader besides bias_grad
// (dx is then never written), along the batch or the channels of an even
// batch and channel count, and with batch groups of whole pairs
// (ir/ShapeRules.cpp); the bias gradient folds wherever it reads dx. The
// pairs hold the bits the packing gave; the bias gradient's sum is in
// another fixed order (the kernel's), the same for any thread count. Runs
// after batch-groups, whose groups the bias gradient keeps.
#pragma once

#include "ir/Graph.h"

namespace cnnc::passes {

void foldPoolGrad(ir::Graph &g);

} // namespace cnnc::passes
