// The fold-packs pass: a pack_bfloat16_pairs of a pooled convolution's
// result (conv2d_fused with max_pool2d) becomes that convolution's last
// epilogue stage, so that its kernel writes the bfloat16 pairs as it pools
// and neither writes the float32 result nor leaves a packing pass over
// memory to the step. The packing may read the result through a reshape
// that keeps the batch (flatten): the convolution then packs its own
// shape, and reshapes of the pairs give the values the packing gave.
//
// Only where the packing (and the reshape) is the result's only reader,
// along the batch or the channels (the last axis: after a flatten, an even
// row of pixels' channels), of an even batch and channel count, so that
// every bfloat16 pair is whole (ir/ShapeRules.cpp). What each value holds
// is unchanged, bit for bit. Runs after hoist-conversions, which merges a
// value's two packings into the one op this pass folds.
#pragma once

#include "ir/Graph.h"

namespace cnnc::passes {

void foldPacks(ir::Graph &g);

} // namespace cnnc::passes
