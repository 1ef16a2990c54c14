// A share of a kernel that a thread may be made to abandon. When a thread
// is descheduled in the middle of a share, another thread redoes the share
// (the executor's work distribution, runtime/Executor.cpp) and must stop
// the first one from writing any more of it: it signals that thread, whose
// handler jumps out of the kernel (runtime/ShareCancel.h). That is safe
// anywhere in a kernel's own code, but not inside malloc or free, which the
// kernels call for packed copies: so the JIT links them to the wrappers
// here, which defer the jump until the call returns and free the buffer of
// an abandoned share.
#pragma once

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstdint>

namespace cnnc::codegen {

struct ShareState {
  sigjmp_buf resume;                 // where an abandoned share returns to
  volatile sig_atomic_t active = 0;  // running a share that can be abandoned
  volatile sig_atomic_t callout = 0; // inside malloc or free
  void *heap = nullptr;              // the running share's malloc'd buffer
  uint64_t token = 0;                // the running share's token
  std::atomic<uint64_t> cancel{0};   // token to abandon (set by others)
};

// The calling thread's share state (nullptr: none, nothing to abandon).
ShareState *currentShareState();
void setCurrentShareState(ShareState *s);

// Jumps to s->resume when the running share was cancelled and the thread
// is not inside malloc or free (where it lands frees s->heap).
void abandonIfCancelled(ShareState *s);

// What the JIT links the kernels' malloc and free to.
extern "C" void *cnnc_share_malloc(size_t bytes);
extern "C" void cnnc_share_free(void *p);

} // namespace cnnc::codegen
