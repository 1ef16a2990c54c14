#include "codegen/KernelBuilder.h"

#include "ir/AttrEnums.h"
#include "ir/DtypePolicy.h"

#include <llvm/Analysis/LoopInfo.h>
#include <llvm/IR/Dominators.h>
#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

namespace cnnc::codegen {

KernelBuilder::KernelBuilder(llvm::Module &module, llvm::Function *fn,
                             const ir::Graph &g, const ir::Op &op,
                             int vectorWidth, bool bfloat16Dot)
    : module_(module), fn_(fn), builder_(module.getContext()), graph_(g),
      op_(op), vectorWidth_(vectorWidth),
      bfloat16_(ir::computeDtypeOf(op.attrs) == ir::ComputeDtype::Bfloat16),
      bfloat16Dot_(bfloat16Dot) {
  llvm::BasicBlock *entry = llvm::BasicBlock::Create(ctx(), "entry", fn_);
  builder_.SetInsertPoint(entry);
  llvm::Value *argv = fn_->getArg(0);
  tid_ = fn_->getArg(1);
  nthreads_ = fn_->getArg(2);
  size_t n = op.operands.size() + op.results.size();
  llvm::Type *ptrTy = builder_.getPtrTy();
  for (size_t i = 0; i < n; ++i) {
    llvm::Value *slot = builder_.CreateConstInBoundsGEP1_64(ptrTy, argv, i);
    auto *p = builder_.CreateLoad(ptrTy, slot);
    p->setMetadata(llvm::LLVMContext::MD_invariant_load,
                   llvm::MDNode::get(ctx(), {}));
    args_.push_back(p);
  }
}

llvm::Value *KernelBuilder::i64(int64_t v) { return builder_.getInt64(v); }
llvm::Value *KernelBuilder::i32(int32_t v) { return builder_.getInt32(v); }
llvm::Value *KernelBuilder::f32(float v) {
  return llvm::ConstantFP::get(builder_.getFloatTy(), v);
}

llvm::Value *KernelBuilder::min(llvm::Value *a, llvm::Value *b) {
  return builder_.CreateSelect(builder_.CreateICmpSLT(a, b), a, b);
}
llvm::Value *KernelBuilder::max(llvm::Value *a, llvm::Value *b) {
  return builder_.CreateSelect(builder_.CreateICmpSGT(a, b), a, b);
}

std::pair<llvm::Value *, llvm::Value *> KernelBuilder::partition(int64_t n) {
  // chunk = ceil(n / nthreads); [tid*chunk, min((tid+1)*chunk, n))
  llvm::Value *chunk = builder_.CreateUDiv(
      builder_.CreateAdd(i64(n), builder_.CreateSub(nthreads_, i64(1))),
      nthreads_);
  llvm::Value *begin = min(mul(tid_, chunk), i64(n));
  llvm::Value *end = min(add(begin, chunk), i64(n));
  return {begin, end};
}

void KernelBuilder::onThreadZero(const std::function<void()> &body) {
  ifThen(builder_.CreateICmpEQ(tid_, i64(0)), body);
}

void KernelBuilder::loop(llvm::Value *lo, llvm::Value *hi, int64_t step,
                         const std::function<void(llvm::Value *)> &body) {
  loopCarried(lo, hi, step, {},
              [&](llvm::Value *iv, const std::vector<llvm::Value *> &) {
                body(iv);
                return std::vector<llvm::Value *>{};
              });
}

std::vector<llvm::Value *>
KernelBuilder::loopCarried(llvm::Value *lo, llvm::Value *hi, int64_t step,
                           std::vector<llvm::Value *> init,
                           const CarriedBody &body) {
  llvm::BasicBlock *pre = builder_.GetInsertBlock();
  llvm::BasicBlock *header = llvm::BasicBlock::Create(ctx(), "loop", fn_);
  llvm::BasicBlock *bodyBB = llvm::BasicBlock::Create(ctx(), "body", fn_);
  llvm::BasicBlock *exit = llvm::BasicBlock::Create(ctx(), "exit", fn_);
  builder_.CreateBr(header);

  builder_.SetInsertPoint(header);
  llvm::PHINode *iv = builder_.CreatePHI(builder_.getInt64Ty(), 2, "i");
  iv->addIncoming(lo, pre);
  std::vector<llvm::PHINode *> phis;
  std::vector<llvm::Value *> current;
  for (llvm::Value *v : init) {
    llvm::PHINode *phi = builder_.CreatePHI(v->getType(), 2);
    phi->addIncoming(v, pre);
    phis.push_back(phi);
    current.push_back(phi);
  }
  builder_.CreateCondBr(builder_.CreateICmpSLT(iv, hi), bodyBB, exit);

  builder_.SetInsertPoint(bodyBB);
  std::vector<llvm::Value *> next = body(iv, current);
  llvm::Value *ivNext = builder_.CreateAdd(iv, i64(step), "", /*NUW=*/true,
                                           /*NSW=*/true);
  llvm::BasicBlock *latch = builder_.GetInsertBlock();
  builder_.CreateBr(header);
  iv->addIncoming(ivNext, latch);
  for (size_t i = 0; i < phis.size(); ++i)
    phis[i]->addIncoming(next[i], latch);

  builder_.SetInsertPoint(exit);
  return current;
}

void KernelBuilder::vectorLoop(
    llvm::Value *lo, llvm::Value *hi,
    const std::function<void(llvm::Value *, int)> &body) {
  int w = vectorWidth_;
  // Full vectors up to lo + floor((hi - lo) / w) * w, then a scalar tail.
  llvm::Value *count = builder_.CreateSub(hi, lo);
  llvm::Value *vecEnd =
      add(lo, mul(builder_.CreateSDiv(count, i64(w)), i64(w)));
  loop(lo, vecEnd, w, [&](llvm::Value *i) { body(i, w); });
  loop(vecEnd, hi, 1, [&](llvm::Value *i) { body(i, 1); });
}

void KernelBuilder::vectorLoop(
    llvm::Value *lo, llvm::Value *hi, int width,
    const std::function<void(llvm::Value *, int)> &body) {
  if (width <= 1) {
    loop(lo, hi, 1, [&](llvm::Value *i) { body(i, 1); });
    return;
  }
  llvm::Value *count = builder_.CreateSub(hi, lo);
  llvm::Value *vecEnd =
      add(lo, mul(builder_.CreateSDiv(count, i64(width)), i64(width)));
  loop(lo, vecEnd, width, [&](llvm::Value *i) { body(i, width); });
  loop(vecEnd, hi, 1, [&](llvm::Value *i) { body(i, 1); });
}

int KernelBuilder::widthFor(int64_t n) const {
  int w = vectorWidth_;
  while (w > 4 && w > n)
    w /= 2;
  return w <= n ? w : 1;
}

llvm::Value *KernelBuilder::laneIndices(int width, llvm::Value *base) {
  if (width == 1)
    return base;
  llvm::SmallVector<llvm::Constant *, 16> lanes;
  for (int l = 0; l < width; ++l)
    lanes.push_back(builder_.getInt64(l));
  return builder_.CreateAdd(builder_.CreateVectorSplat(width, base),
                            llvm::ConstantVector::get(lanes));
}

void KernelBuilder::ifThen(llvm::Value *cond,
                           const std::function<void()> &then) {
  llvm::BasicBlock *thenBB = llvm::BasicBlock::Create(ctx(), "then", fn_);
  llvm::BasicBlock *cont = llvm::BasicBlock::Create(ctx(), "endif", fn_);
  builder_.CreateCondBr(cond, thenBB, cont);
  builder_.SetInsertPoint(thenBB);
  then();
  builder_.CreateBr(cont);
  builder_.SetInsertPoint(cont);
}

void KernelBuilder::ifThenElse(llvm::Value *cond,
                               const std::function<void()> &then,
                               const std::function<void()> &otherwise) {
  llvm::BasicBlock *thenBB = llvm::BasicBlock::Create(ctx(), "then", fn_);
  llvm::BasicBlock *elseBB = llvm::BasicBlock::Create(ctx(), "else", fn_);
  llvm::BasicBlock *cont = llvm::BasicBlock::Create(ctx(), "endif", fn_);
  builder_.CreateCondBr(cond, thenBB, elseBB);
  builder_.SetInsertPoint(thenBB);
  then();
  builder_.CreateBr(cont);
  builder_.SetInsertPoint(elseBB);
  otherwise();
  builder_.CreateBr(cont);
  builder_.SetInsertPoint(cont);
}

llvm::Value *KernelBuilder::elementPtr(llvm::Value *base, llvm::Value *idx,
                                       llvm::Type *elemTy) {
  if (!elemTy)
    elemTy = builder_.getFloatTy();
  return builder_.CreateInBoundsGEP(elemTy, base, idx);
}

llvm::Value *KernelBuilder::loadF32(llvm::Value *base, llvm::Value *idx) {
  return builder_.CreateLoad(builder_.getFloatTy(), elementPtr(base, idx));
}

llvm::Value *KernelBuilder::loadI32(llvm::Value *base, llvm::Value *idx) {
  llvm::Type *t = builder_.getInt32Ty();
  return builder_.CreateLoad(t, elementPtr(base, idx, t));
}

void KernelBuilder::storeF32(llvm::Value *base, llvm::Value *idx,
                             llvm::Value *v) {
  builder_.CreateStore(v, elementPtr(base, idx));
}

llvm::Type *KernelBuilder::floatType(int width) {
  if (width == 1)
    return builder_.getFloatTy();
  return llvm::FixedVectorType::get(builder_.getFloatTy(), width);
}

llvm::Value *KernelBuilder::load(llvm::Value *base, llvm::Value *idx,
                                 int width) {
  return builder_.CreateAlignedLoad(floatType(width), elementPtr(base, idx),
                                    llvm::Align(4));
}

llvm::Value *KernelBuilder::loadWhole(llvm::Value *base, llvm::Value *idx,
                                      int width) {
  // An empty asm that returns its operand in a vector register: the load
  // has a use the backend cannot merge with the select.
  llvm::Value *v = load(base, idx, width);
  auto *type = llvm::FunctionType::get(v->getType(), {v->getType()}, false);
  return builder_.CreateCall(
      llvm::InlineAsm::get(type, "", "=v,0", /*hasSideEffects=*/false), {v});
}

void KernelBuilder::store(llvm::Value *base, llvm::Value *idx, llvm::Value *v) {
  builder_.CreateAlignedStore(v, elementPtr(base, idx), llvm::Align(4));
}

llvm::Value *KernelBuilder::stackBuffer(int64_t count, llvm::Type *elem) {
  llvm::BasicBlock &entry = fn_->getEntryBlock();
  llvm::IRBuilder<> at(&entry, entry.getFirstInsertionPt());
  auto *a = at.CreateAlloca(llvm::ArrayType::get(elem, count));
  a->setAlignment(llvm::Align(64));
  return a;
}

void KernelBuilder::withHeapBuffer(
    int64_t bytes, const std::function<void(llvm::Value *)> &body,
    const std::function<void()> &onNull) {
  auto &b = builder_;
  llvm::FunctionCallee mallocFn =
      module().getOrInsertFunction("malloc", b.getPtrTy(), b.getInt64Ty());
  llvm::FunctionCallee freeFn =
      module().getOrInsertFunction("free", b.getVoidTy(), b.getPtrTy());
  llvm::Value *buffer = b.CreateCall(mallocFn, {i64(bytes)});
  ifThenElse(b.CreateIsNull(buffer), onNull, [&] {
    body(buffer);
    b.CreateCall(freeFn, {buffer});
  });
}

void KernelBuilder::zero(llvm::Value *base, llvm::Value *begin,
                         llvm::Value *count) {
  builder_.CreateMemSet(elementPtr(base, begin), builder_.getInt8(0),
                        builder_.CreateMul(count, i64(4)), llvm::Align(4));
}

llvm::Value *KernelBuilder::splat(int width, llvm::Value *scalar) {
  if (width == 1)
    return scalar;
  return builder_.CreateVectorSplat(width, scalar);
}

llvm::Value *KernelBuilder::fma(llvm::Value *a, llvm::Value *b,
                                llvm::Value *c) {
  return builder_.CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()},
                                  {a, b, c});
}

llvm::Value *KernelBuilder::fmax(llvm::Value *a, llvm::Value *b) {
  return builder_.CreateIntrinsic(llvm::Intrinsic::maxnum, {a->getType()},
                                  {a, b});
}

llvm::Value *KernelBuilder::unary(llvm::Intrinsic::ID id, llvm::Value *v) {
  return builder_.CreateIntrinsic(id, {v->getType()}, {v});
}

llvm::Value *KernelBuilder::reduceAdd(llvm::Value *v) {
  auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(v->getType());
  if (!vt)
    return v;
  // Pairwise halving: a fixed order, so results do not depend on how LLVM
  // would otherwise reassociate.
  unsigned n = vt->getNumElements();
  while (n > 1) {
    unsigned half = n / 2;
    llvm::SmallVector<int, 16> lo, hi;
    for (unsigned i = 0; i < half; ++i) {
      lo.push_back(i);
      hi.push_back(i + half);
    }
    v = builder_.CreateFAdd(builder_.CreateShuffleVector(v, lo),
                            builder_.CreateShuffleVector(v, hi));
    n = half;
  }
  return builder_.CreateExtractElement(v, uint64_t(0));
}

void KernelBuilder::keepLoopsAsEmitted() {
  // The last block may still lack its terminator; it then has no successors,
  // which the dominator tree handles.
  llvm::DominatorTree dt(*fn_);
  llvm::LoopInfo loops(dt);
  llvm::LLVMContext &c = ctx();
  for (llvm::Loop *l : loops.getLoopsInPreorder()) {
    llvm::Metadata *ops[] = {
        nullptr,
        llvm::MDNode::get(c,
                          llvm::MDString::get(c, "llvm.loop.unroll.disable")),
        llvm::MDNode::get(
            c, {llvm::MDString::get(c, "llvm.loop.vectorize.enable"),
                llvm::ConstantAsMetadata::get(builder_.getFalse())})};
    llvm::MDNode *id = llvm::MDNode::getDistinct(c, ops);
    id->replaceOperandWith(0, id); // a loop ID refers to itself
    l->setLoopID(id);
  }
}

llvm::Value *KernelBuilder::computeOperand(llvm::Value *v, int operand) {
  if (!bfloat16_)
    return v;
  if (operand >= 0 && operand < static_cast<int>(op_.operands.size()) &&
      ir::isRoundedToBfloat16(graph_, op_.operands[operand]))
    return v;
  return roundToBfloat16(v);
}

llvm::Value *KernelBuilder::loadPairs(llvm::Value *base, llvm::Value *idx,
                                      int width) {
  llvm::Type *ty = builder_.getInt32Ty();
  if (width > 1)
    ty = llvm::FixedVectorType::get(ty, width);
  return builder_.CreateAlignedLoad(
      ty, elementPtr(base, idx, builder_.getInt32Ty()), llvm::Align(4));
}

llvm::Value *KernelBuilder::dotBfloat16Pairs(llvm::Value *acc, llvm::Value *a,
                                             llvm::Value *b) {
  auto &bld = builder_;
  llvm::Type *wordTy = a->getType();
  unsigned lanes = 1;
  if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(wordTy))
    lanes = vt->getNumElements();
  if (bfloat16Dot_ && (lanes == 4 || lanes == 8 || lanes == 16)) {
    llvm::Intrinsic::ID id =
        lanes == 16  ? llvm::Intrinsic::x86_avx512bf16_dpbf16ps_512
        : lanes == 8 ? llvm::Intrinsic::x86_avx512bf16_dpbf16ps_256
                     : llvm::Intrinsic::x86_avx512bf16_dpbf16ps_128;
    llvm::Type *pairsTy =
        llvm::FixedVectorType::get(bld.getBFloatTy(), 2 * lanes);
    return bld.CreateIntrinsic(
        id, {},
        {acc, bld.CreateBitCast(a, pairsTy), bld.CreateBitCast(b, pairsTy)});
  }
  auto c = [&](uint32_t x) { return llvm::ConstantInt::get(wordTy, x); };
  llvm::Type *fTy = acc->getType();
  auto odd = [&](llvm::Value *w) {
    return bld.CreateBitCast(bld.CreateAnd(w, c(0xffff0000u)), fTy);
  };
  auto even = [&](llvm::Value *w) {
    return bld.CreateBitCast(bld.CreateShl(w, c(16)), fTy);
  };
  acc = fma(odd(a), odd(b), acc);
  return fma(even(a), even(b), acc);
}

llvm::Value *KernelBuilder::bfloat16Halves(llvm::Value *v) {
  auto &b = builder_;
  unsigned lanes = 1;
  if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(v->getType()))
    lanes = vt->getNumElements();
  auto vec = [&](llvm::Type *elem, unsigned n) -> llvm::Type * {
    return n == 1 ? elem : llvm::FixedVectorType::get(elem, n);
  };
  unsigned group = lanes % 16 == 0 ? 16 : lanes == 8 ? 8 : 0;
  if (bfloat16Dot_ && group) {
    llvm::Intrinsic::ID id =
        group == 16 ? llvm::Intrinsic::x86_avx512bf16_cvtneps2bf16_512
                    : llvm::Intrinsic::x86_avx512bf16_cvtneps2bf16_256;
    std::vector<llvm::Value *> parts;
    for (unsigned at = 0; at < lanes; at += group) {
      llvm::SmallVector<int, 16> mask;
      for (unsigned l = 0; l < group; ++l)
        mask.push_back(static_cast<int>(at + l));
      llvm::Value *part =
          group == lanes ? v : b.CreateShuffleVector(v, v, mask);
      parts.push_back(b.CreateBitCast(b.CreateIntrinsic(id, {}, {part}),
                                      vec(b.getInt16Ty(), group)));
    }
    // Concatenate the groups pairwise until one vector is left.
    while (parts.size() > 1) {
      std::vector<llvm::Value *> joined;
      for (size_t k = 0; k < parts.size(); k += 2) {
        auto n = llvm::cast<llvm::FixedVectorType>(parts[k]->getType())
                     ->getNumElements();
        llvm::SmallVector<int, 32> mask;
        for (unsigned l = 0; l < 2 * n; ++l)
          mask.push_back(static_cast<int>(l));
        joined.push_back(b.CreateShuffleVector(parts[k], parts[k + 1], mask));
      }
      parts = std::move(joined);
    }
    return parts[0];
  }
  llvm::Type *iTy = vec(b.getInt32Ty(), lanes);
  auto c = [&](uint32_t x) { return llvm::ConstantInt::get(iTy, x); };
  llvm::Value *x = v;
  if (bfloat16Dot_) {
    // vcvtneps2bf16 reads a denormal as a zero of its sign.
    llvm::Value *bits = b.CreateBitCast(v, iTy);
    llvm::Value *denormal =
        b.CreateICmpEQ(b.CreateAnd(bits, c(0x7f800000u)), c(0));
    x = b.CreateBitCast(
        b.CreateSelect(denormal, b.CreateAnd(bits, c(0x80000000u)), bits),
        v->getType());
  }
  return b.CreateTrunc(
      b.CreateLShr(b.CreateBitCast(roundToBfloat16(x), iTy), c(16)),
      vec(b.getInt16Ty(), lanes));
}

llvm::Value *KernelBuilder::pairWords(llvm::Value *even, llvm::Value *odd) {
  return wordsOfHalves(bfloat16Halves(even), bfloat16Halves(odd));
}

llvm::Value *KernelBuilder::wordsOfHalves(llvm::Value *lo, llvm::Value *hi) {
  auto &b = builder_;
  auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(lo->getType());
  if (!vt) {
    llvm::Type *i32 = b.getInt32Ty();
    return b.CreateOr(b.CreateZExt(lo, i32),
                      b.CreateShl(b.CreateZExt(hi, i32), 16));
  }
  unsigned n = vt->getNumElements();
  llvm::SmallVector<int, 32> interleave;
  for (unsigned l = 0; l < n; ++l) {
    interleave.push_back(static_cast<int>(l));
    interleave.push_back(static_cast<int>(n + l));
  }
  return b.CreateBitCast(b.CreateShuffleVector(lo, hi, interleave),
                         llvm::FixedVectorType::get(b.getInt32Ty(), n));
}

llvm::Value *KernelBuilder::roundToBfloat16(llvm::Value *v) {
  auto &b = builder_;
  llvm::Type *fTy = v->getType();
  llvm::Type *iTy = b.getInt32Ty();
  if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(fTy))
    iTy = llvm::FixedVectorType::get(iTy, vt->getNumElements());
  auto c = [&](uint32_t x) { return llvm::ConstantInt::get(iTy, x); };
  llvm::Value *bits = b.CreateBitCast(v, iTy);
  // Round to nearest even on the upper 16 bits: add 0x7fff plus the kept
  // part's lowest bit, then drop the lower half.
  llvm::Value *odd = b.CreateAnd(b.CreateLShr(bits, c(16)), c(1));
  llvm::Value *rounded = b.CreateAnd(
      b.CreateAdd(bits, b.CreateAdd(odd, c(0x7fff))), c(0xffff0000u));
  // A NaN stays a (quiet) NaN rather than carrying into the exponent.
  llvm::Value *quiet =
      b.CreateOr(b.CreateAnd(bits, c(0xffff0000u)), c(0x00400000u));
  llvm::Value *isNan = b.CreateFCmpUNO(v, v);
  return b.CreateBitCast(b.CreateSelect(isNan, quiet, rounded), fTy);
}

} // namespace cnnc::codegen
