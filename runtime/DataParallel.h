// Data-parallel training (docs/distributed.md): every rank runs the whole
// training step on its slice of each batch; the gradients (and batch
// normalization's batch statistics), each weighted by the rank's share of
// the batch, are summed across ranks in rank order, so that every rank
// applies the same update and the weights stay identical everywhere. The
// sums start while the backward pass still runs, in buckets as DDP's.
#pragma once

#include "runtime/Communicator.h"
#include "runtime/Executor.h"
#include "runtime/ThreadPool.h"

#include "absl/functional/function_ref.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace cnnc::runtime {

// A rank's examples of a batch of n: [begin, begin + count); the first
// n % size ranks take one more.
struct Slice {
  int64_t begin = 0, count = 0;
};
Slice sliceOf(int64_t n, int rank, int size);

// The sums of a step start in buckets of at least this many bytes, each
// as soon as the backward pass has produced all of its tensors.
inline constexpr size_t kDefaultBucketBytes = 256 * 1024;

// Runs one executor's training step data-parallel. The summed tensors live
// in one contiguous buffer (Communicator::sumBuffer), in the order the step
// produces them, each 64-byte aligned; the optimizer kernels read the
// summed gradients from it directly.
class DataParallelStep {
public:
  // Fails when the step updates a weight before its backward pass ends.
  // Each step also sums `numMetrics` doubles (the loss and accuracy sums).
  // The same training graph at another batch size (the last, smaller
  // batch) passes the first one's step as `like`: it shares its buffer,
  // since in one step some ranks may run the one and some the other (a
  // rank without examples runs the full batch's), and their sums must meet.
  static absl::StatusOr<std::unique_ptr<DataParallelStep>>
  create(Executor &ex, Communicator &comm, size_t numMetrics,
         const DataParallelStep *like = nullptr,
         size_t bucketBytes = kDefaultBucketBytes);

  // One step: the forward and backward kernels (not when `compute` is
  // false: the rank has no examples in this batch and contributes zeros),
  // with the sums of the update inputs scaled by `share` started on the
  // way; then the metrics, which `readMetrics` writes after the backward
  // pass, summed along into `metrics`; then the updates. With `sumTime`
  // (profiling), the ranks wait for each other after the backward pass,
  // timed into `waitTime`; `sumTime` gets the time spent in the sums'
  // calls, which is what the step loses to them.
  absl::Status run(ThreadPool &pool, Communicator &comm, bool compute,
                   float share, absl::FunctionRef<void(double *)> readMetrics,
                   double *metrics, OpProfile *sumTime = nullptr,
                   OpProfile *waitTime = nullptr);

  size_t numBuckets() const { return buckets_.size(); }

private:
  DataParallelStep() = default;

  // A tensor the ranks sum: operand 1 of an update kernel (a gradient read
  // by an optimizer update, or a batch statistic read by a moving-average
  // update), ready after kernel `ready`, at `at` in the buffer.
  struct Summed {
    size_t update, ready;
    const float *value;
    size_t size, at;
  };
  struct Bucket {
    size_t first, end; // entries [first, end) of summed_
    size_t ready;      // the last of their ready kernels
  };

  Executor *ex_ = nullptr;
  size_t backwardEnd_ = 0;     // the first optimizer kernel
  std::vector<Summed> summed_; // by ready kernel
  std::vector<Bucket> buckets_;
  size_t total_ = 0; // floats in the buffer
  size_t numMetrics_ = 0;
  SumBuffer *buffer_ = nullptr; // owned by the communicator
};

} // namespace cnnc::runtime
