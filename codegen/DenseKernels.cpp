#include "codegen/Kernels.h"
namespace cnnc::codegen {
void emitMatMul(KernelBuilder &) {}
void emitBiasAdd(KernelBuilder &) {}
void emitBiasGrad(KernelBuilder &) {}
} // namespace cnnc::codegen
