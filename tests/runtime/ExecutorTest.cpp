// The executor's barrier placement (a barrier only before a kernel that
// touches bytes an earlier kernel of the same phase wrote, or writes bytes
// one read): results on 1..4 threads equal the single-thread ones bit for
// bit.
#include "runtime/Executor.h"
#include "runtime/ShareCancel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include <cmath>
#include <cstring>
#include <random>

namespace cnnc::runtime {
namespace {

using ir::OpKind;
using ir::ValueId;

ValueId act(ir::Graph &g, ValueId x, const char *name) {
  return g
      .create1(OpKind::Activation, {x},
               {{ir::AttrName::Kind, std::string("tanh")}}, {}, name)
      .value();
}

// a = f(x); b = f(a) (reads a: barrier); c = f(x) (independent of b, but
// the memory plan may put it where a was, which b still reads: then a
// barrier too); d = b * c.
TEST(Executor, BarriersOnlyWhereKernelsShareBytes) {
  ir::Graph g("barriers");
  ValueId x = g.addInput("x", ir::f32({64, 33}));
  ValueId a = act(g, x, "a");
  ValueId b = act(g, a, "b");
  ValueId c = act(g, x, "c");
  ValueId d = g.create1(OpKind::Mul, {b, c}, {}, {}, "d").value();
  g.addOutput("d", d);
  ParamStore store;
  auto ex = Executor::create(g, store);
  ASSERT_TRUE(ex.ok()) << ex.status();
  Executor &e = **ex;
  // b after a, d after b and c; c after b only when it reuses a's bytes.
  bool cReusesA = e.data(c) == e.data(a);
  EXPECT_EQ(e.barriersPerStep(), cReusesA ? 3 : 2);

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-2, 2);
  int64_t n = g.type(x).numElements();
  std::vector<float> input(n);
  for (float &v : input)
    v = u(rng);
  std::vector<float> want;
  for (int threads : {1, 2, 3, 4}) {
    std::memcpy(e.f32(x), input.data(), n * 4);
    ThreadPool pool(threads);
    e.run(pool);
    std::vector<float> got(e.f32(d), e.f32(d) + n);
    if (want.empty())
      want = got;
    EXPECT_EQ(got, want) << threads << " threads";
  }
  for (int64_t i = 0; i < n; ++i) {
    double t = std::tanh(static_cast<double>(input[i]));
    ASSERT_NEAR(want[i], std::tanh(t) * t, 1e-6) << i;
  }
}

// A matmul and the activation of its result: the same bits on every thread
// count, run after run.
// z = act(x w) for x [m, k], w [k, n], with random inputs.
struct MatMulAct {
  ir::Graph g{"chunks"};
  ParamStore store;
  std::unique_ptr<Executor> ex;
  ValueId z = -1;

  MatMulAct(int64_t m, int64_t k, int64_t n, unsigned seed) {
    ValueId x = g.addInput("x", ir::f32({m, k}));
    ValueId w = g.addInput("w", ir::f32({k, n}));
    ValueId y = g.create1(OpKind::MatMul, {x, w}, {}, {}, "y").value();
    z = act(g, y, "z");
    g.addOutput("z", z);
    auto created = Executor::create(g, store);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok())
      return;
    ex = *std::move(created);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1, 1);
    for (ValueId v : {x, w})
      for (int64_t i = 0; i < g.type(v).numElements(); ++i)
        ex->f32(v)[i] = u(rng);
  }

  // z after a run on `pool`, zeroed before it so that a share left
  // unwritten shows.
  std::vector<float> runOn(ThreadPool &pool) {
    float *out = ex->f32(z);
    int64_t n = g.type(z).numElements();
    std::fill(out, out + n, 0.0f);
    ex->run(pool);
    return {out, out + n};
  }
};

TEST(Executor, ResultsDoNotDependOnTheThreadCount) {
  MatMulAct m(512, 1024, 96, 2);
  ASSERT_TRUE(m.ex);
  std::vector<float> want;
  for (int threads : {1, 2, 3, 4, 2, 3})
    for (int rep = 0; rep < 3; ++rep) {
      ThreadPool pool(threads);
      std::vector<float> got = m.runOn(pool);
      if (want.empty())
        want = got;
      ASSERT_EQ(got, want) << threads << " threads, run " << rep;
    }
}

// Whole-step runs switch between all threads and one (timing both, see
// Executor::run); a graph run 1000 times on 2 threads passes
// probes of the other mode and gives the bits of one thread every time.
TEST(Executor, ProbesOfTheOtherModeKeepTheBits) {
  MatMulAct m(96, 160, 48, 3);
  ASSERT_TRUE(m.ex);
  ThreadPool one(1), two(2);
  std::vector<float> want = m.runOn(one);
  for (int run = 0; run < 1000; ++run)
    ASSERT_TRUE(m.runOn(two) == want) << run;
}

// A share that another thread holds is redone (and its first thread made
// to abandon it) once a thread has nothing else to do, with the redo delay
// at 0: runs then redo shares in the middle of their kernels, also with
// more threads than cores. The input changes from run to run; the results
// stay those of one thread. (That a cancelled thread writes nothing more
// is ShareCancel.ACancelledShareWritesNothingMore: here the race that
// would show it is too rare to catch.)
TEST(Executor, RedoneSharesKeepTheBits) {
  if (!shareCancelAvailable())
    GTEST_SKIP() << "no membarrier or the signal is taken";
  // Shares long enough (about a millisecond) that a worker has claimed its
  // own before the caller, done with its share, waits for it.
  MatMulAct m(130, 1031, 517, 4);
  ASSERT_TRUE(m.ex);
  float *x = m.ex->f32(m.g.findValue("x"));
  int64_t xn = m.g.type(m.g.findValue("x")).numElements();
  std::vector<std::vector<float>> inputs, want;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  ThreadPool one(1);
  for (int k = 0; k < 3; ++k) {
    inputs.emplace_back(xn);
    for (float &v : inputs.back())
      v = u(rng);
    std::copy(inputs[k].begin(), inputs[k].end(), x);
    want.push_back(m.runOn(one));
  }
  Executor::setRedoAfter(0);
  // 6 threads on 2 cores: the system deschedules them inside shares.
  for (int threads : {2, 3, 6}) {
    ThreadPool pool(threads);
    for (int run = 0; run < 100; ++run) {
      const std::vector<float> &in = inputs[run % 3];
      std::copy(in.begin(), in.end(), x);
      ASSERT_TRUE(m.runOn(pool) == want[run % 3])
          << threads << " threads, run " << run;
    }
  }
  Executor::setRedoAfter(Executor::kRedoAfterNanos);
  EXPECT_GT(m.ex->redoneShares(), 0u);
}

// Runs of the step back to back (Executor::runSteps): between(i) reads run
// i - 1's result and feeds run i from it, on whichever thread finishes run
// i - 1 first. The chain of results equals the step run and fed one run at
// a time on one thread, on any thread count, also with shares redone at
// once (workers then often take the step between runs while the caller is
// descheduled); between sees runs 1 .. count - 1 in order, and returning
// false ends the runs after the one it read.
TEST(Executor, RunsOfTheStepBackToBack) {
  MatMulAct m(96, 160, 160, 7);
  ASSERT_TRUE(m.ex);
  Executor &e = *m.ex;
  float *x = e.f32(m.g.findValue("x")), *z = e.f32(m.z);
  const int64_t n = m.g.type(m.z).numElements();
  std::vector<float> x0(x, x + n);
  constexpr int kRuns = 40;
  // One at a time, on one thread.
  std::vector<std::vector<float>> want;
  ThreadPool one(1);
  for (int i = 0; i < kRuns; ++i) {
    e.run(one);
    want.emplace_back(z, z + n);
    std::copy(z, z + n, x);
  }
  // `count` runs in calls of runSteps, as many as it takes (a call makes
  // fewer runs when it is one of the probes of the other mode, see
  // Executor::run); a call stops after run `stopAfter` of its own.
  auto backToBack = [&](ThreadPool &pool, int count, int stopAfter,
                        std::vector<int> &calls) {
    std::copy(x0.begin(), x0.end(), x);
    std::vector<std::vector<float>> got;
    while (static_cast<int>(got.size()) < count) {
      size_t before = got.size();
      int made = e.runSteps(pool, count - static_cast<int>(before), [&](int i) {
        calls.push_back(i);
        got.emplace_back(z, z + n);
        if (i == stopAfter)
          return false;
        std::copy(z, z + n, x);
        return true;
      });
      if (got.size() - before < static_cast<size_t>(made))
        got.emplace_back(z, z + n);
      EXPECT_EQ(got.size() - before, static_cast<size_t>(made));
      if (stopAfter > 0 && made == stopAfter)
        break;
      std::copy(z, z + n, x);
    }
    return got;
  };
  for (uint64_t redoAfter : {Executor::kRedoAfterNanos, uint64_t{0}}) {
    Executor::setRedoAfter(redoAfter);
    for (int threads : {1, 2, 3, 6}) {
      ThreadPool pool(threads);
      for (int count : {1, 2, kRuns}) {
        std::vector<int> calls;
        std::vector<std::vector<float>> got =
            backToBack(pool, count, -1, calls);
        ASSERT_EQ(got.size(), static_cast<size_t>(count));
        for (int i = 0; i < count; ++i)
          ASSERT_TRUE(got[i] == want[i])
              << threads << " threads, " << count << " runs, run " << i
              << ", redo after " << redoAfter << " ns";
        // 1, 2, ... in each call.
        for (size_t c = 0; c < calls.size(); ++c)
          EXPECT_TRUE(calls[c] == 1 || (c > 0 && calls[c] == calls[c - 1] + 1))
              << c;
        EXPECT_LE(calls.size(), static_cast<size_t>(count - 1));
      }
      std::vector<int> calls;
      std::vector<std::vector<float>> got = backToBack(pool, kRuns, 7, calls);
      ASSERT_GE(got.size(), 7u) << threads << " threads";
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_TRUE(got[i] == want[i]) << threads << " threads, run " << i;
      // The call that reached run 7 of its own stopped there.
      if (got.size() < static_cast<size_t>(kRuns)) {
        EXPECT_EQ(calls.back(), 7);
      }
    }
  }
  Executor::setRedoAfter(Executor::kRedoAfterNanos);
}

// The rule that redoes a descheduled thread's share at once: its CPU time
// stands still. Readings that change, a new claim of the share, or an
// unreadable clock start the count again.
TEST(HolderWatch, OffCoreOnceTheCpuTimeStandsStillLongEnough) {
  HolderWatch w;
  EXPECT_FALSE(w.offCore(1000, 7, 500, 100));
  EXPECT_FALSE(w.offCore(1050, 7, 500, 100));
  EXPECT_TRUE(w.offCore(1100, 7, 500, 100));
  EXPECT_FALSE(w.offCore(1200, 7, 501, 100)); // it ran again
  EXPECT_FALSE(w.offCore(1299, 7, 501, 100));
  EXPECT_TRUE(w.offCore(1300, 7, 501, 100));
  EXPECT_FALSE(w.offCore(1400, 8, 501, 100)); // another claim
  EXPECT_TRUE(w.offCore(1500, 8, 501, 100));
  EXPECT_FALSE(w.offCore(1600, 8, 0, 100)); // no clock
  EXPECT_FALSE(w.offCore(5000, 8, 0, 100));
}

// On real threads: the CPU time of a thread asleep stands still (the watch
// says it is off its core), that of a thread spinning moves.
TEST(HolderWatch, TellsASleepingThreadFromASpinningOne) {
  std::atomic<bool> stop{false};
  std::atomic<clockid_t> sleeper{-1}, spinner{-1};
  auto clockOf = [](std::atomic<clockid_t> &out) {
    clockid_t c;
    ASSERT_EQ(pthread_getcpuclockid(pthread_self(), &c), 0);
    out = c;
  };
  std::thread a([&] {
    clockOf(sleeper);
    while (!stop)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  });
  std::thread b([&] {
    clockOf(spinner);
    for (std::atomic<uint64_t> i{0}; !stop; i.fetch_add(1)) {
    }
  });
  while (sleeper == -1 || spinner == -1)
    std::this_thread::yield();
  uint64_t spunBefore = threadCpuNanos(spinner);
  HolderWatch asleep;
  bool sleepSeen = false;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 2000 && !sleepSeen; ++i) {
    auto now = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now() - start)
            .count());
    sleepSeen = asleep.offCore(now, 1, threadCpuNanos(sleeper), 200'000);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint64_t spunAfter = threadCpuNanos(spinner);
  stop = true;
  a.join();
  b.join();
  EXPECT_TRUE(sleepSeen);
  EXPECT_GT(spunBefore, 0u);
  EXPECT_GT(spunAfter, spunBefore);
}

// With the signal taken over by the program (here: ignored), no share is
// redone, since the first thread could not be stopped, and runs wait for
// every share as before; the bits stay those of one thread.
TEST(Executor, RedoingStopsWhenTheProgramTakesTheSignal) {
  if (!shareCancelAvailable())
    GTEST_SKIP() << "no membarrier or the signal is taken";
  MatMulAct m(64, 200, 96, 6);
  ASSERT_TRUE(m.ex);
  ThreadPool one(1), three(3);
  std::vector<float> want = m.runOn(one);
  struct sigaction ours {
  }, other{};
  other.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(shareCancelSignal(), &other, &ours), 0);
  Executor::setRedoAfter(0);
  uint64_t before = m.ex->redoneShares();
  for (int run = 0; run < 100; ++run)
    ASSERT_TRUE(m.runOn(three) == want) << run;
  EXPECT_EQ(m.ex->redoneShares(), before);
  Executor::setRedoAfter(Executor::kRedoAfterNanos);
  ASSERT_EQ(sigaction(shareCancelSignal(), &ours, nullptr), 0);
}

// A reshape has no kernel and no storage of its own: its result is its
// operand's bytes, also when the operand is a param kept in the ParamStore
// (outside the arena, where the memory plan gives it no offset).
TEST(Executor, ReshapeOfAParamSharesTheParamsStorage) {
  ir::Graph g("reshape_param");
  ValueId w = g.addParam("w", ir::f32({4, 8}));
  ValueId r =
      g.create1(OpKind::Reshape, {w},
                {{ir::AttrName::Shape, std::vector<int64_t>{32}}}, {}, "r")
          .value();
  ValueId y = act(g, r, "y");
  g.addOutput("y", y);
  ParamStore store;
  auto ex = Executor::create(g, store);
  ASSERT_TRUE(ex.ok()) << ex.status();
  Executor &e = **ex;
  float *param = store.find("w");
  ASSERT_NE(param, nullptr);
  EXPECT_EQ(e.data(r), static_cast<void *>(param));
  for (int i = 0; i < 32; ++i)
    param[i] = 0.1f * static_cast<float>(i - 16);
  ThreadPool pool(2);
  e.run(pool);
  for (int i = 0; i < 32; ++i)
    EXPECT_NEAR(e.f32(y)[i], std::tanh(0.1 * (i - 16)), 1e-6) << i;
}

} // namespace
} // namespace cnnc::runtime
