// Data-parallel training (docs/distributed.md): every rank runs the whole
// training step on its slice of each batch; between the backward pass and
// the updates, the gradients (and batch normalization's batch statistics),
// each weighted by the rank's share of the batch, are summed across ranks
// in rank order, so that every rank applies the same update and the
// weights stay identical everywhere.
#pragma once

#include "runtime/Communicator.h"
#include "runtime/Executor.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <vector>

namespace cnnc::runtime {

// A rank's examples of a batch of n: [begin, begin + count); the first
// n % size ranks take one more.
struct Slice {
  int64_t begin = 0, count = 0;
};
Slice sliceOf(int64_t n, int rank, int size);

// One step on `ex`: its forward and backward kernels (not when `compute` is
// false: the rank has no examples in this batch and contributes zeros),
// the sum of the update inputs scaled by `share` across ranks, then the
// updates. `buffer` is scratch space kept between steps. With `sumTime`
// (profiling), the ranks first wait for each other, timed into `waitTime`,
// and then the sum alone is timed into `sumTime`.
absl::Status runDataParallelStep(Executor &ex, ThreadPool &pool,
                                 Communicator &comm, bool compute, float share,
                                 std::vector<float> &buffer,
                                 OpProfile *sumTime = nullptr,
                                 OpProfile *waitTime = nullptr);

} // namespace cnnc::runtime
