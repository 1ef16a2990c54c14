#include "codegen/ShareState.h"

#include <cstdlib>

namespace cnnc::codegen {

namespace {
// Initial-exec: read from a signal handler, so its access must not
// allocate (a dynamic TLS block would on a thread's first access).
__attribute__((tls_model("initial-exec"))) thread_local ShareState *tls =
    nullptr;
} // namespace

ShareState *currentShareState() { return tls; }
void setCurrentShareState(ShareState *s) { tls = s; }

void abandonIfCancelled(ShareState *s) {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (!s || !s->active || s->callout ||
      s->cancel.load(std::memory_order_acquire) != s->token)
    return;
  s->active = 0;
  siglongjmp(s->resume, 1); // the landing frees s->heap
}

extern "C" void *cnnc_share_malloc(size_t bytes) {
  ShareState *s = tls;
  if (!s || !s->active)
    return std::malloc(bytes);
  s->callout = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  void *p = std::malloc(bytes);
  s->heap = p; // a kernel holds at most one buffer at a time
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s->callout = 0;
  abandonIfCancelled(s); // a cancel that came during malloc
  return p;
}

extern "C" void cnnc_share_free(void *p) {
  ShareState *s = tls;
  if (!s || !s->active) {
    std::free(p);
    return;
  }
  s->callout = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::free(p);
  if (s->heap == p)
    s->heap = nullptr;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s->callout = 0;
  abandonIfCancelled(s);
}

} // namespace cnnc::codegen
