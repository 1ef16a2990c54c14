#include "runtime/ThreadPool.h"

#include "runtime/ShareCancel.h"

#include <cstdlib>

#include <fmt/format.h>

#include <immintrin.h>
#include <sched.h>

#include <string_view>
#include <system_error>

namespace cnnc::runtime {

void SpinBarrier::wait() {
  uint32_t phase = phase_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    phase_.store(phase + 1, std::memory_order_release);
    return;
  }
  waitWhileEqual(phase_, phase);
}

namespace {
// The CPUs the calling thread may run on, in order.
std::vector<int> allowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set))
        cpus.push_back(c);
  return cpus;
}

bool pinToCpu(pthread_t thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(thread, sizeof(set), &set) == 0;
}
} // namespace

int ThreadPool::defaultThreads() {
  auto cpus = static_cast<int>(allowedCpus().size());
  int cores =
      cpus > 0
          ? cpus
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Processes of one mpirun on this machine share its cores.
  if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) {
    int n = std::atoi(local);
    if (n > 1)
      cores = std::max(1, cores / n);
  }
  return cores;
}

ThreadPool::CallerPin::CallerPin(const ThreadPool &pool) {
  if (pool.cpus_.empty())
    return;
  pthread_t self = pthread_self();
  restore_ = pthread_getaffinity_np(self, sizeof(saved_), &saved_) == 0 &&
             pinToCpu(self, pool.cpus_[0]);
}

ThreadPool::CallerPin::~CallerPin() {
  if (restore_)
    pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
}

ThreadPool::ThreadPool(int threads)
    : size_(threads > 0 ? threads : defaultThreads()) {
  const char *pin = std::getenv("CNNC_PIN");
  if (size_ > 1 && !(pin && std::string_view(pin) == "0")) {
    std::vector<int> cpus = allowedCpus();
    if (static_cast<int>(cpus.size()) == size_)
      cpus_ = std::move(cpus);
  }
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
  publish(nullptr, nullptr, true);
  for (std::thread &w : workers_)
    w.join();
}

void ThreadPool::publish(Thunk thunk, void *ctx, bool detached) {
  uint64_t g = generation_.load(std::memory_order_relaxed);
  generation_.store(g + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  thunk_.store(thunk, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  detached_.store(detached, std::memory_order_relaxed);
  generation_.store(g + 2, std::memory_order_seq_cst);
  generation_.notify_all();
}

void ThreadPool::dispatch(Thunk thunk, void *ctx) {
  if (size_ == 1) {
    thunk(ctx, 0);
    return;
  }
  CallerPin pin(*this);
  pending_.store(static_cast<uint32_t>(size_ - 1), std::memory_order_relaxed);
  publish(thunk, ctx, false);
  thunk(ctx, 0);
  for (uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;)
    waitWhileEqual(pending_, left);
}

void ThreadPool::runDetached(Thunk thunk, void *ctx) {
  CallerPin pin(*this);
  if (size_ > 1)
    publish(thunk, ctx, true);
  thunk(ctx, 0);
}

void ThreadPool::quiesce() {
  if (size_ == 1)
    return;
  publish(nullptr, nullptr, true);
  // A worker counts itself inside before it reads the task (both seq_cst),
  // so one that read the old task is counted here.
  while (inside_.load(std::memory_order_seq_cst) != 0)
    sched_yield();
}

void ThreadPool::workerLoop(int tid) {
  unblockCancelSignal();
  if (!cpus_.empty())
    pinToCpu(pthread_self(), cpus_[tid]);
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
    inside_.fetch_add(1, std::memory_order_seq_cst);
    Thunk thunk;
    void *ctx;
    bool detached;
    for (;;) { // the sequence lock's reader: a consistent (g, task)
      g = generation_.load(std::memory_order_seq_cst);
      if (g & 1) {
        _mm_pause();
        continue;
      }
      thunk = thunk_.load(std::memory_order_relaxed);
      ctx = ctx_.load(std::memory_order_relaxed);
      detached = detached_.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (generation_.load(std::memory_order_relaxed) == g)
        break;
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) {
      inside_.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
    if (thunk)
      thunk(ctx, tid);
    if (thunk && !detached)
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    inside_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

} // namespace cnnc::runtime
