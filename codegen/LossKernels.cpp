#include "codegen/Kernels.h"
namespace cnnc::codegen {
void emitSoftmax(KernelBuilder &) {}
void emitSoftmaxCrossEntropy(KernelBuilder &) {}
void emitSoftmaxCrossEntropyGrad(KernelBuilder &) {}
void emitCountCorrect(KernelBuilder &) {}
} // namespace cnnc::codegen
