// Kernel emitters, one per op kind (see ir/Ops.def). Each emits the body of
// the kernel for kb.op(), specialized to its static shapes and attributes.
#pragma once

#include "codegen/KernelBuilder.h"

namespace cnnc::codegen {

// ConvKernels.cpp
void emitConv2D(KernelBuilder &kb);
void emitConv2DBackwardData(KernelBuilder &kb);
void emitConv2DBackwardFilter(KernelBuilder &kb);
// PoolKernels.cpp
void emitMaxPool2D(KernelBuilder &kb);
void emitMaxPool2DGrad(KernelBuilder &kb);
void emitAvgPool2D(KernelBuilder &kb);
void emitAvgPool2DGrad(KernelBuilder &kb);
// DenseKernels.cpp
void emitMatMul(KernelBuilder &kb);
void emitBiasAdd(KernelBuilder &kb);
void emitBiasGrad(KernelBuilder &kb);
// ElementwiseKernels.cpp
void emitActivation(KernelBuilder &kb);
void emitActivationGrad(KernelBuilder &kb);
void emitMul(KernelBuilder &kb);
void emitAdd(KernelBuilder &kb);
void emitDropout(KernelBuilder &kb);
// LossKernels.cpp
void emitSoftmax(KernelBuilder &kb);
void emitSoftmaxCrossEntropy(KernelBuilder &kb);
void emitSoftmaxCrossEntropyGrad(KernelBuilder &kb);
void emitCountCorrect(KernelBuilder &kb);
// OptimizerKernels.cpp
void emitSgdUpdate(KernelBuilder &kb);
void emitAdamUpdate(KernelBuilder &kb);
void emitRmspropUpdate(KernelBuilder &kb);

// The emitter of an op kind; nullptr for ops that need no kernel (reshape
// only renames a buffer).
using EmitFn = void (*)(KernelBuilder &);
EmitFn kernelEmitter(ir::OpKind kind);

} // namespace cnnc::codegen
