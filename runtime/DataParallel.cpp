#include "runtime/DataParallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace cnnc::runtime {

namespace {

bool isOptimizerUpdate(ir::OpKind k) {
  return k == ir::OpKind::SgdUpdate || k == ir::OpKind::AdamUpdate ||
         k == ir::OpKind::RmspropUpdate;
}

// A tensor the ranks sum: a gradient (read by an optimizer update) or a
// batch statistic (read by a moving-average update), with where it goes in
// the buffer.
struct Summed {
  size_t step;  // the update kernel that reads it
  float *value; // operand 1 of that kernel
  size_t size, at;
};

} // namespace

Slice sliceOf(int64_t n, int rank, int size) {
  int64_t base = n / size, extra = n % size;
  Slice s;
  s.begin = rank * base + std::min<int64_t>(rank, extra);
  s.count = base + (rank < extra ? 1 : 0);
  return s;
}

// The optimizer updates are the step's last kernels; the moving-average
// updates stand in the forward pass, right after their batch statistics,
// whose storage the memory plan reuses later. So each batch statistic is
// copied out when its update comes up (that kernel is skipped), the
// gradients once the backward pass is over; after the sum, the moving
// averages are updated here and the optimizer updates run as kernels on
// the summed gradients.
absl::Status runDataParallelStep(Executor &ex, ThreadPool &pool,
                                 Communicator &comm, bool compute, float share,
                                 std::vector<float> &buffer, OpProfile *sumTime,
                                 OpProfile *waitTime) {
  size_t steps = ex.numSteps();
  size_t optimizer = steps;
  while (optimizer > 0 &&
         (isOptimizerUpdate(ex.stepOp(optimizer - 1).kind) ||
          ex.stepOp(optimizer - 1).kind == ir::OpKind::MovingAverageUpdate))
    --optimizer;
  std::vector<Summed> summed;
  size_t total = 0;
  for (size_t i = 0; i < steps; ++i) {
    const ir::Op &op = ex.stepOp(i);
    bool moving = op.kind == ir::OpKind::MovingAverageUpdate;
    if (isOptimizerUpdate(op.kind) && i < optimizer)
      return absl::FailedPreconditionError(fmt::format(
          "data-parallel training: graph '{}' updates a weight before its "
          "backward pass ends",
          ex.graph().name()));
    if (!moving && !isOptimizerUpdate(op.kind))
      continue;
    ir::ValueId v = op.operands[1];
    size_t n = static_cast<size_t>(ex.graph().type(v).numElements());
    summed.push_back({i, static_cast<float *>(ex.data(v)), n, total});
    total += n;
  }
  // Every value is overwritten below, except by a rank without examples,
  // which contributes zeros.
  buffer.resize(total);
  if (!compute)
    std::fill(buffer.begin(), buffer.end(), 0.0f);
  auto copyOut = [&](const Summed &s) {
    for (size_t i = 0; i < s.size; ++i)
      buffer[s.at + i] = s.value[i] * share;
  };
  if (compute) {
    size_t begin = 0;
    for (const Summed &s : summed) {
      if (s.step >= optimizer)
        break;
      // A moving-average update inside the forward and backward kernels.
      ex.run(pool, begin, s.step);
      copyOut(s);
      begin = s.step + 1;
    }
    ex.run(pool, begin, optimizer); // the rest of the backward pass
    for (const Summed &s : summed)
      if (s.step >= optimizer)
        copyOut(s);
  }
  using Clock = std::chrono::steady_clock;
  auto add = [](OpProfile *p, Clock::time_point since) {
    p->seconds += std::chrono::duration<double>(Clock::now() - since).count();
    ++p->calls;
  };
  if (sumTime && waitTime) {
    // Apart from the sum: the time the faster rank waits for the slower.
    auto start = Clock::now();
    if (absl::Status st = comm.barrier(); !st.ok())
      return st;
    add(waitTime, start);
  }
  auto start = Clock::now();
  if (absl::Status st = comm.sum(buffer.data(), buffer.size()); !st.ok())
    return st;
  if (sumTime)
    add(sumTime, start);
  for (const Summed &s : summed) {
    const ir::Op &op = ex.stepOp(s.step);
    const float *sum = buffer.data() + s.at;
    if (op.kind == ir::OpKind::MovingAverageUpdate) {
      // moving = moving * momentum + value * (1 - momentum), as the kernel.
      auto m = static_cast<float>(op.attrs.getFloat(ir::AttrName::Momentum));
      auto *moving = static_cast<float *>(ex.data(op.operands[0]));
      for (size_t i = 0; i < s.size; ++i)
        moving[i] = moving[i] * m + sum[i] * (1.0f - m);
    } else {
      std::memcpy(s.value, sum, s.size * sizeof(float));
    }
  }
  // The optimizer updates, in runs between the (already applied) moving
  // averages.
  for (size_t i = optimizer; i < steps;) {
    size_t end = i;
    while (end < steps &&
           ex.stepOp(end).kind != ir::OpKind::MovingAverageUpdate)
      ++end;
    ex.run(pool, i, end);
    i = end + 1;
  }
  return absl::OkStatus();
}

} // namespace cnnc::runtime
