#include "runtime/Executor.h"

#include "runtime/MemoryBudget.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace cnnc::runtime {

namespace {
constexpr size_t kAlign = 64;

// Byte ranges [begin, end) a kernel reads and writes.
struct Access {
  std::vector<std::pair<uintptr_t, uintptr_t>> reads, writes;
};

bool overlaps(const std::vector<std::pair<uintptr_t, uintptr_t>> &a,
              const std::vector<std::pair<uintptr_t, uintptr_t>> &b) {
  for (const auto &x : a)
    for (const auto &y : b)
      if (x.first < y.second && y.first < x.second)
        return true;
  return false;
}

void *alignedZeroed(size_t bytes) {
  size_t rounded = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  void *p = std::aligned_alloc(kAlign, rounded);
  if (p)
    std::memset(p, 0, rounded);
  return p;
}
} // namespace

float *ParamStore::getOrCreate(const std::string &name,
                               const ir::TensorType &type) {
  auto it = entries_.find(name);
  if (it != entries_.end())
    return it->second.data.get();
  Entry e;
  e.type = type;
  e.data = {static_cast<float *>(alignedZeroed(type.byteSize())), std::free};
  float *p = e.data.get();
  entries_.emplace(name, std::move(e));
  return p;
}

float *ParamStore::find(const std::string &name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.data.get();
}

const ir::TensorType *ParamStore::typeOf(const std::string &name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second.type;
}

std::vector<std::string> ParamStore::names() const {
  std::vector<std::string> out;
  for (const auto &[name, e] : entries_)
    out.push_back(name);
  return out;
}

Executor::~Executor() = default;

absl::StatusOr<std::unique_ptr<Executor>>
Executor::create(ir::Graph g, ParamStore &store,
                 const codegen::CompileOptions &options) {
  // Planned first, so that an arena larger than memory is refused before
  // any kernel is compiled or any byte allocated.
  auto plan = passes::planMemory(g, 64, /*paramsInArena=*/false,
                                 passes::kPrivateTempBytes);
  if (!plan.ok())
    return plan.status();
  if (absl::Status s = checkAllocation(
          plan->arenaBytes,
          fmt::format("graph '{}': the activations of one step (a smaller "
                      "batch size needs less)",
                      g.name()));
      !s.ok())
    return s;
  auto compiled = codegen::compileGraphShared(g, options);
  if (!compiled.ok())
    return compiled.status();
  auto ex = std::unique_ptr<Executor>(new Executor());
  ex->graph_ = std::move(g);
  ex->compiled_ = *std::move(compiled);
  ex->plan_ = *std::move(plan);
  ex->arena_ = {static_cast<char *>(alignedZeroed(ex->plan_.arenaBytes)),
                std::free};
  if (!ex->arena_)
    return absl::ResourceExhaustedError(
        fmt::format("cannot allocate a {} byte arena", ex->plan_.arenaBytes));

  const ir::Graph &graph = ex->graph_;
  ex->pointers_.assign(graph.values().size(), nullptr);
  for (size_t v = 0; v < graph.values().size(); ++v) {
    const ir::Value &val = graph.values()[v];
    if (val.kind == ir::ValueKind::Param || val.kind == ir::ValueKind::State) {
      const ir::TensorType *existing = store.typeOf(val.name);
      if (existing && !(*existing == val.type))
        return absl::InvalidArgumentError(fmt::format(
            "{} '{}' is {} here but {} in another graph of the model",
            ir::valueKindName(val.kind), val.name, val.type.str(),
            existing->str()));
      ex->pointers_[v] = store.getOrCreate(val.name, val.type);
    } else if (ex->plan_.offsets[v] >= 0) {
      ex->pointers_[v] = ex->arena_.get() + ex->plan_.offsets[v];
    }
  }
  // An alias (reshape) result is its operand's storage; the plan gives it no
  // offset when that operand lives in the store. Ops are in order, so chains
  // of aliases resolve front to back.
  for (const ir::Op &op : graph.ops())
    if (ir::opInfo(op.kind).flags & ir::kAlias)
      ex->pointers_[op.results[0]] = ex->pointers_[op.operands[0]];
  for (size_t i = 0; i < graph.ops().size(); ++i) {
    codegen::KernelFn fn = ex->compiled_->kernel(i);
    if (!fn)
      continue; // aliases (reshape) share their operand's storage
    Step step{fn, {}, i};
    const ir::Op &op = graph.ops()[i];
    for (ir::ValueId o : op.operands)
      step.args.push_back(ex->pointers_[o]);
    for (ir::ValueId r : op.results)
      step.args.push_back(ex->pointers_[r]);
    ex->steps_.push_back(std::move(step));
  }
  ex->placeBarriers();
  ex->profile_.assign(graph.ops().size(), {});
  return ex;
}

// Kernels partition their work over the threads, so a kernel may start on
// one thread while another still runs an earlier one. That is safe unless
// the two touch the same bytes with at least one writing (ranges, not
// values: the memory plan lets disjoint lifetimes share storage). Scanning
// in op order, a barrier goes before the first kernel that conflicts with
// any kernel since the last barrier; independent kernels (the dense
// backward's bias gradient and two matmuls, the optimizer updates) then run
// back to back.
void Executor::placeBarriers() {
  auto rangeOf = [&](ir::ValueId v) {
    auto b = reinterpret_cast<uintptr_t>(pointers_[v]);
    return std::make_pair(b, b + graph_.type(v).byteSize());
  };
  Access phase;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const ir::Op &op = graph_.ops()[steps_[i].opIndex];
    bool inPlace = ir::opInfo(op.kind).flags & ir::kWritesOperands;
    Access a;
    for (ir::ValueId v : op.operands) {
      ir::ValueKind kind = graph_.value(v).kind;
      bool written = inPlace && (kind == ir::ValueKind::Param ||
                                 kind == ir::ValueKind::State);
      (written ? a.writes : a.reads).push_back(rangeOf(v));
    }
    for (ir::ValueId r : op.results)
      a.writes.push_back(rangeOf(r));
    bool conflict = overlaps(a.writes, phase.reads) ||
                    overlaps(a.writes, phase.writes) ||
                    overlaps(a.reads, phase.writes);
    steps_[i].barrierBefore = i > 0 && conflict;
    if (conflict)
      phase = {};
    phase.reads.insert(phase.reads.end(), a.reads.begin(), a.reads.end());
    phase.writes.insert(phase.writes.end(), a.writes.begin(), a.writes.end());
  }
}

int Executor::barriersPerStep() const {
  int n = 0;
  for (const Step &s : steps_)
    n += s.barrierBefore;
  return n;
}

void *Executor::data(const std::string &name) const {
  ir::ValueId v = graph_.findValue(name);
  return v < 0 ? nullptr : pointers_[v];
}

int Executor::chunksPerKernel(int threads) {
  static const int perThread = [] {
    const char *env = std::getenv("CNNC_CHUNKS");
    int k = env ? std::atoi(env) : 0;
    return k >= 1 && k <= 64 ? k : 1;
  }();
  return threads * perThread;
}

void Executor::run(ThreadPool &pool, size_t begin, size_t end) {
  int n = pool.size();
  if (begin >= end)
    return;
  if (n == 1 && !profiling_) {
    for (size_t i = begin; i < end; ++i)
      steps_[i].fn(steps_[i].args.data(), 0, 1);
    return;
  }
  if (profiling_)
    return runProfiled(pool, begin, end);
  static const bool adaptive = [] {
    const char *env = std::getenv("CNNC_ADAPTIVE");
    return !(env && std::string_view(env) == "0");
  }();
  // Part of a step (a data-parallel step's ranges, timed as a whole by no
  // one here): all threads.
  if (!adaptive || begin != 0 || end != steps_.size())
    return runAllThreads(pool, begin, end);

  Adaptive &a = adapt_;
  // The first decision comes early, so that a short fit also adapts.
  int period = a.decided ? Adaptive::kPeriod : Adaptive::kFirstPeriod;
  int at = a.runs++;
  bool probe = at >= period - Adaptive::kProbe;
  bool single = a.single != probe;
  auto start = std::chrono::steady_clock::now();
  if (single) {
    for (size_t i = begin; i < end; ++i)
      steps_[i].fn(steps_[i].args.data(), 0, 1);
  } else {
    runAllThreads(pool, begin, end);
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  // The last kProbe runs of the mode in use against the probes.
  (probe ? a.other : a.current).push_back(seconds);
  if (a.current.size() > static_cast<size_t>(Adaptive::kProbe))
    a.current.erase(a.current.begin());
  if (at == period - 1) {
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    // A margin, so that noise on a steady machine does not flip the mode
    // (a wrong flip costs a whole period).
    if (!a.current.empty() && median(a.other) < 0.9 * median(a.current))
      a.single = !a.single;
    a.current.clear();
    a.other.clear();
    a.runs = 0;
    a.decided = true;
  }
}

void Executor::runAllThreads(ThreadPool &pool, size_t begin, size_t end) {
  int n = pool.size();
  // Phases: runs of kernels with no barrier between them. Each kernel is
  // cut into n * per shares; thread t's home shares of a kernel are
  // [t * per, (t + 1) * per), the part a static split would give it, so
  // that consecutive kernels find their data in its cache. A thread claims
  // its home shares of the phase's kernels in order, then takes the
  // unclaimed shares of the other threads' homes.
  const auto chunks = static_cast<uint32_t>(chunksPerKernel(n));
  const uint32_t per = chunks / static_cast<uint32_t>(n);
  std::vector<size_t> phaseStart;
  for (size_t i = begin; i < end; ++i)
    if (i == begin || steps_[i].barrierBefore)
      phaseStart.push_back(i);
  phaseStart.push_back(end);
  size_t phases = phaseStart.size() - 1;
  size_t needed = phases * static_cast<size_t>(n + 1);
  if (numCounters_ < needed) {
    counters_ = std::make_unique<PhaseCounters[]>(needed);
    numCounters_ = needed;
  }
  // Per phase: n home queues (claimed shares), then the finished count.
  // Reset before the dispatch, which orders it before every thread's use.
  for (size_t c = 0; c < needed; ++c)
    counters_[c].value.store(0, std::memory_order_relaxed);
  pool.run([&](int tid) {
    for (size_t p = 0; p < phases; ++p) {
      PhaseCounters *home = &counters_[p * static_cast<size_t>(n + 1)];
      std::atomic<uint32_t> &done = home[n].value;
      auto kernels = static_cast<uint32_t>(phaseStart[p + 1] - phaseStart[p]);
      uint32_t homeShares = kernels * per, shares = kernels * chunks;
      for (int q = 0; q < n; ++q) {
        int owner = (tid + q) % n;
        for (;;) {
          uint32_t k =
              home[owner].value.fetch_add(1, std::memory_order_relaxed);
          if (k >= homeShares)
            break;
          const Step &s = steps_[phaseStart[p] + k / per];
          uint32_t chunk = static_cast<uint32_t>(owner) * per + k % per;
          s.fn(s.args.data(), static_cast<int>(chunk),
               static_cast<int>(chunks));
          // Release: the share's writes before its count; the thread that
          // sees the phase done (acquire) sees them.
          done.fetch_add(1, std::memory_order_acq_rel);
        }
      }
      for (uint32_t d; (d = done.load(std::memory_order_acquire)) < shares;)
        waitWhileEqual(done, d);
    }
  });
}

void Executor::runProfiled(ThreadPool &pool, size_t begin, size_t end) {
  int n = pool.size();
  SpinBarrier barrier(n);
  pool.run([&](int tid) {
    using Clock = std::chrono::steady_clock;
    for (size_t i = begin; i < end; ++i) {
      const Step &s = steps_[i];
      Clock::time_point start;
      if (tid == 0)
        start = Clock::now();
      s.fn(s.args.data(), tid, n);
      barrier.wait();
      if (tid == 0) {
        OpProfile &p = profile_[s.opIndex];
        p.seconds +=
            std::chrono::duration<double>(Clock::now() - start).count();
        ++p.calls;
      }
    }
  });
}

} // namespace cnnc::runtime
