// Classification head kernels: softmax, sparse softmax cross-entropy (loss
// and gradient) and the accuracy count.
//
// Labels outside [0, C) never crash: such a row adds 0 to the loss (it still
// counts in the batch mean), gets the gradient probs / N with no one-hot,
// and is never counted as correct.
#include "codegen/Kernels.h"

namespace cnnc::codegen {

namespace {

using llvm::Value;

// Row-wise helpers over x[row * C + c]. Vectors of kb.widthFor(C) lanes
// accumulate the full-vector part, which is reduced in a fixed order before
// the scalar tail is folded in, so each row's result depends only on C.
struct Rows {
  KernelBuilder &kb;
  int64_t c;
  int w;
  int64_t vecEnd;

  Rows(KernelBuilder &kb, int64_t c)
      : kb(kb), c(c), w(kb.widthFor(c)), vecEnd(w > 1 ? c / w * w : 0) {}

  // Folds f(acc, x[rowStart + j .. + width]) over the row: vector part with
  // `vecInit`, reduced by `reduce`, then the scalar tail.
  Value *fold(Value *rowStart, float init,
              const std::function<Value *(Value *, Value *, Value *)> &f,
              const std::function<Value *(Value *)> &reduce) {
    Value *acc = kb.f32(init);
    if (vecEnd > 0) {
      Value *v = kb.loopCarried(
          kb.i64(0), kb.i64(vecEnd), w, {kb.splat(w, init)},
          [&](Value *j, const std::vector<Value *> &cur) {
            return std::vector<Value *>{f(cur[0], j, kb.add(rowStart, j))};
          })[0];
      acc = reduce(v);
    }
    if (vecEnd < c)
      acc = kb.loopCarried(kb.i64(vecEnd), kb.i64(c), 1, {acc},
                           [&](Value *j, const std::vector<Value *> &cur) {
                             return std::vector<Value *>{
                                 f(cur[0], j, kb.add(rowStart, j))};
                           })[0];
    return acc;
  }

  int widthOf(Value *v) {
    if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(v->getType()))
      return static_cast<int>(vt->getNumElements());
    return 1;
  }

  Value *max(Value *x, Value *rowStart) {
    return fold(
        rowStart, -INFINITY,
        [&](Value *acc, Value *, Value *i) {
          return kb.fmax(acc, kb.load(x, i, widthOf(acc)));
        },
        [&](Value *v) { return kb.b().CreateFPMaxReduce(v); });
  }

  // sum_j exp(x[j] - m); also stores the exponentials to `out` if given.
  Value *sumExp(Value *x, Value *rowStart, Value *m, Value *out) {
    return fold(
        rowStart, 0.0f,
        [&](Value *acc, Value *, Value *i) {
          int width = widthOf(acc);
          Value *e = kb.unary(
              llvm::Intrinsic::exp,
              kb.b().CreateFSub(kb.load(x, i, width), kb.splat(width, m)));
          if (out)
            kb.store(out, i, e);
          return kb.b().CreateFAdd(acc, e);
        },
        [&](Value *v) { return kb.reduceAdd(v); });
  }

  // probs[row] = softmax(x[row]), max-subtracted.
  void softmax(Value *x, Value *out, Value *rowStart) {
    Value *m = max(x, rowStart);
    Value *s = sumExp(x, rowStart, m, out);
    kb.vectorLoop(kb.i64(0), kb.i64(c), w, [&](Value *j, int width) {
      Value *i = kb.add(rowStart, j);
      kb.store(out, i,
               kb.b().CreateFDiv(kb.load(out, i, width), kb.splat(width, s)));
    });
  }
};

// 0 <= label < C as an i1, and the label as i64.
std::pair<Value *, Value *> checkedLabel(KernelBuilder &kb, Value *row,
                                         int64_t c) {
  Value *label =
      kb.b().CreateSExt(kb.loadI32(kb.operand(1), row), kb.b().getInt64Ty());
  Value *valid = kb.b().CreateICmpULT(label, kb.i64(c)); // negative: huge
  return {valid, label};
}

} // namespace

void emitSoftmax(KernelBuilder &kb) {
  int64_t n = kb.operandType(0).shape[0], c = kb.operandType(0).shape[1];
  Rows rows(kb, c);
  auto [begin, end] = kb.partition(n);
  kb.loop(begin, end, 1, [&](Value *r) {
    rows.softmax(kb.operand(0), kb.result(0), kb.mul(r, c));
  });
}

// probs rows are partitioned over threads. Threads do not synchronize within
// a kernel, so thread 0 recomputes every row's logsumexp from the logits for
// the loss: loss = (1/N) sum_n (log(sum_j exp(x_nj - m_n)) - (x_n,label -
// m_n)), rows summed in order in f64.
void emitSoftmaxCrossEntropy(KernelBuilder &kb) {
  auto &b = kb.b();
  int64_t n = kb.operandType(0).shape[0], c = kb.operandType(0).shape[1];
  Rows rows(kb, c);
  auto [begin, end] = kb.partition(n);
  kb.loop(begin, end, 1, [&](Value *r) {
    rows.softmax(kb.operand(0), kb.result(1), kb.mul(r, c));
  });
  kb.onThreadZero([&] {
    Value *total = kb.loopCarried(
        kb.i64(0), kb.i64(n), 1, {llvm::ConstantFP::get(b.getDoubleTy(), 0)},
        [&](Value *r, const std::vector<Value *> &cur) {
          Value *rowStart = kb.mul(r, c);
          Value *m = rows.max(kb.operand(0), rowStart);
          Value *s = rows.sumExp(kb.operand(0), rowStart, m, nullptr);
          auto [valid, label] = checkedLabel(kb, r, c);
          Value *safe = b.CreateSelect(valid, label, kb.i64(0));
          Value *picked = b.CreateFSub(
              kb.loadF32(kb.operand(0), kb.add(rowStart, safe)), m);
          Value *loss = b.CreateFSub(kb.unary(llvm::Intrinsic::log, s), picked);
          loss = b.CreateSelect(valid, loss, kb.f32(0.0f));
          return std::vector<Value *>{
              b.CreateFAdd(cur[0], b.CreateFPExt(loss, b.getDoubleTy()))};
        })[0];
    Value *mean =
        b.CreateFDiv(total, llvm::ConstantFP::get(b.getDoubleTy(), double(n)));
    kb.storeF32(kb.result(0), kb.i64(0), b.CreateFPTrunc(mean, b.getFloatTy()));
  });
}

// dlogits = (probs - onehot(label)) / N, partitioned over rows.
void emitSoftmaxCrossEntropyGrad(KernelBuilder &kb) {
  auto &b = kb.b();
  int64_t n = kb.operandType(0).shape[0], c = kb.operandType(0).shape[1];
  int w = kb.widthFor(c);
  auto [begin, end] = kb.partition(n);
  kb.loop(begin, end, 1, [&](Value *r) {
    Value *rowStart = kb.mul(r, c);
    // An invalid label matches no column.
    auto [valid, label] = checkedLabel(kb, r, c);
    Value *target = b.CreateSelect(valid, label, kb.i64(-1));
    kb.vectorLoop(kb.i64(0), kb.i64(c), w, [&](Value *j, int width) {
      Value *i = kb.add(rowStart, j);
      Value *hit = b.CreateICmpEQ(
          kb.laneIndices(width, j),
          width == 1 ? target : b.CreateVectorSplat(width, target));
      Value *onehot =
          b.CreateSelect(hit, kb.splat(width, 1.0f), kb.splat(width, 0.0f));
      Value *g = b.CreateFSub(kb.load(kb.operand(0), i, width), onehot);
      kb.store(kb.result(0), i,
               b.CreateFDiv(g, kb.splat(width, static_cast<float>(n))));
    });
  });
}

// Thread 0 counts the rows whose first maximum is at the label (a NaN never
// beats the running maximum).
void emitCountCorrect(KernelBuilder &kb) {
  auto &b = kb.b();
  int64_t n = kb.operandType(0).shape[0], c = kb.operandType(0).shape[1];
  kb.onThreadZero([&] {
    Value *count = kb.loopCarried(
        kb.i64(0), kb.i64(n), 1, {kb.i64(0)},
        [&](Value *r, const std::vector<Value *> &cur) {
          Value *rowStart = kb.mul(r, c);
          std::vector<Value *> best = kb.loopCarried(
              kb.i64(1), kb.i64(c), 1,
              {kb.loadF32(kb.operand(0), rowStart), kb.i64(0)},
              [&](Value *j, const std::vector<Value *> &bc) {
                Value *x = kb.loadF32(kb.operand(0), kb.add(rowStart, j));
                Value *better = b.CreateFCmpOGT(x, bc[0]);
                return std::vector<Value *>{b.CreateSelect(better, x, bc[0]),
                                            b.CreateSelect(better, j, bc[1])};
              });
          auto [valid, label] = checkedLabel(kb, r, c);
          Value *hit = b.CreateAnd(valid, b.CreateICmpEQ(label, best[1]));
          return std::vector<Value *>{
              kb.add(cur[0], b.CreateZExt(hit, b.getInt64Ty()))};
        })[0];
    kb.storeF32(kb.result(0), kb.i64(0), b.CreateSIToFP(count, b.getFloatTy()));
  });
}

} // namespace cnnc::codegen
