#include "codegen/Kernels.h"
namespace cnnc::codegen {
void emitMaxPool2D(KernelBuilder &) {}
void emitMaxPool2DGrad(KernelBuilder &) {}
void emitAvgPool2D(KernelBuilder &) {}
void emitAvgPool2DGrad(KernelBuilder &) {}
} // namespace cnnc::codegen
