// The cost of one call of an op, from its static shapes: the cost column of
// ir/Ops.def. For roofline and GFLOP/s tables, not for scheduling.
#pragma once

#include "ir/Graph.h"

namespace cnnc::ir {

struct OpCost {
  // Floating-point operations; a multiply-add counts 2, an exp or a compare
  // counts 1. Convolutions (forward and both backward ops) count
  // 2*N*OH*OW*O*KH*KW*C, matmul 2*M*N*K, elementwise ops ~ one per element.
  double flops = 0;
  // Compulsory memory traffic: every operand read once, every result (and
  // every operand updated in place) written once. Aliases move nothing.
  double bytes = 0;
};

OpCost opCost(const Graph &g, const Op &op);

} // namespace cnnc::ir
