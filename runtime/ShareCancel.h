// Making a descheduled thread abandon the share of a kernel it runs, so that
// another thread can redo it instead of waiting for the system to run the
// first one again (a time slice, 4 ms here, where a step takes 1.5 ms).
// The thread redoing it signals the other thread, whose handler jumps out
// of the kernel (codegen/ShareState.h), then waits with membarrier until
// that thread cannot execute another instruction of the share: the signal
// is then pending on a thread that is off its core, or has interrupted it.
#pragma once

#include "codegen/Compiler.h"
#include "codegen/ShareState.h"

#include <pthread.h>

#include <cstdint>

namespace cnnc::runtime {

// The signal used (one of the real-time signals; cancels are off when the
// program has a handler of its own for it).
int shareCancelSignal();

// Whether shares can be cancelled in this process: the handler installed
// and membarrier's expedited command registered (both done on first call).
// Off with CNNC_REDO=0.
bool shareCancelAvailable();

// Whether the handler is still cnnc's: a program may install its own for
// the signal later, and must then not receive cnnc's cancels. A system
// call: for each redo, which is rare, not each share.
bool cancelHandlerInPlace();

// Whether the calling thread receives the signal (it is not blocked): a
// system call, except in a thread that unblockCancelSignal() unblocked.
bool cancelSignalUnblocked();
// Unblocks the signal in the calling thread for the rest of its life (the
// pool's workers, which run only cnnc's code and never block it again), so
// that cancelSignalUnblocked() answers there without a system call.
void unblockCancelSignal();

// Runs share `chunk` of `chunks` of kernel fn so that the calling thread
// can be made to abandon it (cancelShare with the same token; `state` is
// the thread's own, set with codegen::setCurrentShareState). False when it
// was abandoned: another thread redoes it.
bool runShare(codegen::ShareState &state, codegen::KernelFn fn,
              void *const *args, uint32_t chunk, uint32_t chunks,
              uint64_t token);

// Makes `thread` abandon the share `token` if it is running it or is
// descheduled in it. On return it writes nothing more of that share.
// Only for a thread that runs that share with `state` as its ShareState
// and receives the signal (cancelSignalUnblocked()).
void cancelShare(pthread_t thread, codegen::ShareState &state, uint64_t token);

} // namespace cnnc::runtime
