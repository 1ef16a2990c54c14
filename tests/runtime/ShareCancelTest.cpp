// Cancelling a share (runtime/ShareCancel.h): a thread in the middle of a
// share stops writing when another thread cancels it, whether it is on a
// core or not; a cancel of another share leaves it alone; a cancel that
// comes while the share is inside malloc takes effect when malloc returns,
// and the share's buffer is freed (the sanitizer build checks the leak).
#include "runtime/ShareCancel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

namespace cnnc::runtime {
namespace {

// What the fake kernels below see through their argument list.
struct Shared {
  std::atomic<int> started{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  codegen::ShareState *state = nullptr;
  uint64_t token = 0;
};

// Writes until told to stop, like a long kernel; holds a buffer from the
// kernels' malloc meanwhile.
void writeUntilStopped(void *const *args, int64_t, int64_t) {
  auto *s = static_cast<Shared *>(args[0]);
  void *buffer = codegen::cnnc_share_malloc(4096);
  s->started.store(1);
  while (!s->stop.load(std::memory_order_relaxed))
    s->writes.fetch_add(1, std::memory_order_relaxed);
  codegen::cnnc_share_free(buffer);
}

// Cancels its own share, then calls malloc: the wrapper abandons the share
// when malloc returns.
void cancelThenMalloc(void *const *args, int64_t, int64_t) {
  auto *s = static_cast<Shared *>(args[0]);
  s->state->cancel.store(s->token);
  codegen::ShareState &st = *s->state;
  st.callout = 1; // as inside malloc: the handler must not jump
  codegen::abandonIfCancelled(&st);
  st.callout = 0;
  s->started.store(1); // reached: no jump inside the call-out
  codegen::cnnc_share_malloc(64);
  s->writes.fetch_add(1); // not reached
}

struct Runner {
  codegen::ShareState state;
  std::atomic<int> result{-1};
  std::thread thread;

  void start(codegen::KernelFn fn, Shared &s, uint64_t token) {
    s.state = &state;
    s.token = token;
    thread = std::thread([this, fn, &s, token] {
      unblockCancelSignal();
      codegen::setCurrentShareState(&state);
      void *args[] = {&s};
      result.store(runShare(state, fn, args, 0, 1, token) ? 1 : 0);
      codegen::setCurrentShareState(nullptr);
    });
    while (!s.started.load())
      std::this_thread::yield();
  }
};

TEST(ShareCancel, ACancelledShareWritesNothingMore) {
  if (!shareCancelAvailable())
    GTEST_SKIP() << "no membarrier or the signal is taken";
  Shared s;
  Runner r;
  r.start(writeUntilStopped, s, 7);
  cancelShare(r.thread.native_handle(), r.state, 7);
  uint64_t after = s.writes.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(s.writes.load(), after) << "wrote after the cancel returned";
  r.thread.join();
  EXPECT_EQ(r.result.load(), 0);
  EXPECT_EQ(r.state.heap, nullptr) << "the share's buffer is freed";
  EXPECT_EQ(r.state.active, 0);
}

TEST(ShareCancel, ACancelOfAnotherShareIsIgnored) {
  if (!shareCancelAvailable())
    GTEST_SKIP() << "no membarrier or the signal is taken";
  Shared s;
  Runner r;
  r.start(writeUntilStopped, s, 8);
  cancelShare(r.thread.native_handle(), r.state, 9);
  uint64_t after = s.writes.load();
  while (s.writes.load() == after)
    std::this_thread::yield();
  s.stop.store(true);
  r.thread.join();
  EXPECT_EQ(r.result.load(), 1);
}

TEST(ShareCancel, InsideMallocTheCancelWaitsForItsReturn) {
  if (!shareCancelAvailable())
    GTEST_SKIP() << "no membarrier or the signal is taken";
  Shared s;
  Runner r;
  r.start(cancelThenMalloc, s, 11);
  r.thread.join();
  EXPECT_EQ(r.result.load(), 0);
  EXPECT_EQ(s.writes.load(), 0u);
  EXPECT_EQ(r.state.heap, nullptr);
}

// A program that installs a handler of its own for the signal after cnnc
// did is seen, and its handler is not called by cnnc (the executor checks
// before each redo: Executor.RedoingStopsWhenTheProgramTakesTheSignal).
TEST(ShareCancel, AHandlerTheProgramInstallsLaterIsSeen) {
  if (!shareCancelAvailable())
    GTEST_SKIP() << "no membarrier or the signal is taken";
  EXPECT_TRUE(cancelHandlerInPlace());
  struct sigaction ours {
  }, other{};
  other.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(shareCancelSignal(), &other, &ours), 0);
  EXPECT_FALSE(cancelHandlerInPlace());
  ASSERT_EQ(sigaction(shareCancelSignal(), &ours, nullptr), 0);
  EXPECT_TRUE(cancelHandlerInPlace());
}

// A cancel that arrives before the share starts (the thread was
// descheduled between claiming it and running it) is seen at the start.
TEST(ShareCancel, ACancelBeforeTheStartIsSeen) {
  codegen::ShareState state;
  state.cancel.store(5);
  Shared s;
  void *args[] = {&s};
  s.stop.store(true);
  EXPECT_FALSE(runShare(state, writeUntilStopped, args, 0, 1, 5));
  EXPECT_EQ(s.started.load(), 0);
  EXPECT_TRUE(runShare(state, writeUntilStopped, args, 0, 1, 6));
}

} // namespace
} // namespace cnnc::runtime
