// Helpers for emitting one kernel's LLVM IR: loops, thread partitioning,
// vector loads/stores. Every kernel has the C signature
//   void kernel(void *const *args, int64_t tid, int64_t nthreads)
// where args holds the op's operand buffers, then its result buffers, in op
// order. A kernel does this thread's share of the op; the runtime calls it on
// every thread (tid 0..nthreads-1) and waits for all before the next op.
#pragma once

#include "ir/Graph.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <utility>
#include <vector>

namespace cnnc::codegen {

class KernelBuilder {
public:
  // bfloat16Dot: the target has AVX512_BF16 (vdpbf16ps).
  KernelBuilder(llvm::Module &module, llvm::Function *fn, const ir::Graph &g,
                const ir::Op &op, int vectorWidth, bool bfloat16Dot = false);

  llvm::IRBuilder<> &b() { return builder_; }
  llvm::LLVMContext &ctx() { return module_.getContext(); }
  llvm::Module &module() { return module_; }
  const ir::Graph &graph() const { return graph_; }
  const ir::Op &op() const { return op_; }
  const ir::Attrs &attrs() const { return op_.attrs; }

  // Buffers and their IR types.
  llvm::Value *operand(int i) const { return args_[i]; }
  llvm::Value *result(int i) const { return args_[op_.operands.size() + i]; }
  const ir::TensorType &operandType(int i) const {
    return graph_.type(op_.operands[i]);
  }
  const ir::TensorType &resultType(int i) const {
    return graph_.type(op_.results[i]);
  }

  llvm::Value *tid() const { return tid_; }
  llvm::Value *nthreads() const { return nthreads_; }
  // Elements of 32-bit floats in the widest vector register (16 on AVX-512).
  int vectorWidth() const { return vectorWidth_; }

  // This thread's contiguous share [begin, end) of n work items.
  std::pair<llvm::Value *, llvm::Value *> partition(int64_t n);
  // Runs body on thread 0 only (small reductions that must be ordered).
  void onThreadZero(const std::function<void()> &body);

  // for (iv = lo; iv < hi; iv += step) body(iv); i64 induction variable.
  void loop(llvm::Value *lo, llvm::Value *hi, int64_t step,
            const std::function<void(llvm::Value *)> &body);
  void loop(int64_t lo, int64_t hi, int64_t step,
            const std::function<void(llvm::Value *)> &body) {
    loop(i64(lo), i64(hi), step, body);
  }
  // A loop with loop-carried values (accumulators); returns their final
  // values. body gets the induction variable and the current values and
  // returns the next ones.
  using CarriedBody = std::function<std::vector<llvm::Value *>(
      llvm::Value *, const std::vector<llvm::Value *> &)>;
  std::vector<llvm::Value *> loopCarried(llvm::Value *lo, llvm::Value *hi,
                                         int64_t step,
                                         std::vector<llvm::Value *> init,
                                         const CarriedBody &body);
  // Vectorized loop over [lo, hi): body(iv, width) for full vectors of
  // vectorWidth() elements, then body(iv, 1) for the scalar tail. With
  // width 1 the vector helpers below work on plain scalars.
  void vectorLoop(llvm::Value *lo, llvm::Value *hi,
                  const std::function<void(llvm::Value *, int)> &body);

  void ifThen(llvm::Value *cond, const std::function<void()> &then);
  void ifThenElse(llvm::Value *cond, const std::function<void()> &then,
                  const std::function<void()> &otherwise);

  // Constants and arithmetic on i64 indices.
  llvm::Value *i64(int64_t v);
  llvm::Value *i32(int32_t v);
  llvm::Value *f32(float v);
  llvm::Value *add(llvm::Value *a, llvm::Value *b) {
    return builder_.CreateAdd(a, b);
  }
  llvm::Value *mul(llvm::Value *a, llvm::Value *b) {
    return builder_.CreateMul(a, b);
  }
  llvm::Value *add(llvm::Value *a, int64_t c) { return add(a, i64(c)); }
  llvm::Value *mul(llvm::Value *a, int64_t c) { return mul(a, i64(c)); }
  llvm::Value *min(llvm::Value *a, llvm::Value *b);
  llvm::Value *max(llvm::Value *a, llvm::Value *b);

  // Memory. idx is an element index (i64); width 1 means a scalar.
  llvm::Value *elementPtr(llvm::Value *base, llvm::Value *idx,
                          llvm::Type *elemTy = nullptr);
  llvm::Value *loadF32(llvm::Value *base, llvm::Value *idx);
  llvm::Value *loadI32(llvm::Value *base, llvm::Value *idx);
  void storeF32(llvm::Value *base, llvm::Value *idx, llvm::Value *v);
  llvm::Value *load(llvm::Value *base, llvm::Value *idx, int width);
  // load, as a whole load into a register even where only a select reads
  // it: the x86 backend would fold that load into a masked load (which
  // reads only the selected lanes), and on Zen 5 masked loads of lines
  // not in cache ran a gather over the window's taps 1.3-2x slower.
  llvm::Value *loadWhole(llvm::Value *base, llvm::Value *idx, int width);
  void store(llvm::Value *base, llvm::Value *idx, llvm::Value *v);
  // A per-thread buffer of `count` elements of `elem` on the stack, 64-byte
  // aligned, allocated once in the entry block (so a call inside a loop
  // does not grow the stack per iteration).
  llvm::Value *stackBuffer(int64_t count, llvm::Type *elem);
  // body(buffer) with `bytes` from malloc, freed after it, for scratch too
  // big for the stack (share 0 runs on the caller's thread, whose stack is
  // the embedder's); onNull() instead where malloc returns null.
  void withHeapBuffer(int64_t bytes,
                      const std::function<void(llvm::Value *)> &body,
                      const std::function<void()> &onNull);
  // Sets all `count` f32 elements from `begin` to zero.
  void zero(llvm::Value *base, llvm::Value *begin, llvm::Value *count);

  // v (a float or a vector) rounded to the nearest bfloat16 (ties to even,
  // NaN kept quiet, as vcvtneps2bf16 rounds) and widened back to float32.
  llvm::Value *roundToBfloat16(llvm::Value *v);
  // A value just loaded from contraction operand `operand` (-1: computed
  // from several operands, as a prologue does) as the op's compute_dtype
  // (ir/AttrEnums.def) sees it: itself for float32; for bfloat16 rounded,
  // so that the float32 FMAs that follow form the exact products of
  // bfloat16 values and sum them in float32 — unless the operand comes from
  // round_to_bfloat16 (the dtype-policy pass rounds each operand once per
  // step) and is bfloat16 already.
  llvm::Value *computeOperand(llvm::Value *v, int operand);

  // bfloat16 pairs (ir/Types.h packedBfloat16Pairs), one 32-bit word each:
  // `width` words from word index idx (an i32 vector; i32 for width 1).
  llvm::Value *loadPairs(llvm::Value *base, llvm::Value *idx, int width);
  // acc + a.even * b.even + a.odd * b.odd in each float lane, a and b
  // words of bfloat16 pairs as loadPairs gives them: vdpbf16ps where the
  // target has it (4, 8 or 16 lanes). Elsewhere two FMAs, odd then even
  // (the order vdpbf16ps is specified with): the products of bfloat16
  // values are exact in float32, so this equals vdpbf16ps except that
  // vdpbf16ps flushes denormal inputs and results to zero.
  llvm::Value *dotBfloat16Pairs(llvm::Value *acc, llvm::Value *a,
                                llvm::Value *b);
  bool hasBfloat16Dot() const { return bfloat16Dot_; }
  // The bfloat16 bits (i16 lanes) of float32 lanes, rounded as
  // roundToBfloat16 rounds: vcvtneps2bf16 where the target has AVX512_BF16
  // (full 8- or 16-lane groups), which reads denormals as zero; the other
  // lanes then flush denormals too, so that a value's bits never depend on
  // the lane it fell in (a vector body or a scalar tail).
  llvm::Value *bfloat16Halves(llvm::Value *v);
  // Words of bfloat16 pairs (as loadPairs gives them): `even` rounded in the
  // low half, `odd` in the high half, lane by lane.
  llvm::Value *pairWords(llvm::Value *even, llvm::Value *odd);
  // The same from halves bfloat16Halves gave (i16 lanes).
  llvm::Value *wordsOfHalves(llvm::Value *lo, llvm::Value *hi);

  // Float math on scalars or vectors.
  llvm::Type *floatType(int width);
  llvm::Value *splat(int width, llvm::Value *scalar);
  llvm::Value *splat(int width, float c) { return splat(width, f32(c)); }
  llvm::Value *fma(llvm::Value *a, llvm::Value *b, llvm::Value *c);
  llvm::Value *fmax(llvm::Value *a, llvm::Value *b);          // maxnum
  llvm::Value *unary(llvm::Intrinsic::ID id, llvm::Value *v); // exp, log, sqrt
  // Horizontal sum in a fixed tree order (deterministic).
  llvm::Value *reduceAdd(llvm::Value *v);

  // vectorLoop with an explicit width: vectors of `width`, then scalars.
  void vectorLoop(llvm::Value *lo, llvm::Value *hi, int width,
                  const std::function<void(llvm::Value *, int)> &body);
  // Widest power-of-two vector (4..vectorWidth() lanes) that fits in n
  // elements; 1 (scalars) when n < 4. For short rows such as 10 classes.
  int widthFor(int64_t n) const;
  // i64 lane indices base + <0, 1, ..., width-1>; base itself for width 1.
  llvm::Value *laneIndices(int width, llvm::Value *base);
  // Marks every loop emitted so far to be kept as emitted: no unrolling and
  // no auto-vectorization. For kernels whose loops are already vectorized
  // and register-blocked, where LLVM's unrolling only multiplies code size
  // and compile time.
  void keepLoopsAsEmitted();

private:
  llvm::Module &module_;
  llvm::Function *fn_;
  llvm::IRBuilder<> builder_;
  const ir::Graph &graph_;
  const ir::Op &op_;
  int vectorWidth_;
  bool bfloat16_; // the op's compute_dtype
  bool bfloat16Dot_;
  std::vector<llvm::Value *> args_;
  llvm::Value *tid_ = nullptr, *nthreads_ = nullptr;
};

} // namespace cnnc::codegen
