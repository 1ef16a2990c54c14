// Runs a compiled graph: one arena laid out by the memory plan, a prebuilt
// argument list per kernel, and the thread pool. Params and optimizer state
// live outside the arena (in a ParamStore) so that the training, evaluation
// and prediction graphs share the same weights.
#pragma once

#include "codegen/Compiler.h"
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
  // then takes the others' unclaimed ones, so a thread that the system
  // deschedules holds up at most the one share it runs. A kernel's
  // results do not depend on how its work is cut (tests/codegen/
  // ThreadShareTest.cpp), so they do not depend on which thread ran what.
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
  // Per wait-free run of kernels (a phase) of one run(): each thread's
  // claimed home shares, and the shares finished (runAllThreads). One cache
  // line each: threads hit them from both cores.
  struct PhaseCounters {
    alignas(64) std::atomic<uint32_t> value{0};
  };
  std::unique_ptr<PhaseCounters[]> counters_;
  size_t numCounters_ = 0;
  // Whole-step runs use all threads or one: on a machine where other
  // processes take the cores, a step on all threads can be slower than on
  // one (each wait for a descheduled thread costs a time slice), so run()
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
