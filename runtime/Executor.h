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

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <pthread.h>
#include <time.h>

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

// Whether the thread holding a share is off its core (descheduled) rather
// than slow: a thread on its core uses CPU time all the time, so its CPU
// time (threadCpuNanos), read now and then by a thread waiting for the
// share, stands still only while it is off.
class HolderWatch {
public:
  // A reading at `now` of the CPU time `cpu` (0: unknown) of the thread
  // holding share word `word`. True once that time has stood still for
  // `still` nanoseconds while the same claim held the share.
  bool offCore(uint64_t now, uint64_t word, uint64_t cpu, uint64_t still);

private:
  uint64_t word_ = 0, cpu_ = 0, since_ = 0;
};
// CPU time of the thread of that clock (pthread_getcpuclockid); 0 when it
// cannot be read.
uint64_t threadCpuNanos(clockid_t clock);

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
  // Runs the whole step `count` times (count >= 1), each as run() runs it.
  // Before run i > 0, once every kernel of run i - 1 is done, one thread
  // (whichever gets there first: the caller or a worker) calls between(i),
  // which prepares run i (its batch) and may read run i - 1's outputs; it
  // returns false to end the runs there. Returns how many runs were made.
  // Between runs no thread waits for one thread in particular: with other
  // processes on the machine, a caller that the system deschedules for a
  // time slice would otherwise stop every worker at the end of the step.
  using Between = absl::FunctionRef<bool(int)>;
  int runSteps(ThreadPool &pool, int count, Between between);
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
  // A share whose holder has used no CPU time for this long is redone at
  // once, whatever the limit above (the holder is descheduled: for a time
  // slice). Checked only once a wait has lasted as long.
  static constexpr uint64_t kOffCoreNanos = 25'000;
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
    // Its CPU-time clock: a share's holder whose CPU time stands still is
    // off its core (descheduled), not slow.
    std::atomic<clockid_t> cpuClock{-1};
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
  // The current call of runAllThreads, under a sequence lock (odd: being
  // written): its kernels [runBegin_, runEnd_) and its runs' numbers
  // [runFirst_, runLast_), as in the share words (every run of the step
  // has a number of its own, increasing from call to call).
  alignas(64) std::atomic<uint64_t> runSeq_{0};
  std::atomic<uint64_t> redone_{0};
  std::atomic<size_t> runBegin_{0}, runEnd_{0};
  std::atomic<uint64_t> runFirst_{0}, runLast_{0};
  uint64_t nextRun_ = 1; // the caller's: the first number of the next call
  // The run under way (its number); the last run a thread took the step
  // between it and the next for (between_), and how many runs were made.
  alignas(64) std::atomic<uint64_t> current_{0};
  alignas(64) std::atomic<uint64_t> betweenClaimed_{0};
  std::atomic<int> made_{0};
  const Between *between_ = nullptr;
  void bindPool(ThreadPool &pool);
  // run() and runSteps(): `count` runs of kernels [begin, end).
  int runRange(ThreadPool &pool, size_t begin, size_t end, int count,
               const Between *between);
  static void helpThunk(void *self, int tid);
  void help(int tid);
  bool runPhase(int tid, uint32_t run, size_t a, size_t b);
  void runOwned(int tid, size_t step, uint32_t chunk, uint64_t claim);
  // Whole-step runs use all threads or one: on a machine where other
  // processes take the cores, a step on all threads can be slower than on
  // one (two threads beside a busy process get little more than one core's
  // time, and each redone share is work done twice), so run()
  // times both now and then and keeps the faster; the bits are the same.
  // After every kPeriod runs of the step (the first time, kFirstPeriod),
  // kProbe calls of one run each use the other mode, which is kept when its
  // median time per run is 10 % below that of the last kProbe calls before.
  struct Adaptive {
    static constexpr int kFirstPeriod = 100, kPeriod = 1000, kProbe = 4;
    bool single = false, decided = false;
    int runs = 0;                       // of the step, this period
    std::vector<double> current, other; // seconds per run, this period
  } adapt_;
  int runAllThreads(ThreadPool &pool, size_t begin, size_t end, int count,
                    const Between *between);
  bool profiling_ = false;
  std::vector<OpProfile> profile_;
};

} // namespace cnnc::runtime
