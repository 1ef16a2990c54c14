#include "runtime/DataParallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace cnnc::runtime {

namespace {

bool isOptimizerUpdate(ir::OpKind k) {
  return k == ir::OpKind::SgdUpdate || k == ir::OpKind::AdamUpdate ||
         k == ir::OpKind::RmspropUpdate;
}

} // namespace

Slice sliceOf(int64_t n, int rank, int size) {
  int64_t base = n / size, extra = n % size;
  Slice s;
  s.begin = rank * base + std::min<int64_t>(rank, extra);
  s.count = base + (rank < extra ? 1 : 0);
  return s;
}

// The optimizer updates are the step's last kernels. A gradient is final
// once the kernel that produces it has run. The moving-average updates
// stand in the forward pass, right after their batch statistics, whose
// storage the memory plan reuses later: a batch statistic is copied out
// when its update comes up, and that kernel is skipped; the moving averages
// are updated here after the sum, so that they stay identical everywhere.
absl::StatusOr<std::unique_ptr<DataParallelStep>>
DataParallelStep::create(Executor &ex, Communicator &comm, size_t numMetrics,
                         const DataParallelStep *like, size_t bucketBytes) {
  const ir::Graph &g = ex.graph();
  auto dp = std::unique_ptr<DataParallelStep>(new DataParallelStep());
  dp->ex_ = &ex;
  size_t steps = ex.numSteps();
  size_t end = steps;
  while (end > 0 &&
         (isOptimizerUpdate(ex.stepOp(end - 1).kind) ||
          ex.stepOp(end - 1).kind == ir::OpKind::MovingAverageUpdate))
    --end;
  dp->backwardEnd_ = end;

  // The kernel after which each value is final; an alias (reshape, no
  // kernel) is final with its operand.
  std::vector<size_t> ready(g.values().size(), 0);
  for (size_t op = 0, step = 0; op < g.ops().size(); ++op) {
    const ir::Op &o = g.ops()[op];
    bool hasKernel = step < steps && &ex.stepOp(step) == &o;
    for (ir::ValueId r : o.results)
      ready[r] = hasKernel ? step : ready[o.operands[0]];
    step += hasKernel;
  }
  for (size_t i = 0; i < steps; ++i) {
    const ir::Op &op = ex.stepOp(i);
    bool moving = op.kind == ir::OpKind::MovingAverageUpdate;
    if (isOptimizerUpdate(op.kind) && i < end)
      return absl::FailedPreconditionError(fmt::format(
          "data-parallel training: graph '{}' updates a weight before its "
          "backward pass ends",
          g.name()));
    if (!moving && !isOptimizerUpdate(op.kind))
      continue;
    ir::ValueId v = op.operands[1];
    dp->summed_.push_back({i, moving ? i : ready[v],
                           static_cast<const float *>(ex.data(v)),
                           static_cast<size_t>(g.type(v).numElements()), 0});
  }
  std::stable_sort(
      dp->summed_.begin(), dp->summed_.end(),
      [](const Summed &a, const Summed &b) { return a.ready < b.ready; });
  size_t total = 0;
  for (size_t i = 0; i < dp->summed_.size(); ++i) {
    Summed &s = dp->summed_[i];
    s.at = total;
    total += (s.size + 15) / 16 * 16; // 64-byte aligned
    bool last = i + 1 == dp->summed_.size();
    if (dp->buckets_.empty() || dp->buckets_.back().end != i)
      dp->buckets_.push_back({i, i, 0});
    Bucket &b = dp->buckets_.back();
    b.end = i + 1;
    b.ready = s.ready;
    // A bucket closes at its size, or where its last tensor is final
    // together with the next one (they start as one sum).
    bool sameKernel = !last && dp->summed_[i + 1].ready == s.ready;
    size_t bytes = (total - dp->summed_[b.first].at) * sizeof(float);
    if (bytes >= bucketBytes && !sameKernel && !last)
      dp->buckets_.push_back({i + 1, i + 1, 0});
  }
  if (!dp->buckets_.empty() &&
      dp->buckets_.back().first == dp->buckets_.back().end)
    dp->buckets_.pop_back();
  dp->total_ = total;
  dp->numMetrics_ = numMetrics;
  if (like) {
    bool same = like->total_ == total && like->numMetrics_ == numMetrics &&
                like->summed_.size() == dp->summed_.size() &&
                like->buckets_.size() == dp->buckets_.size();
    for (size_t i = 0; same && i < dp->summed_.size(); ++i)
      same = like->summed_[i].size == dp->summed_[i].size &&
             like->summed_[i].at == dp->summed_[i].at;
    for (size_t i = 0; same && i < dp->buckets_.size(); ++i)
      same = like->buckets_[i].first == dp->buckets_[i].first &&
             like->buckets_[i].end == dp->buckets_[i].end;
    if (!same)
      return absl::InternalError(fmt::format(
          "data-parallel training: graph '{}' sums other tensors than the "
          "full batch's",
          g.name()));
    dp->buffer_ = like->buffer_;
  } else {
    auto buffer = comm.sumBuffer(total, numMetrics);
    if (!buffer.ok())
      return buffer.status();
    dp->buffer_ = *buffer;
    // Alignment gaps stay zero.
    std::fill(dp->buffer_->addends(), dp->buffer_->addends() + total, 0.0f);
  }
  return dp;
}

absl::Status DataParallelStep::run(
    ThreadPool &pool, Communicator &comm, bool compute, float share,
    absl::FunctionRef<void(double *)> readMetrics, double *metrics,
    OpProfile *sumTime, OpProfile *waitTime) {
  using Clock = std::chrono::steady_clock;
  double commSeconds = 0;
  // Every MPI call is timed into sumTime: that is what the step loses to
  // the sums, the rest overlaps with the kernels.
  auto timed = [&](auto &&call) {
    auto start = Clock::now();
    absl::Status s = call();
    commSeconds += std::chrono::duration<double>(Clock::now() - start).count();
    return s;
  };
  Executor &ex = *ex_;
  // The optimizer kernels read the summed gradients where they are. Set
  // on every step: one executor may serve several steps (a batch size that
  // is one fit's last batch and another's full one), each with its buffer.
  for (const Summed &s : summed_)
    if (ex.stepOp(s.update).kind != ir::OpKind::MovingAverageUpdate)
      ex.setOperand(s.update, 1, const_cast<float *>(buffer_->sums()) + s.at);
  // One thread per rank runs kernel by kernel, which lets MPI move the
  // sums along between any two; more threads run from one bucket to the
  // next, so that they do not stop at every kernel.
  bool eachKernel = pool.size() == 1;
  size_t next = 0;   // the next bucket to start
  size_t copied = 0; // summed_ entries in the buffer
  auto copyReady = [&](size_t after) -> absl::Status {
    for (; copied < summed_.size() && summed_[copied].ready <= after;
         ++copied) {
      const Summed &s = summed_[copied];
      float *to = buffer_->addends() + s.at;
      for (size_t i = 0; i < s.size; ++i)
        to[i] = s.value[i] * share;
    }
    for (; next < buckets_.size() && buckets_[next].ready <= after; ++next) {
      const Bucket &b = buckets_[next];
      size_t end = b.end == summed_.size() ? total_ : summed_[b.end].at;
      if (absl::Status s =
              timed([&] { return buffer_->start(summed_[b.first].at, end); });
          !s.ok())
        return s;
    }
    return timed([&] { return buffer_->progress(); });
  };
  if (compute) {
    size_t begin = 0;
    for (size_t i = 0; i < backwardEnd_; ++i) {
      bool moving = ex.stepOp(i).kind == ir::OpKind::MovingAverageUpdate;
      bool event = moving || eachKernel ||
                   (copied < summed_.size() && summed_[copied].ready == i);
      if (!event)
        continue;
      // A moving-average update is skipped: its statistic is summed.
      ex.run(pool, begin, moving ? i : i + 1);
      begin = i + 1;
      if (absl::Status s = copyReady(i); !s.ok())
        return s;
    }
    ex.run(pool, begin, backwardEnd_);
  } else {
    std::fill(buffer_->addends(), buffer_->addends() + total_, 0.0f);
    copied = summed_.size(); // zeros to add, but every bucket to start
  }
  if (absl::Status s = copyReady(SIZE_MAX); !s.ok())
    return s;
  readMetrics(buffer_->doubleAddends());
  if (sumTime && waitTime) {
    // Apart from the sums: the time the faster rank waits for the slower.
    auto start = Clock::now();
    if (absl::Status st = comm.barrier(); !st.ok())
      return st;
    waitTime->seconds +=
        std::chrono::duration<double>(Clock::now() - start).count();
    ++waitTime->calls;
  }
  if (absl::Status s = timed([&] { return buffer_->finish(); }); !s.ok())
    return s;
  std::copy(buffer_->doubleSums(), buffer_->doubleSums() + numMetrics_,
            metrics);
  if (sumTime) {
    sumTime->seconds += commSeconds;
    ++sumTime->calls;
  }
  for (const Summed &s : summed_) {
    const ir::Op &op = ex.stepOp(s.update);
    if (op.kind != ir::OpKind::MovingAverageUpdate)
      continue;
    // moving = moving * momentum + value * (1 - momentum), as the kernel.
    const float *sum = buffer_->sums() + s.at;
    auto m = static_cast<float>(op.attrs.getFloat(ir::AttrName::Momentum));
    auto *moving = static_cast<float *>(ex.data(op.operands[0]));
    for (size_t i = 0; i < s.size; ++i)
      moving[i] = moving[i] * m + sum[i] * (1.0f - m);
  }
  // The optimizer updates, in runs between the (already applied) moving
  // averages.
  for (size_t i = backwardEnd_; i < ex.numSteps();) {
    size_t end = i;
    while (end < ex.numSteps() &&
           ex.stepOp(end).kind != ir::OpKind::MovingAverageUpdate)
      ++end;
    ex.run(pool, i, end);
    i = end + 1;
  }
  return absl::OkStatus();
}

} // namespace cnnc::runtime
