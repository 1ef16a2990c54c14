#include "tools/StopSignal.h"

namespace cnnc::tools {

std::atomic<bool> gStop{false};
volatile std::sig_atomic_t gStopSignal = 0;
static_assert(std::atomic<bool>::is_always_lock_free,
              "the stop flag is set from a signal handler");

namespace {
void setHandler(void (*handler)(int)) {
  struct sigaction sa = {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Only sets the flag (and puts the default action back, so that a second
// Ctrl-C kills at once); the training loop does the rest.
void onStopSignal(int sig) {
  if (gStopSignal == 0)
    gStopSignal = sig;
  gStop.store(true, std::memory_order_relaxed);
  setHandler(SIG_DFL);
}
} // namespace

void catchStopSignals() { setHandler(onStopSignal); }
void defaultStopSignals() { setHandler(SIG_DFL); }

} // namespace cnnc::tools
