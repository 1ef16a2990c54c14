// The worker pool: every thread id runs once per dispatch, and a system that
// cannot start the threads gives an error instead of an abort.
#include "runtime/ThreadPool.h"
#include "common/Sanitizers.h"

#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace cnnc::runtime {
namespace {

TEST(ThreadPool, EveryThreadIdRunsOncePerDispatch) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    ASSERT_TRUE(pool.status().ok());
    ASSERT_EQ(pool.size(), threads);
    std::vector<std::atomic<int>> runs(threads);
    for (int rep = 0; rep < 100; ++rep)
      pool.run([&](int tid) { runs[tid].fetch_add(1); });
    for (int t = 0; t < threads; ++t)
      EXPECT_EQ(runs[t].load(), 100) << "thread " << t;
  }
}

// A detached task returns with the caller's part: workers join late (here:
// they sleep first) and quiesce() waits until every one that joined has
// left.
TEST(ThreadPool, DetachedTasksDoNotWaitForWorkers) {
  ThreadPool pool(3);
  struct Counts {
    std::atomic<int> entered{0}, left{0}, caller{0};
  } c;
  auto task = [](void *ctx, int tid) {
    auto *c = static_cast<Counts *>(ctx);
    if (tid == 0) {
      c->caller.fetch_add(1);
      return;
    }
    c->entered.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    c->left.fetch_add(1);
  };
  pool.runDetached(task, &c);
  EXPECT_EQ(c.caller.load(), 1);
  EXPECT_EQ(c.left.load(), 0) << "the caller waited for a worker";
  while (c.entered.load() < 2)
    std::this_thread::yield();
  pool.quiesce();
  EXPECT_EQ(c.left.load(), 2) << "quiesce returned before they left";
  // Regular runs still run every thread id once after a detached one.
  std::vector<std::atomic<int>> runs(3);
  pool.runDetached(task, &c);
  pool.run([&](int tid) { runs[tid].fetch_add(1); });
  for (int t = 0; t < 3; ++t)
    EXPECT_EQ(runs[t].load(), 1) << "thread " << t;
}

// In a child whose address space is capped, thread stacks cannot be mapped:
// the pool must say so and still run with the threads it has.
std::vector<int> cpusOf(const cpu_set_t &set) {
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set))
      cpus.push_back(c);
  return cpus;
}

cpu_set_t affinityOfThisThread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(set), &set), 0);
  return set;
}

// The CPUs each thread of a task on `pool` may run on.
std::vector<std::vector<int>> affinitiesInATask(ThreadPool &pool) {
  std::vector<cpu_set_t> sets(pool.size());
  pool.run([&](int tid) { sets[tid] = affinityOfThisThread(); });
  std::vector<std::vector<int>> out;
  for (const cpu_set_t &s : sets)
    out.push_back(cpusOf(s));
  return out;
}

// A pool with a thread for each CPU the process may use pins thread t to
// the t-th of them, the caller only while it runs a task (it then has its
// own affinity back, also a narrower one); a pool of another size, or with
// CNNC_PIN=0, leaves the affinities alone.
TEST(ThreadPool, PinsAThreadToEachCpuWhenItHasOneForEach) {
  cpu_set_t allowedSet = affinityOfThisThread();
  std::vector<int> allowed = cpusOf(allowedSet);
  if (allowed.size() < 2)
    GTEST_SKIP() << "one CPU";
  const int n = static_cast<int>(allowed.size());
  {
    ThreadPool pool(n);
    ASSERT_TRUE(pool.pinned());
    std::vector<std::vector<int>> during = affinitiesInATask(pool);
    for (int t = 0; t < n; ++t)
      EXPECT_EQ(during[t], std::vector<int>{allowed[t]}) << "thread " << t;
    cpu_set_t after = affinityOfThisThread();
    EXPECT_TRUE(CPU_EQUAL(&after, &allowedSet));
    // A caller of its own narrower affinity gets it back.
    cpu_set_t last;
    CPU_ZERO(&last);
    CPU_SET(allowed.back(), &last);
    ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(last), &last), 0);
    during = affinitiesInATask(pool);
    EXPECT_EQ(during[0], std::vector<int>{allowed[0]});
    after = affinityOfThisThread();
    EXPECT_TRUE(CPU_EQUAL(&after, &last));
    ASSERT_EQ(
        pthread_setaffinity_np(pthread_self(), sizeof(allowedSet), &allowedSet),
        0);
  }
  for (int threads : {n - 1, n + 1}) {
    if (threads < 2)
      continue;
    ThreadPool pool(threads);
    EXPECT_FALSE(pool.pinned()) << threads << " threads";
    for (const std::vector<int> &cpus : affinitiesInATask(pool))
      EXPECT_EQ(cpus, allowed) << threads << " threads";
  }
  ASSERT_EQ(setenv("CNNC_PIN", "0", 1), 0);
  {
    ThreadPool pool(n);
    EXPECT_FALSE(pool.pinned());
    for (const std::vector<int> &cpus : affinitiesInATask(pool))
      EXPECT_EQ(cpus, allowed);
  }
  unsetenv("CNNC_PIN");
}

TEST(ThreadPool, TooFewResourcesIsAStatusNotAnAbort) {
  if (cnnc::testing::kAddressSanitizer)
    GTEST_SKIP() << "ASan's shadow memory needs more address space than "
                    "the cap leaves";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit cap{};
    getrlimit(RLIMIT_AS, &cap);
    // Room for what the process has mapped now plus a few 8 MB stacks.
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long vmPages = 0;
    if (!f || fscanf(f, "%lu", &vmPages) != 1)
      _exit(10);
    fclose(f);
    cap.rlim_cur = vmPages * sysconf(_SC_PAGESIZE) + (64ul << 20);
    if (setrlimit(RLIMIT_AS, &cap) != 0)
      _exit(11);
    ThreadPool pool(256);
    if (pool.status().ok())
      _exit(12);
    if (pool.size() < 1 || pool.size() >= 256)
      _exit(13);
    if (pool.status().message().find("cannot start 256 threads") ==
        absl::string_view::npos)
      _exit(14);
    std::atomic<int> runs{0};
    pool.run([&](int) { runs.fetch_add(1); });
    _exit(runs.load() == pool.size() ? 0 : 15);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of a signal";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

} // namespace
} // namespace cnnc::runtime
