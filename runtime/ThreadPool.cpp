#include "runtime/ThreadPool.h"

#include <cstdlib>

#include <fmt/format.h>

#include <immintrin.h>
#include <sched.h>

#include <system_error>

namespace cnnc::runtime {

void waitWhileEqual(const std::atomic<uint32_t> &word, uint32_t old) {
  for (int spins = 0; word.load(std::memory_order_acquire) == old;)
    if (++spins < kSpinsBeforeYield)
      _mm_pause();
    else
      sched_yield();
}

void SpinBarrier::wait() {
  uint32_t phase = phase_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    phase_.store(phase + 1, std::memory_order_release);
    return;
  }
  waitWhileEqual(phase_, phase);
}

int ThreadPool::defaultThreads() {
  int cores =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    cores = std::max(1, CPU_COUNT(&set));
  // Processes of one mpirun on this machine share its cores.
  if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) {
    int n = std::atoi(local);
    if (n > 1)
      cores = std::max(1, cores / n);
  }
  return cores;
}

ThreadPool::ThreadPool(int threads)
    : size_(threads > 0 ? threads : defaultThreads()) {
  // std::thread throws when the system is out of threads or memory; that
  // must become an error for the caller, not an abort.
  try {
    for (int t = 1; t < size_; ++t)
      workers_.emplace_back([this, t] { workerLoop(t); });
  } catch (const std::system_error &e) {
    status_ = absl::ResourceExhaustedError(
        fmt::format("cannot start {} threads: {}", size_, e.what()));
    size_ = static_cast<int>(workers_.size()) + 1;
  }
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread &w : workers_)
    w.join();
}

void ThreadPool::dispatch(Thunk thunk, void *ctx) {
  if (size_ == 1) {
    thunk(ctx, 0);
    return;
  }
  thunk_ = thunk;
  ctx_ = ctx;
  pending_.store(static_cast<uint32_t>(size_ - 1), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  thunk(ctx, 0);
  for (uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;)
    waitWhileEqual(pending_, left);
}

void ThreadPool::workerLoop(int tid) {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little for back-to-back dispatches, then sleep in the kernel.
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < 20000; ++i) {
      _mm_pause();
      g = generation_.load(std::memory_order_acquire);
    }
    while (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire))
      return;
    thunk_(ctx_, tid);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

} // namespace cnnc::runtime
