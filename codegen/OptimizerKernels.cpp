#include "codegen/Kernels.h"
namespace cnnc::codegen {
void emitSgdUpdate(KernelBuilder &) {}
void emitAdamUpdate(KernelBuilder &) {}
void emitRmspropUpdate(KernelBuilder &) {}
} // namespace cnnc::codegen
