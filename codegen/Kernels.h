// Kernel emitters, one per op kind: the emitter column of ir/Ops.def names
// them, KernelTable.cpp indexes them by OpKind. Each emits the body of the
// kernel for kb.op(), specialized to its static shapes and attributes.
#pragma once

#include "codegen/KernelBuilder.h"

namespace cnnc::codegen {

using EmitFn = void (*)(KernelBuilder &);

// ConvKernels.cpp
void emitConv2D(KernelBuilder &kb);
void emitConv2DBackwardData(KernelBuilder &kb);
void emitConv2DBackwardFilter(KernelBuilder &kb);
// PoolKernels.cpp
void emitMaxPool2D(KernelBuilder &kb);
void emitMaxPool2DGrad(KernelBuilder &kb);
void emitMaxPool2DGradFused(KernelBuilder &kb);
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

// ---- Global pooling and batch normalization ----
// GlobalPoolKernels.cpp
void emitGlobalAvgPool2D(KernelBuilder &kb);
void emitGlobalAvgPool2DGrad(KernelBuilder &kb);
// NormKernels.cpp
void emitBatchNorm(KernelBuilder &kb);
void emitBatchNormGrad(KernelBuilder &kb);
void emitBatchNormInference(KernelBuilder &kb);
void emitBatchNormInferenceGrad(KernelBuilder &kb);
void emitMovingAverageUpdate(KernelBuilder &kb);

// ---- Zero padding ----
// PadKernels.cpp
void emitPad2D(KernelBuilder &kb);
void emitPad2DGrad(KernelBuilder &kb);

// ---- Augmentation ----
// AugmentKernels.cpp
void emitRandomFlip(KernelBuilder &kb);
// random_rotation, random_zoom and random_translation: one affine resampler.
void emitRandomAffine(KernelBuilder &kb);
void emitRandomContrast(KernelBuilder &kb);
void emitRandomBrightness(KernelBuilder &kb);
void emitRandomCrop(KernelBuilder &kb);
void emitRescale(KernelBuilder &kb);

// ---- Fused ops (passes/Fusion.cpp) ----
// ConvKernels.cpp: conv2d with any epilogue of ir/FusedStages.def (bias,
// activation, max pool, argmax, dropout), and backward data from a kernel
// transposed once per step.
void emitConv2DFused(KernelBuilder &kb);
void emitConv2DKernelTranspose(KernelBuilder &kb);
void emitRoundToBfloat16(KernelBuilder &kb);
void emitPackBfloat16Pairs(KernelBuilder &kb);
void emitPackBfloat16ColumnPairs(KernelBuilder &kb);
void emitConv2DBackwardDataTransposed(KernelBuilder &kb);
// ConvFilterKernels.cpp: the filter gradient with the bias gradient and a
// fused max pool's gradient.
void emitConv2DBackwardFilterFused(KernelBuilder &kb);
// ElementwiseKernels.cpp: a filter gradient's batch groups summed.
void emitGroupSum(KernelBuilder &kb);
void emitGroupSumFused(KernelBuilder &kb);
// NormKernels.cpp: a training batch normalization's sums by batch group.
void emitBatchNormSums(KernelBuilder &kb);
void emitBatchNormGradSums(KernelBuilder &kb);
// PoolKernels.cpp
void emitMaxPool2DArgmaxGrad(KernelBuilder &kb);
void emitMaxPool2DArgmaxGradFused(KernelBuilder &kb);
// DenseKernels.cpp: matmul with bias and activation.
void emitMatMulFused(KernelBuilder &kb);

// The emitter of an op kind; nullptr for ops that need no kernel (reshape
// only renames a buffer).
EmitFn kernelEmitter(ir::OpKind kind);

} // namespace cnnc::codegen
