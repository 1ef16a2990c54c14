#include "runtime/Executor.h"

#include "runtime/MemoryBudget.h"
#include "runtime/ShareCancel.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include <immintrin.h>
#include <sched.h>
#include <time.h>

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

Executor::~Executor() {
  // Workers that joined a run late may still be on their way out of it.
  if (pool_ && !poolAlive_.expired())
    pool_->quiesce();
}

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
  // A share of an in-place update cannot be redone: the first run of it
  // may have updated part of the operands it reads.
  for (const Step &s : ex->steps_)
    ex->redoable_.push_back(
        !(ir::opInfo(graph.ops()[s.opIndex].kind).flags & ir::kWritesOperands));
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
  if (begin < end)
    runRange(pool, begin, end, 1, nullptr);
}

int Executor::runSteps(ThreadPool &pool, int count, Between between) {
  return count < 1 ? 0 : runRange(pool, 0, steps_.size(), count, &between);
}

int Executor::runRange(ThreadPool &pool, size_t begin, size_t end, int count,
                       const Between *between) {
  // The runs one after another on the calling thread, `once` each.
  auto serially = [&](auto &&once) {
    for (int i = 0; i < count; ++i) {
      if (i > 0 && !(*between)(i))
        return i;
      once();
    }
    return count;
  };
  auto inlineKernels = [&] {
    for (size_t i = begin; i < end; ++i)
      steps_[i].fn(steps_[i].args.data(), 0, 1);
  };
  int n = pool.size();
  if (n == 1 && !profiling_)
    return serially(inlineKernels);
  if (profiling_)
    return serially([&] { runProfiled(pool, begin, end); });
  static const bool adaptive = [] {
    const char *env = std::getenv("CNNC_ADAPTIVE");
    return !(env && std::string_view(env) == "0");
  }();
  // Part of a step (a data-parallel step's ranges, timed as a whole by no
  // one here): all threads.
  if (!adaptive || begin != 0 || end != steps_.size())
    return runAllThreads(pool, begin, end, count, between);

  Adaptive &a = adapt_;
  // The first decision comes early, so that a short fit also adapts.
  int period = a.decided ? Adaptive::kPeriod : Adaptive::kFirstPeriod;
  // Once a period's runs are made, kProbe calls of one run each in the
  // other mode.
  bool probe = a.runs >= period;
  if (probe)
    count = 1;
  bool single = a.single != probe;
  auto start = std::chrono::steady_clock::now();
  int made = single ? serially(inlineKernels)
                    : runAllThreads(pool, begin, end, count, between);
  // Per run of the step: calls make different numbers of runs.
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count() /
      std::max(made, 1);
  // The last kProbe calls of the mode in use against the probes.
  (probe ? a.other : a.current).push_back(seconds);
  if (a.current.size() > static_cast<size_t>(Adaptive::kProbe))
    a.current.erase(a.current.begin());
  if (!probe)
    a.runs += made;
  if (a.other.size() == static_cast<size_t>(Adaptive::kProbe)) {
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
  return made;
}

namespace {
// A share word: the run it was last claimed in (32 bits), the claim's
// version within the run (16), and its state (16): claimed by thread
// `state - 1`, or done.
constexpr uint64_t kDone = 0xFFFF;
uint64_t shareWord(uint64_t run, uint64_t version, uint64_t state) {
  return run << 32 | (version & 0xFFFF) << 16 | state;
}
uint32_t runOf(uint64_t w) { return static_cast<uint32_t>(w >> 32); }
uint64_t versionOf(uint64_t w) { return (w >> 16) & 0xFFFF; }
uint64_t stateOf(uint64_t w) { return w & 0xFFFF; }
// What a claim is cancelled by (ShareState::cancel): unique per run, share
// and claim, unlike the word, which does not name the share.
uint64_t claimToken(uint64_t w, size_t share) {
  return uint64_t{runOf(w)} << 32 | (share & 0xFFFFF) << 12 |
         (versionOf(w) & 0xFFF);
}

uint64_t nowNanos() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// The floor of how long a share may stay with a thread before another
// one redoes it (Executor::setRedoAfter).
std::atomic<uint64_t> redoFloorNanos{[] {
  const char *env = std::getenv("CNNC_REDO_AFTER_US");
  return env ? std::strtoull(env, nullptr, 10) * 1000
             : Executor::kRedoAfterNanos;
}()};

// How long a claim of `version` may hold a share before another thread
// redoes it, for a kernel whose last share took `lastShare`. Each redo of
// a share doubles the wait before the next, so that two threads cannot keep
// taking it from each other (a floor of 0 redoes first claims at once).
uint64_t redoLimit(uint64_t lastShare, uint64_t version) {
  uint64_t floor = redoFloorNanos.load(std::memory_order_relaxed);
  if (version <= 1)
    return floor == 0 ? 0 : std::max(floor, 3 * lastShare);
  return std::max({floor, Executor::kRedoAfterNanos / 4, 3 * lastShare})
         << std::min<uint64_t>(version - 1, 16);
}
} // namespace

uint64_t threadCpuNanos(clockid_t clock) {
  timespec t;
  if (clock == -1 || clock_gettime(clock, &t) != 0)
    return 0;
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u +
         static_cast<uint64_t>(t.tv_nsec);
}

bool HolderWatch::offCore(uint64_t now, uint64_t word, uint64_t cpu,
                          uint64_t still) {
  if (word != word_ || cpu != cpu_ || cpu == 0) {
    word_ = word;
    cpu_ = cpu;
    since_ = now;
    return false;
  }
  return now - since_ >= still;
}

void Executor::setRedoAfter(uint64_t nanos) {
  redoFloorNanos.store(nanos, std::memory_order_relaxed);
}

void Executor::bindPool(ThreadPool &pool) {
  int n = pool.size();
  if (pool_ == &pool && threads_ == n && !poolAlive_.expired())
    return;
  // Workers of the last pool may still be on their way out of a run.
  if (pool_ && !poolAlive_.expired())
    pool_->quiesce();
  pool_ = &pool;
  poolAlive_ = pool.lifetime();
  threads_ = n;
  chunks_ = static_cast<uint32_t>(chunksPerKernel(n));
  shares_ = std::make_unique<Share[]>(steps_.size() * chunks_);
  participants_ = std::make_unique<Participant[]>(static_cast<size_t>(n));
  shareNanos_ = std::make_unique<std::atomic<uint64_t>[]>(steps_.size());
  runSeq_.store(0, std::memory_order_relaxed);
  // Share words start at run 0: the first run is 1.
  nextRun_ = 1;
}

int Executor::runAllThreads(ThreadPool &pool, size_t begin, size_t end,
                            int count, const Between *between) {
  bindPool(pool);
  const uint64_t first = nextRun_, last = first + static_cast<uint64_t>(count);
  nextRun_ = last;
  between_ = between;
  made_.store(count, std::memory_order_relaxed);
  betweenClaimed_.store(first, std::memory_order_relaxed);
  current_.store(first, std::memory_order_relaxed);
  // Publish the call (sequence lock), then run it here and let the workers
  // join as they come: one that the system deschedules joins late or
  // never, and a share it started is redone by another thread (help).
  uint64_t seq = runSeq_.load(std::memory_order_relaxed);
  runSeq_.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  runBegin_.store(begin, std::memory_order_relaxed);
  runEnd_.store(end, std::memory_order_relaxed);
  runFirst_.store(first, std::memory_order_relaxed);
  runLast_.store(last, std::memory_order_relaxed);
  runSeq_.store(seq + 2, std::memory_order_release);
  pool.runDetached(&Executor::helpThunk, this);
  return made_.load(std::memory_order_acquire);
}

void Executor::helpThunk(void *self, int tid) {
  static_cast<Executor *>(self)->help(tid);
}

// The runs of a call of runAllThreads on all threads, each in phases: runs
// of kernels with no barrier between them. Each kernel is cut into chunks_
// shares; thread t's home shares of a kernel are those a static split gives
// it, so that consecutive kernels find their data in its cache. A thread
// runs its home shares of the phase's kernels in order, then takes the
// other threads' unclaimed shares (from the back), then waits for the
// phase's shares that others run. A share that another thread has held for
// much longer than the kernel's shares take is redone: its thread was
// descheduled (or is far slower), and is made to abandon it
// (ShareCancel.h). Only kernels that can run twice are redone: not the
// in-place updates. The results do not depend on which thread ran what.
// After a run's last phase, the first thread there calls between_ for the
// next run while the others wait for it. A worker that comes late (the
// call was over, or a newer one began) leaves.
void Executor::help(int tid) {
  Participant &me = participants_[tid];
  me.thread.store(pthread_self(), std::memory_order_relaxed);
  if (clockid_t c; pthread_getcpuclockid(pthread_self(), &c) == 0)
    me.cpuClock.store(c, std::memory_order_relaxed);
  me.cancellable.store(shareCancelAvailable() && cancelSignalUnblocked(),
                       std::memory_order_relaxed);
  codegen::setCurrentShareState(&me.state);
  uint64_t seq, first, last;
  size_t begin, end;
  for (;;) { // the sequence lock's reader
    seq = runSeq_.load(std::memory_order_acquire);
    if (seq & 1)
      continue;
    begin = runBegin_.load(std::memory_order_relaxed);
    end = runEnd_.load(std::memory_order_relaxed);
    first = runFirst_.load(std::memory_order_relaxed);
    last = runLast_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (runSeq_.load(std::memory_order_relaxed) == seq)
      break;
  }
  for (;;) {
    // Numbers only grow: one outside [first, last) is a newer call's, or
    // the end of this one (between_ ended it early).
    uint64_t run = current_.load(std::memory_order_acquire);
    if (run < first || run >= last)
      break;
    bool whole = true;
    for (size_t a = begin; a < end && whole;) {
      size_t b = a + 1;
      while (b < end && !steps_[b].barrierBefore)
        ++b;
      whole = runPhase(tid, static_cast<uint32_t>(run), a, b);
      a = b;
    }
    if (!whole)
      continue; // a newer run began: join it
    // Every share of this run is done (the last phase waited for them).
    if (run + 1 == last)
      break;
    uint64_t claimed = run;
    if (betweenClaimed_.compare_exchange_strong(claimed, run + 1,
                                                std::memory_order_acq_rel)) {
      // Acquire above: every share's writes; release below: between_'s
      // writes, before any share of the next run reads them.
      bool more = (*between_)(static_cast<int>(run + 1 - first));
      if (!more)
        made_.store(static_cast<int>(run + 1 - first),
                    std::memory_order_relaxed);
      current_.store(more ? run + 1 : last, std::memory_order_release);
      continue;
    }
    waitWhileEqual(current_, run);
  }
  codegen::setCurrentShareState(nullptr);
}

bool Executor::runPhase(int tid, uint32_t run, size_t a, size_t b) {
  const auto n = static_cast<uint32_t>(threads_);
  const uint32_t per = chunks_ / n;
  const uint64_t self = static_cast<uint64_t>(tid) + 1;
  auto wordOf = [&](size_t step, uint32_t chunk) -> std::atomic<uint64_t> & {
    return shares_[step * chunks_ + chunk].word;
  };
  // Claims a share that no one has claimed in this run, and runs it. False
  // when a newer run has begun: this thread is late.
  auto claim = [&](size_t step, uint32_t chunk) {
    std::atomic<uint64_t> &word = wordOf(step, chunk);
    uint64_t w = word.load(std::memory_order_acquire);
    if (runOf(w) >= run)
      return runOf(w) == run;
    uint64_t mine = shareWord(run, 1, self);
    if (word.compare_exchange_strong(w, mine, std::memory_order_acq_rel))
      runOwned(tid, step, chunk, mine);
    else if (runOf(w) > run)
      return false;
    return true;
  };
  for (size_t step = a; step < b; ++step)
    for (uint32_t c = tid * per; c < (tid + 1) * per; ++c)
      if (!claim(step, c))
        return false;
  for (uint32_t q = 1; q < n; ++q) {
    uint32_t owner = (tid + q) % n;
    for (size_t step = b; step-- > a;)
      for (uint32_t c = (owner + 1) * per; c-- > owner * per;)
        if (!claim(step, c))
          return false;
  }
  // Wait for the shares others run; redo those held far too long.
  const bool canRedo = shareCancelAvailable();
  for (size_t step = a; step < b; ++step)
    for (uint32_t c = 0; c < chunks_; ++c) {
      std::atomic<uint64_t> &word = wordOf(step, c);
      uint64_t since = 0;
      HolderWatch holder;
      for (int spins = 0;;) {
        uint64_t w = word.load(std::memory_order_acquire);
        if (runOf(w) > run)
          return false;
        if (runOf(w) < run) { // left by a thread that was overtaken
          if (!claim(step, c))
            return false;
          continue;
        }
        if (stateOf(w) == kDone)
          break;
        uint64_t owner = stateOf(w) - 1;
        bool stealable =
            canRedo && redoable_[step] && owner < n &&
            participants_[owner].cancellable.load(std::memory_order_relaxed);
        if (stealable && ((spins & 255) == 0 || spins >= kSpinsBeforeYield)) {
          uint64_t now = nowNanos();
          if (!since)
            since = now;
          uint64_t limit = redoLimit(
              shareNanos_[step].load(std::memory_order_relaxed), versionOf(w));
          bool redo = now - since >= limit;
          // Read only once the wait is long: a system call.
          if (!redo && now - since >= kOffCoreNanos)
            redo = holder.offCore(
                now, w,
                threadCpuNanos(participants_[owner].cpuClock.load(
                    std::memory_order_relaxed)),
                kOffCoreNanos);
          if (redo && cancelHandlerInPlace()) {
            uint64_t mine = shareWord(run, versionOf(w) + 1, self);
            if (word.compare_exchange_strong(w, mine,
                                             std::memory_order_acq_rel)) {
              Participant &p = participants_[owner];
              cancelShare(p.thread.load(std::memory_order_relaxed), p.state,
                          claimToken(w, step * chunks_ + c));
              redone_.fetch_add(1, std::memory_order_relaxed);
              runOwned(tid, step, c, mine);
            }
            since = 0;
            continue;
          }
        }
        // A holder that can be redone is redone within microseconds of
        // leaving its core (kOffCoreNanos), so this wait spins: yielding
        // would give the core to another process for a time slice.
        if (++spins < kSpinsBeforeYield || stealable)
          _mm_pause();
        else
          sched_yield();
      }
    }
  return true;
}

void Executor::runOwned(int tid, size_t step, uint32_t chunk, uint64_t claim) {
  const Step &s = steps_[step];
  uint64_t start = nowNanos();
  if (!runShare(participants_[tid].state, s.fn, s.args.data(), chunk, chunks_,
                claimToken(claim, step * chunks_ + chunk)))
    return; // another thread redoes it
  shareNanos_[step].store(nowNanos() - start, std::memory_order_relaxed);
  // Release: the share's writes before its state; a thread that sees it
  // done (acquire) sees them. Fails when another thread took it over.
  uint64_t expected = claim;
  shares_[step * chunks_ + chunk].word.compare_exchange_strong(
      expected, shareWord(runOf(claim), versionOf(claim), kDone),
      std::memory_order_acq_rel);
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
