// Pieces of kernels that several emitters share, so that a fused kernel
// computes exactly what the ops it replaces compute (bit for bit).
#pragma once

#include "codegen/KernelBuilder.h"
#include "ir/Activations.h"
#include "ir/FusedStages.h"

#include <functional>
#include <string>

namespace cnnc::codegen {

// act(x) with the arithmetic of the activation op's kernel
// (ElementwiseKernels.cpp); `param` is the kind's parameter (0 when it has
// none). x is a scalar or a vector of `width` floats.
// The activation a fused op's epilogue applies: its `activation` attribute
// with the activation stage in `st`, else linear.
ir::ActivationKind epilogueActivation(const KernelBuilder &kb,
                                      ir::FusedStageSet st);
llvm::Value *activationValue(KernelBuilder &kb, ir::ActivationKind kind,
                             float param, llvm::Value *x, int width);

// dy * act'(.) with the arithmetic of the activation_grad op's kernel, from
// v, the activation's output or input as the kind's gradFrom says.
llvm::Value *activationDerivative(KernelBuilder &kb, ir::ActivationKind kind,
                                  float param, llvm::Value *v, llvm::Value *dy,
                                  int w);

// support::mix64 (splitmix64's finalizer) on an i64 value, as IR.
llvm::Value *mix64(KernelBuilder &kb, llvm::Value *z);

// The dropout op's keep decision (ElementwiseKernels.cpp): the per-call
// key from the step operand, then keep = hash(key, element index) passes
// the rate. For fused epilogues, which must drop exactly what the op
// drops.
struct DropoutHash {
  llvm::Value *key;   // i64, per call
  uint64_t threshold; // keep iff (bits >> 40) >= threshold
  float scale;        // 1 / (1 - rate)
};
DropoutHash dropoutHash(KernelBuilder &kb, const ir::Attrs &attrs,
                        llvm::Value *stepPtr);
// keep (i1, or <w x i1>) for elements i .. i+w-1 (i: i64).
llvm::Value *dropoutKeep(KernelBuilder &kb, const DropoutHash &h,
                         llvm::Value *i, int w);

// The bias gradient db[c] = sum over rows r of dy[r, c] (DenseKernels.cpp):
// the column chunks [chunkBegin, chunkEnd) of biasGradChunks(kb, channels),
// each summed in the bias_grad op's fixed order.
int64_t biasGradChunks(const KernelBuilder &kb, int64_t channels);
// A bias gradient by batch group (batch_groups, ir/ShapeRules.h): the work
// items are (group, column chunk), group-major, split over the threads;
// `body` sums group g's batch items [n0, n1) for the chunks [chunkBegin,
// chunkEnd) into the group's partial sum. A single group (0, batch) without
// the attribute.
// Batch group g's items [n0, n1) of `batch` in `groups` groups
// (ir::batchGroupSize), for a group index computed in the kernel.
std::pair<llvm::Value *, llvm::Value *> batchGroupItems(KernelBuilder &kb,
                                                        llvm::Value *g,
                                                        int64_t batch,
                                                        int64_t groups);
void forEachBatchGroup(
    KernelBuilder &kb, int64_t batch, int64_t chunks,
    const std::function<void(int64_t g, int64_t n0, int64_t n1,
                             llvm::Value *chunkBegin, llvm::Value *chunkEnd)>
        &body);
void emitBiasGradChunks(KernelBuilder &kb, llvm::Value *dy, llvm::Value *db,
                        int64_t rows, int64_t channels, llvm::Value *chunkBegin,
                        llvm::Value *chunkEnd);

// max_pool2d_argmax_grad's gradient of the pooled elements at .. at+width-1
// (PoolKernels.cpp): 0 + g (* mask) (* scale), mask and scale when present.
// For kernels that read the pooled gradient in its place.
struct PooledGrad {
  llvm::Value *g;
  llvm::Value *mask; // nullptr when absent
  bool scaled;
  float scale;
};
PooledGrad pooledGrad(KernelBuilder &kb, llvm::Value *g, llvm::Value *mask);
llvm::Value *pooledGradValue(KernelBuilder &kb, const PooledGrad &p,
                             llvm::Value *at, int width);
// The i32 elements at .. at+width-1 of base (a vector for width > 1).
llvm::Value *loadI32s(KernelBuilder &kb, llvm::Value *base, llvm::Value *at,
                      int width);
void storeI32s(KernelBuilder &kb, llvm::Value *base, llvm::Value *at,
               llvm::Value *v);

// A fused max pool's window (PoolKernels.cpp), its taps in row-major order:
// the maximum as max_pool2d folds it (the first of equal values kept, NaN
// skipped), and the argmax max_pool2d_argmax_grad reads: the first tap
// equal to the maximum, -1 when there is none or, after a relu, when the
// maximum is not positive.
llvm::Value *windowMax(KernelBuilder &kb,
                       const std::vector<llvm::Value *> &taps, int width);
llvm::Value *windowArgmax(KernelBuilder &kb,
                          const std::vector<llvm::Value *> &taps,
                          llvm::Value *max, bool relu, int width);

} // namespace cnnc::codegen
