// Batch normalization kernels. x is viewed as [R, C]: C channels (the last
// axis) and R = every other axis. The training kernels reduce over R and
// are partitioned over chunks of channels, so every statistic is summed by
// one thread in an order fixed by the shape (rows r = 0..3 mod 4 in four
// partial sums, combined as (s0 + s1) + (s2 + s3)), in double: results are
// bit-identical for any thread count.
//
// Both forward kernels normalize the same way, in f32, from f32 statistics:
//   scale = gamma / sqrt(variance + epsilon)   (1 / sqrt(...) without gamma)
//   y     = fma(x - mean, scale, beta)         (beta 0 without center)
// so batch_norm_inference on a batch's own statistics reproduces
// batch_norm's output exactly.
#include "codegen/Kernels.h"

namespace cnnc::codegen {

namespace {

using llvm::Value;

// The layout of a normalization op's optional operands.
struct NormOp {
  int64_t rows, channels;
  float epsilon;
  int gamma = -1, beta = -1; // operand indices, -1 when absent
};

NormOp normOp(KernelBuilder &kb, int fixedOperands) {
  const ir::TensorType &x = kb.operandType(0);
  NormOp n;
  n.channels = x.shape.back();
  n.rows = x.numElements() / n.channels;
  n.epsilon = static_cast<float>(kb.attrs().getFloat(ir::AttrName::Epsilon));
  int next = fixedOperands;
  if (kb.attrs().getInt(ir::AttrName::Scale, 1) != 0)
    n.gamma = next++;
  if (kb.op().kind != ir::OpKind::BatchNormGrad &&
      kb.op().kind != ir::OpKind::BatchNormInferenceGrad &&
      kb.attrs().getInt(ir::AttrName::Center, 1) != 0)
    n.beta = next++;
  return n;
}

llvm::Type *doubleType(KernelBuilder &kb, int width) {
  llvm::Type *d = kb.b().getDoubleTy();
  return width == 1 ? d : llvm::FixedVectorType::get(d, width);
}

Value *splatDouble(KernelBuilder &kb, int width, double v) {
  return llvm::ConstantFP::get(doubleType(kb, width), v);
}

Value *toDouble(KernelBuilder &kb, Value *v, int width) {
  return kb.b().CreateFPExt(v, doubleType(kb, width));
}

Value *toFloat(KernelBuilder &kb, Value *v, int width) {
  return kb.b().CreateFPTrunc(v, kb.floatType(width));
}

// Channels [colBegin, colEnd) of this thread: chunks of the vector width.
void forChannelChunks(KernelBuilder &kb, int64_t channels,
                      const std::function<void(Value *, int)> &body) {
  int w = kb.widthFor(channels);
  int64_t chunks = (channels + w - 1) / w;
  auto [chunkBegin, chunkEnd] = kb.partition(chunks);
  Value *colBegin = kb.mul(chunkBegin, w);
  Value *colEnd = kb.min(kb.mul(chunkEnd, w), kb.i64(channels));
  kb.vectorLoop(colBegin, colEnd, w, body);
}

// Sums over rows r of each of terms(r) (several sums share one pass over
// the rows) in double, in the fixed order described above.
std::vector<Value *>
sumRows(KernelBuilder &kb, int64_t rows, int width, size_t count,
        const std::function<std::vector<Value *>(Value *)> &terms) {
  auto &b = kb.b();
  const int lanes = 4;
  int64_t fullRows = rows / lanes * lanes;
  // part[l * count + k]: lane l's partial sum of term k.
  std::vector<Value *> part = kb.loopCarried(
      kb.i64(0), kb.i64(fullRows), lanes,
      std::vector<Value *>(lanes * count, splatDouble(kb, width, 0.0)),
      [&](Value *r, const std::vector<Value *> &cur) {
        std::vector<Value *> next;
        for (int l = 0; l < lanes; ++l) {
          std::vector<Value *> t = terms(kb.add(r, l));
          for (size_t k = 0; k < count; ++k)
            next.push_back(b.CreateFAdd(cur[l * count + k], t[k]));
        }
        return next;
      });
  part = kb.loopCarried(kb.i64(fullRows), kb.i64(rows), 1, part,
                        [&](Value *r, const std::vector<Value *> &cur) {
                          std::vector<Value *> next = cur;
                          std::vector<Value *> t = terms(r);
                          for (size_t k = 0; k < count; ++k)
                            next[k] = b.CreateFAdd(cur[k], t[k]);
                          return next;
                        });
  std::vector<Value *> sums;
  for (size_t k = 0; k < count; ++k)
    sums.push_back(
        b.CreateFAdd(b.CreateFAdd(part[k], part[count + k]),
                     b.CreateFAdd(part[2 * count + k], part[3 * count + k])));
  return sums;
}

// gamma / sqrt(variance + epsilon) for `width` channels from `col`.
Value *normScale(KernelBuilder &kb, const NormOp &n, Value *variance,
                 Value *col, int width) {
  auto &b = kb.b();
  Value *s = kb.unary(llvm::Intrinsic::sqrt,
                      b.CreateFAdd(variance, kb.splat(width, n.epsilon)));
  Value *gamma = n.gamma >= 0 ? kb.load(kb.operand(n.gamma), col, width)
                              : kb.splat(width, 1.0f);
  return b.CreateFDiv(gamma, s);
}

Value *normShift(KernelBuilder &kb, const NormOp &n, Value *col, int width) {
  return n.beta >= 0 ? kb.load(kb.operand(n.beta), col, width)
                     : kb.splat(width, 0.0f);
}

// y = fma(x - mean, scale, beta).
Value *normalize(KernelBuilder &kb, Value *x, Value *mean, Value *scale,
                 Value *beta) {
  return kb.fma(kb.b().CreateFSub(x, mean), scale, beta);
}

} // namespace

// batch_norm(x, [gamma], [beta]) -> (y, mean, variance): per channel, one
// pass sums d = x - k and d^2 in double, with k the channel's value in row
// 0 (a shift inside the data, so the subtraction below does not cancel
// catastrophically); mean = k + S1/R and the biased variance S2/R -
// (S1/R)^2, both rounded to f32; a second pass writes y.
void emitBatchNorm(KernelBuilder &kb) {
  NormOp n = normOp(kb, 1);
  auto &b = kb.b();
  int64_t c = n.channels;
  double invRows = 1.0 / static_cast<double>(n.rows);
  forChannelChunks(kb, c, [&](Value *col, int w) {
    auto xAt = [&](Value *r) {
      return kb.load(kb.operand(0), kb.add(kb.mul(r, c), col), w);
    };
    Value *shift = toDouble(kb, xAt(kb.i64(0)), w);
    std::vector<Value *> s = sumRows(kb, n.rows, w, 2, [&](Value *r) {
      Value *d = b.CreateFSub(toDouble(kb, xAt(r), w), shift);
      return std::vector<Value *>{d, b.CreateFMul(d, d)};
    });
    Value *m1 = b.CreateFMul(s[0], splatDouble(kb, w, invRows));
    Value *m2 = b.CreateFMul(s[1], splatDouble(kb, w, invRows));
    Value *varD = b.CreateFSub(m2, b.CreateFMul(m1, m1));
    // Rounding can leave a tiny negative value for a constant channel.
    varD = b.CreateSelect(b.CreateFCmpOLT(varD, splatDouble(kb, w, 0.0)),
                          splatDouble(kb, w, 0.0), varD);
    Value *mean = toFloat(kb, b.CreateFAdd(shift, m1), w);
    Value *variance = toFloat(kb, varD, w);
    kb.store(kb.result(1), col, mean);
    kb.store(kb.result(2), col, variance);
    Value *scale = normScale(kb, n, variance, col, w);
    Value *beta = normShift(kb, n, col, w);
    kb.loop(kb.i64(0), kb.i64(n.rows), 1, [&](Value *r) {
      kb.store(kb.result(0), kb.add(kb.mul(r, c), col),
               normalize(kb, xAt(r), mean, scale, beta));
    });
  });
}

// batch_norm_grad(x, mean, variance, dy, [gamma]) -> (dx, dgamma, dbeta).
// With inv = 1 / sqrt(variance + epsilon) and xhat = (x - mean) inv:
//   dbeta  = sum dy,  dgamma = sum dy xhat      (double, one pass)
//   dx     = gamma inv (dy - dbeta / R - xhat dgamma / R) (f32)
// the gradient through the batch mean and variance included.
void emitBatchNormGrad(KernelBuilder &kb) {
  NormOp n = normOp(kb, 4);
  auto &b = kb.b();
  int64_t c = n.channels;
  double invRows = 1.0 / static_cast<double>(n.rows);
  forChannelChunks(kb, c, [&](Value *col, int w) {
    auto at = [&](Value *r) { return kb.add(kb.mul(r, c), col); };
    Value *meanD = toDouble(kb, kb.load(kb.operand(1), col, w), w);
    Value *varD = toDouble(kb, kb.load(kb.operand(2), col, w), w);
    Value *invD = b.CreateFDiv(
        splatDouble(kb, w, 1.0),
        kb.unary(llvm::Intrinsic::sqrt,
                 b.CreateFAdd(varD, splatDouble(kb, w, n.epsilon))));
    std::vector<Value *> sums = sumRows(kb, n.rows, w, 2, [&](Value *r) {
      Value *x = toDouble(kb, kb.load(kb.operand(0), at(r), w), w);
      Value *dy = toDouble(kb, kb.load(kb.operand(3), at(r), w), w);
      return std::vector<Value *>{
          dy, b.CreateFMul(dy, b.CreateFMul(b.CreateFSub(x, meanD), invD))};
    });
    Value *dbeta = sums[0], *dgamma = sums[1];
    kb.store(kb.result(1), col, toFloat(kb, dgamma, w));
    kb.store(kb.result(2), col, toFloat(kb, dbeta, w));
    Value *gammaD = n.gamma >= 0
                        ? toDouble(kb, kb.load(kb.operand(n.gamma), col, w), w)
                        : splatDouble(kb, w, 1.0);
    Value *mean = kb.load(kb.operand(1), col, w);
    Value *inv = toFloat(kb, invD, w);
    Value *k = toFloat(kb, b.CreateFMul(gammaD, invD), w);
    Value *m1 =
        toFloat(kb, b.CreateFMul(dbeta, splatDouble(kb, w, invRows)), w);
    Value *m2 =
        toFloat(kb, b.CreateFMul(dgamma, splatDouble(kb, w, invRows)), w);
    kb.loop(kb.i64(0), kb.i64(n.rows), 1, [&](Value *r) {
      Value *x = kb.load(kb.operand(0), at(r), w);
      Value *dy = kb.load(kb.operand(3), at(r), w);
      Value *xhat = b.CreateFMul(b.CreateFSub(x, mean), inv);
      Value *t = kb.fma(b.CreateFNeg(xhat), m2, b.CreateFSub(dy, m1));
      kb.store(kb.result(0), at(r), b.CreateFMul(t, k));
    });
  });
}

namespace {
// The inference ops' loop: rows in blocks of 64, partitioned over the
// threads, and channel vectors within a block. `column(col, width)` emits
// what is per channel once per block and returns the body for the element
// index i of each row.
template <typename Column>
void forRowBlocks(KernelBuilder &kb, const NormOp &n, const Column &column) {
  int64_t c = n.channels;
  int w = kb.widthFor(c);
  const int64_t block = 64;
  auto [begin, end] = kb.partition(n.rows);
  kb.loop(begin, end, block, [&](Value *r0) {
    Value *r1 = kb.min(kb.add(r0, block), end);
    kb.vectorLoop(kb.i64(0), kb.i64(c), w, [&](Value *col, int width) {
      auto body = column(col, width);
      kb.loop(r0, r1, 1, [&](Value *r) { body(kb.add(kb.mul(r, c), col)); });
    });
  });
}
} // namespace

// batch_norm_inference(x, mean, variance, [gamma], [beta]) -> y, an
// elementwise op: partitioned over rows, in blocks of rows so that each
// channel vector's scale is computed once per block.
void emitBatchNormInference(KernelBuilder &kb) {
  NormOp n = normOp(kb, 3);
  forRowBlocks(kb, n, [&](Value *col, int width) {
    Value *mean = kb.load(kb.operand(1), col, width);
    Value *variance = kb.load(kb.operand(2), col, width);
    Value *scale = normScale(kb, n, variance, col, width);
    Value *beta = normShift(kb, n, col, width);
    return [&kb, mean, scale, beta, width](Value *i) {
      kb.store(
          kb.result(0), i,
          normalize(kb, kb.load(kb.operand(0), i, width), mean, scale, beta));
    };
  });
}

// dx = dy * scale, scale as batch_norm_inference's (the derivative of
// fma(x - mean, scale, beta) in x).
void emitBatchNormInferenceGrad(KernelBuilder &kb) {
  NormOp n = normOp(kb, 2);
  forRowBlocks(kb, n, [&](Value *col, int width) {
    Value *scale =
        normScale(kb, n, kb.load(kb.operand(1), col, width), col, width);
    return [&kb, scale, width](Value *i) {
      kb.store(kb.result(0), i,
               kb.b().CreateFMul(kb.load(kb.operand(0), i, width), scale));
    };
  });
}

// moving = moving * momentum + value * (1 - momentum), in place (Keras's
// assign of the same expression, in f32).
void emitMovingAverageUpdate(KernelBuilder &kb) {
  auto &b = kb.b();
  double momentum = kb.attrs().getFloat(ir::AttrName::Momentum);
  float keep = static_cast<float>(momentum);
  float take = static_cast<float>(1.0 - momentum);
  auto [begin, end] = kb.partition(kb.operandType(0).numElements());
  kb.vectorLoop(begin, end, [&](Value *i, int w) {
    Value *m = kb.load(kb.operand(0), i, w);
    Value *v = kb.load(kb.operand(1), i, w);
    kb.store(kb.operand(0), i,
             b.CreateFAdd(b.CreateFMul(m, kb.splat(w, keep)),
                          b.CreateFMul(v, kb.splat(w, take))));
  });
}

} // namespace cnnc::codegen
