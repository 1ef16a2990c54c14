// A persistent pool for the training step's fork/join: a step runs a few
// dozen kernels in a few milliseconds, so waking threads must cost
// microseconds, not a condition-variable round trip per kernel.
#pragma once

#include "absl/status/status.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <immintrin.h>
#include <sched.h>

namespace cnnc::runtime {

// Waits until `word` differs from `old`: spins, then yields the core
// between checks (on a shared machine the thread waited for may be
// descheduled, and a pure spin would burn this core's time slice).
// Sleeping in the kernel instead costs a wake-up of tens of microseconds at
// every wait that outlasts the spin, which a step of many short kernels
// cannot afford; a machine too busy for all threads is handled by the
// executor's switch to one thread (Executor::run).
inline constexpr int kSpinsBeforeYield = 4096;
template <typename T> void waitWhileEqual(const std::atomic<T> &word, T old) {
  for (int spins = 0; word.load(std::memory_order_acquire) == old;)
    if (++spins < kSpinsBeforeYield)
      _mm_pause();
    else
      sched_yield();
}

// A reusable barrier for a fixed number of threads (spins, then yields).
class SpinBarrier {
public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait();

private:
  const int n_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<uint32_t> phase_{0};
};

class ThreadPool {
public:
  // threads <= 0 means one per available core. When the system cannot start
  // a worker the pool runs with those it started and status() says why.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int size() const { return size_; }
  // Whether thread t runs on the t-th CPU the process may use: when the
  // pool has a thread for each of them (the default), two of its threads
  // then never share a core while another process has one to itself
  // (beside one busy process on two cores, the pool's threads get 1.5
  // cores instead of 4/3 on average). The caller is pinned only while it
  // runs a task. CNNC_PIN=0 turns it off.
  bool pinned() const { return !cpus_.empty(); }
  // OK, or why the pool has fewer threads than it was asked for.
  const absl::Status &status() const { return status_; }

  // Runs task(tid) for tid in [0, size()): tid 0 on the calling thread, the
  // others on the workers. Returns when all have finished.
  template <typename F> void run(F &&task) {
    auto thunk = [](void *ctx, int tid) { (*static_cast<F *>(ctx))(tid); };
    dispatch(thunk, &task);
  }

  using Thunk = void (*)(void *, int);
  // Runs thunk(ctx, 0) on the calling thread and offers thunk(ctx, tid) to
  // the workers without waiting for them: a worker that the system
  // deschedules must not hold up the caller. The task must make sense for
  // workers that join late (or never), and ctx must stay valid until
  // quiesce() or the pool's destruction.
  void runDetached(Thunk thunk, void *ctx);
  // Returns when no worker is inside a detached task or will enter one.
  void quiesce();
  // Expires when the pool is destroyed (for those that may outlive it).
  std::weak_ptr<const int> lifetime() const { return alive_; }

  static int defaultThreads();

private:
  void publish(Thunk thunk, void *ctx, bool detached);
  void dispatch(Thunk thunk, void *ctx);
  void workerLoop(int tid);

  // Pins the calling thread to cpus_[0] while it lives, then gives it back
  // its own affinity.
  class CallerPin {
  public:
    explicit CallerPin(const ThreadPool &pool);
    ~CallerPin();

  private:
    bool restore_ = false;
    cpu_set_t saved_;
  };

  int size_;
  std::vector<int> cpus_; // thread t's CPU; empty: not pinned
  absl::Status status_;
  std::vector<std::thread> workers_;
  // The task, written under a sequence lock (odd generation: being
  // written), since a worker late for a detached task may read it while the
  // caller publishes the next one.
  std::atomic<Thunk> thunk_{nullptr};
  std::atomic<void *> ctx_{nullptr};
  std::atomic<bool> detached_{false};
  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<uint32_t> pending_{0};
  alignas(64) std::atomic<int> inside_{0}; // workers inside any task
  std::atomic<bool> stop_{false};
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);
};

} // namespace cnnc::runtime
