#include "runtime/ShareCancel.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string_view>

namespace cnnc::runtime {

namespace {
void onCancel(int, siginfo_t *, void *) {
  int saved = errno;
  // Returns when the running share is not the cancelled one or the thread
  // is inside malloc or free (the wrapper then jumps when the call returns).
  codegen::abandonIfCancelled(codegen::currentShareState());
  errno = saved;
}

long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

bool install() {
  const char *env = std::getenv("CNNC_REDO");
  if (env && std::string_view(env) == "0")
    return false;
  long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
      membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
    return false;
  struct sigaction old {};
  if (sigaction(shareCancelSignal(), nullptr, &old) != 0 ||
      (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
    return false; // the program's own
  struct sigaction sa {};
  sa.sa_sigaction = onCancel;
  // NODEFER: the handler leaves by siglongjmp without restoring the mask.
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  return sigaction(shareCancelSignal(), &sa, nullptr) == 0;
}
} // namespace

int shareCancelSignal() { return SIGRTMAX - 1; }

bool shareCancelAvailable() {
  static const bool available = install();
  return available;
}

namespace {
thread_local bool unblockedForGood = false;
} // namespace

bool cancelSignalUnblocked() {
  if (unblockedForGood)
    return true;
  sigset_t set;
  return pthread_sigmask(SIG_BLOCK, nullptr, &set) == 0 &&
         !sigismember(&set, shareCancelSignal());
}

void unblockCancelSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, shareCancelSignal());
  unblockedForGood = pthread_sigmask(SIG_UNBLOCK, &set, nullptr) == 0;
}

// Not inlined: sigsetjmp needs a frame of its own that stays live until the
// kernel returns.
[[gnu::noinline]] bool runShare(codegen::ShareState &s, codegen::KernelFn fn,
                                void *const *args, uint32_t chunk,
                                uint32_t chunks, uint64_t token) {
  s.token = token;
  if (sigsetjmp(s.resume, 0)) {
    std::free(s.heap); // the buffer of a kernel abandoned in its middle
    s.heap = nullptr;
    return false;
  }
  s.active = 1;
  // A cancel that came before `active` was set had no effect in the
  // handler: see it here.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (s.cancel.load(std::memory_order_seq_cst) == token) {
    s.active = 0;
    return false;
  }
  fn(args, chunk, chunks);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.active = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return true;
}

bool cancelHandlerInPlace() {
  struct sigaction now {};
  return sigaction(shareCancelSignal(), nullptr, &now) == 0 &&
         (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == onCancel;
}

void cancelShare(pthread_t thread, codegen::ShareState &state, uint64_t token) {
  state.cancel.store(token, std::memory_order_seq_cst);
  pthread_kill(thread, shareCancelSignal());
  // The signal is pending now; this interrupts the thread if it is on a
  // core, so that it runs the handler before its next instruction.
  membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
}

} // namespace cnnc::runtime
