#include "codegen/Kernels.h"

#include <iterator>

namespace cnnc::codegen {

namespace {

// The marker of ops that need no kernel (see ir/Ops.def).
constexpr EmitFn noKernel = nullptr;

// ---- The table: one emitter per op, from ir/Ops.def ----
constexpr EmitFn kEmitters[] = {
#define OP(Enum, Name, NumOperands, NumResults, Flags, Shape, Vjp, Cost, Emit) \
  Emit,
#include "ir/Ops.def"
#undef OP
};
static_assert(std::size(kEmitters) == ir::kNumOpKinds);

} // namespace

EmitFn kernelEmitter(ir::OpKind kind) {
  int i = static_cast<int>(kind);
  return i >= 0 && i < ir::kNumOpKinds ? kEmitters[i] : nullptr;
}

} // namespace cnnc::codegen
