// Per-kernel profile of a step: time, FLOP rate and share of the step per
// kernel, as `cnnc --train --profile` and cnnc-bench print it.
#pragma once

#include "ir/Graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::runtime {

// Time spent in one kernel while profiling was on.
struct KernelProfile {
  std::string name; // "k3_conv2d"
  std::string op;   // op kind, with a fused op's stages (ir::opLabel)
  double seconds = 0;
  int64_t calls = 0;
  double flops = 0; // per call
};

// FLOPs of one call of op `opIndex` (a multiply-add counts 2), and of all
// the ops of g: the work of one step.
double opFlops(const ir::Graph &g, size_t opIndex);
double graphFlops(const ir::Graph &g);

// A table, one row per kernel, slowest first:
//   kernel  calls  ms/call  GFLOP/s  % step
// and a total row. With peakGflops > 0, also "% of peak" per row (of that
// many GFLOP/s, i.e. the peak of the threads that ran the step). Ends with
// a newline; empty when nothing was profiled.
std::string formatProfile(std::vector<KernelProfile> kernels,
                          double peakGflops = 0);

} // namespace cnnc::runtime
