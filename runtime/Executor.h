// Runs a compiled graph: one arena laid out by the memory plan, a prebuilt
// argument list per kernel, and the thread pool. Params and optimizer state
// live outside the arena (in a ParamStore) so that the training, evaluation
// and prediction graphs share the same weights.
#pragma once

#include "codegen/Compiler.h"
#include "codegen/ShareState.h"
#include "ir/Graph.h"
#include "passes/MemoryPlan.h"
#include "runtime/ThreadPool.h"

#include "absl/status/statusor.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <pthread.h>

namespace cnnc::runtime {

// Named persistent tensors (params and optimizer state), 64-byte aligned.
class ParamStore {
public:
  // Returns the tensor of that name, creating it zero-filled if absent. The
  // pointer stays valid for the store's lifetime.
  float *getOrCreate(const std::string &name, const ir::TensorType &type);
  float *find(const std::string &name) const;
  const ir::TensorType *typeOf(const std::string &name) const;
  std::vector<std::string> names() const;

private:
  struct Entry {
    ir::TensorType type;
    std::unique_ptr<float[], void (*)(void *)> data{nullptr, nullptr};
  };
  std::map<std::string, Entry> entries_;
};

struct OpProfile {
  double seconds = 0;
  int64_t calls = 0;
};

class Executor {
public:
  // Compiles g; params and state are bound to `store` by name.
  static absl::StatusOr<std::unique_ptr<Executor>>
  create(ir::Graph g, ParamStore &store,
         const codegen::CompileOptions &options = {});
  ~Executor();

  // Executes every op once, in order, on all threads of the pool. Threads
  // wait for each other only before a kernel that touches memory a kernel
  // since the last wait wrote, or writes memory one of them read (see
  // placeBarriers in Executor.cpp); with profiling on, after every kernel.
  // Between two waits, each kernel is cut into chunksPerKernel() fixed
  // shares; each thread runs its own (those a static split would give it),
  // then takes the others' unclaimed ones, and redoes a share that another
  // thread has held far longer than the kernel's shares take (that thread
  // was descheduled; it is made to abandon the share, ShareCancel.h). The
  // caller returns when every share is done, without waiting for workers
  // that the system has not run yet. A kernel's results do not depend on
  // how its work is cut (tests/codegen/ThreadShareTest.cpp), so they do not
  // depend on which thread ran what.
  void run(ThreadPool &pool) { run(pool, 0, steps_.size()); }
  // Kernels [begin, end) of the step, in order (a data-parallel step runs
  // the forward and backward kernels, sums the gradients across ranks, then
  // runs the updates).
  void run(ThreadPool &pool, size_t begin, size_t end);
  size_t numSteps() const { return steps_.size(); }
  // The op kernel `i` computes.
  const ir::Op &stepOp(size_t i) const {
    return graph_.ops()[steps_[i].opIndex];
  }
  // Points operand `index` of kernel `step` at other storage of its type
  // (a data-parallel step's optimizer kernels read the summed gradients).
  void setOperand(size_t step, size_t index, void *p) {
    steps_[step].args[index] = p;
  }
  // How long a share may stay with a thread before another thread redoes
  // it (see Executor::help in Executor.cpp): at least this, and three times
  // the kernel's last share. The system deschedules a thread for a time
  // slice (4 ms here); a thread that is merely slower must not be
  // overtaken. 0: redo any share another thread holds as soon as a thread
  // has nothing else to do (for tests). Process-wide;
  // CNNC_REDO_AFTER_US sets it at start.
  static constexpr uint64_t kRedoAfterNanos = 200'000;
  static void setRedoAfter(uint64_t nanos);
  // Shares this executor's threads redid (their first thread abandoned
  // them).
  uint64_t redoneShares() const {
    return redone_.load(std::memory_order_relaxed);
  }
  // Barriers one unprofiled step waits at (for tests and tuning).
  int barriersPerStep() const;
  // Shares per kernel on `threads` threads: 1 per thread, the static
  // split, which costs nothing on a quiet machine (CNNC_CHUNKS=k makes it k
  // per thread, for measurements).
  static int chunksPerKernel(int threads);

  const ir::Graph &graph() const { return graph_; }
  const codegen::CompiledGraph &compiled() const { return *compiled_; }
  void *data(ir::ValueId v) const { return pointers_[v]; }
  float *f32(ir::ValueId v) const { return static_cast<float *>(data(v)); }
  int32_t *i32(ir::ValueId v) const { return static_cast<int32_t *>(data(v)); }
  // Storage of a named value; nullptr when absent.
  void *data(const std::string &name) const;
  int64_t arenaBytes() const { return plan_.arenaBytes; }

  // Per-op timing, recorded while profiling is on (costs a barrier per op on
  // all threads anyway; the clock reads are on thread 0).
  void setProfiling(bool on) { profiling_ = on; }
  const std::vector<OpProfile> &profile() const { return profile_; }

private:
  Executor() = default;
  void placeBarriers();
  // run() with profiling on: a static split and a barrier after each kernel.
  void runProfiled(ThreadPool &pool, size_t begin, size_t end);

  ir::Graph graph_;
  std::shared_ptr<const codegen::CompiledGraph> compiled_;
  passes::MemoryPlan plan_;
  std::unique_ptr<char[], void (*)(void *)> arena_{nullptr, nullptr};
  std::vector<void *> pointers_; // per value
  struct Step {
    codegen::KernelFn fn;
    std::vector<void *> args;
    size_t opIndex;
    bool barrierBefore = true; // wait for every thread before this kernel
  };
  std::vector<Step> steps_;
  // The work distribution of runAllThreads (see there). Per share of each
  // kernel, one word: the run it was last claimed in, a version counting
  // its claims in that run, and its state (a claiming thread, or done).
  // One cache line each: threads hit them from both cores.
  struct alignas(64) Share {
    std::atomic<uint64_t> word{0};
  };
  // A thread taking part in runs, as others need to find it to cancel the
  // share it runs.
  struct alignas(64) Participant {
    std::atomic<pthread_t> thread{};
    std::atomic<bool> cancellable{false};
    codegen::ShareState state;
  };
  std::unique_ptr<Share[]> shares_;                     // [step][chunk]
  std::unique_ptr<Participant[]> participants_;         // [tid]
  std::unique_ptr<std::atomic<uint64_t>[]> shareNanos_; // [step], last share
  std::vector<bool> redoable_; // [step]: a share can be run again
  ThreadPool *pool_ = nullptr; // of the last run, and whether it still lives
  std::weak_ptr<const int> poolAlive_;
  int threads_ = 0;
  uint32_t chunks_ = 0;
  // The current run, under a sequence lock (odd: being written); its run
  // number is runSeq_ / 2, as in the share words.
  alignas(64) std::atomic<uint64_t> runSeq_{0};
  std::atomic<uint64_t> redone_{0};
  std::atomic<size_t> runBegin_{0}, runEnd_{0};
  void bindPool(ThreadPool &pool);
  static void helpThunk(void *self, int tid);
  bool help(int tid);
  bool runPhase(int tid, uint32_t run, size_t a, size_t b);
  void runOwned(int tid, size_t step, uint32_t chunk, uint64_t claim);
  // Whole-step runs use all threads or one: on a machine where other
  // processes take the cores, a step on all threads can be slower than on
  // one (two threads beside a busy process get little more than one core's
  // time, and each redone share is work done twice), so run()
  // times both now and then and keeps the faster; the bits are the same.
  // The last kProbe runs of every kPeriod (the first
  // time, kFirstPeriod) use the other mode, which is kept when its median
  // step time is 10 % below that of the runs just before the probes.
  struct Adaptive {
    static constexpr int kFirstPeriod = 100, kPeriod = 1000, kProbe = 4;
    bool single = false, decided = false;
    int runs = 0;
    std::vector<double> current, other; // seconds, this period
  } adapt_;
  void runAllThreads(ThreadPool &pool, size_t begin, size_t end);
  bool profiling_ = false;
  std::vector<OpProfile> profile_;
};

} // namespace cnnc::runtime
