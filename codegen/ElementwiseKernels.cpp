// Elementwise kernels: binary arithmetic, activations, dropout.
#include "codegen/KernelParts.h"
#include "codegen/Kernels.h"
#include "support/Random.h"

#include <cmath>

namespace cnnc::codegen {

namespace {

// out[i] = f(a[i], b[i]) over this thread's share of the elements.
template <typename F> void emitBinary(KernelBuilder &kb, F f) {
  auto [begin, end] = kb.partition(kb.resultType(0).numElements());
  kb.vectorLoop(begin, end, [&](llvm::Value *i, int w) {
    llvm::Value *a = kb.load(kb.operand(0), i, w);
    llvm::Value *b = kb.load(kb.operand(1), i, w);
    kb.store(kb.result(0), i, f(a, b));
  });
}

} // namespace

void emitMul(KernelBuilder &kb) {
  emitBinary(kb, [&](llvm::Value *a, llvm::Value *b) {
    return kb.b().CreateFMul(a, b);
  });
}

void emitAdd(KernelBuilder &kb) {
  emitBinary(kb, [&](llvm::Value *a, llvm::Value *b) {
    return kb.b().CreateFAdd(a, b);
  });
}

namespace {

// out[i] = f(x[i]) over this thread's share of the elements.
template <typename F> void emitUnary(KernelBuilder &kb, F f) {
  auto [begin, end] = kb.partition(kb.resultType(0).numElements());
  kb.vectorLoop(begin, end, [&](llvm::Value *i, int w) {
    kb.store(kb.result(0), i, f(kb.load(kb.operand(0), i, w), w));
  });
}

} // namespace

void emitRoundToBfloat16(KernelBuilder &kb) {
  emitUnary(kb, [&](llvm::Value *x, int) { return kb.roundToBfloat16(x); });
}

namespace {

llvm::Type *wordsType(KernelBuilder &kb, int width) {
  llvm::Type *i32 = kb.b().getInt32Ty();
  return width == 1 ? i32 : llvm::FixedVectorType::get(i32, width);
}

void storeWords(KernelBuilder &kb, llvm::Value *base, llvm::Value *words,
                llvm::Value *at) {
  kb.b().CreateAlignedStore(words, kb.elementPtr(base, at, kb.b().getInt32Ty()),
                            llvm::Align(4));
}

// Words j0 <= j < j1 of one row of `n` floats at `row` packed along the row
// (words at `out`): 2w adjacent floats give w words; an odd n's last word
// has a zero high half.
void packRow(KernelBuilder &kb, llvm::Value *row, llvm::Value *out,
             llvm::Value *j0, llvm::Value *j1, int64_t n) {
  auto &b = kb.b();
  llvm::Value *full = kb.min(j1, kb.i64(n / 2));
  kb.vectorLoop(kb.min(j0, full), full, [&](llvm::Value *j, int w) {
    llvm::Value *x = kb.load(row, kb.mul(j, 2), 2 * w);
    storeWords(kb, out, b.CreateBitCast(kb.bfloat16Halves(x), wordsType(kb, w)),
               j);
  });
  if (n % 2 == 1)
    kb.ifThen(b.CreateAnd(b.CreateICmpSLE(j0, kb.i64(n / 2)),
                          b.CreateICmpSGT(j1, kb.i64(n / 2))),
              [&] {
                storeWords(kb, out,
                           kb.pairWords(kb.load(row, kb.i64(n - 1), 1),
                                        kb.splat(1, 0.0f)),
                           kb.i64(n / 2));
              });
}

// One axis: word [outer, j, inner] of x [outer, n, inner] (the pair axis
// in the middle) holds x[outer, 2j, inner] rounded to bfloat16 in its low
// half and x[outer, 2j + 1, inner] (zero past the end) in its high half:
// the layout of ir::packedBfloat16Pairs, little-endian.
void emitPackOneAxis(KernelBuilder &kb, int64_t axis) {
  auto &b = kb.b();
  const std::vector<int64_t> &s = kb.operandType(0).shape;
  int64_t outer = 1, inner = 1, n = s[axis], half = (n + 1) / 2;
  for (int64_t d = 0; d < axis; ++d)
    outer *= s[d];
  for (int64_t d = axis + 1; d < static_cast<int64_t>(s.size()); ++d)
    inner *= s[d];
  llvm::Value *x = kb.operand(0), *p = kb.result(0);
  if (inner == 1) {
    // Pairs of adjacent floats: rows of n, each packed along itself.
    auto [begin, end] = kb.partition(outer * half);
    if (n % 2 == 0) {
      packRow(kb, x, p, begin, end, outer * n);
      return;
    }
    kb.loop(b.CreateSDiv(begin, kb.i64(half)),
            b.CreateSDiv(kb.add(end, kb.i64(half - 1)), kb.i64(half)), 1,
            [&](llvm::Value *o) {
              llvm::Value *first = kb.mul(o, half);
              packRow(kb, kb.elementPtr(x, kb.mul(o, n), b.getFloatTy()),
                      kb.elementPtr(p, first, b.getInt32Ty()),
                      kb.max(b.CreateSub(begin, first), kb.i64(0)),
                      kb.min(b.CreateSub(end, first), kb.i64(half)), n);
            });
    return;
  }
  auto [begin, end] = kb.partition(outer * half);
  kb.loop(begin, end, 1, [&](llvm::Value *oj) {
    llvm::Value *o = b.CreateSDiv(oj, kb.i64(half));
    llvm::Value *j = b.CreateSRem(oj, kb.i64(half));
    llvm::Value *even =
        kb.mul(kb.add(kb.mul(o, n), kb.mul(j, 2)), kb.i64(inner));
    // An odd size's last pair has no second element.
    llvm::Value *hasOdd = b.CreateICmpSLT(kb.add(kb.mul(j, 2), 1), kb.i64(n));
    kb.vectorLoop(kb.i64(0), kb.i64(inner), [&](llvm::Value *i, int w) {
      llvm::Value *lo = kb.load(x, kb.add(even, i), w);
      // Without an odd element, load the even one again rather than read
      // past the end of x.
      llvm::Value *safe = b.CreateSelect(hasOdd, kb.add(kb.add(even, inner), i),
                                         kb.add(even, i));
      llvm::Value *hi =
          b.CreateSelect(hasOdd, kb.load(x, safe, w), kb.splat(w, 0.0f));
      storeWords(kb, p, kb.pairWords(lo, hi), kb.add(kb.mul(oj, inner), i));
    });
  });
}

// The first and the last axis of x [n, rows, c] from one read: per pair of
// images and row, the pair words along the batch, then each of the two
// rows (still in cache) packed along itself.
void emitPackFirstAndLast(KernelBuilder &kb, size_t firstResult) {
  auto &b = kb.b();
  const std::vector<int64_t> &s = kb.operandType(0).shape;
  int64_t n = s.front(), c = s.back(), rows = 1, half = (n + 1) / 2,
          words = (c + 1) / 2;
  for (size_t d = 1; d + 1 < s.size(); ++d)
    rows *= s[d];
  llvm::Value *x = kb.operand(0), *batch = kb.result(firstResult),
              *row = kb.result(1 - firstResult);
  llvm::Type *f32 = b.getFloatTy(), *i32 = b.getInt32Ty();
  auto [begin, end] = kb.partition(half * rows);
  kb.loop(begin, end, 1, [&](llvm::Value *kr) {
    llvm::Value *k = b.CreateSDiv(kr, kb.i64(rows));
    llvm::Value *r = b.CreateSRem(kr, kb.i64(rows));
    llvm::Value *evenRow = kb.add(kb.mul(kb.mul(k, 2), rows), r);
    llvm::Value *hasOdd = b.CreateICmpSLT(kb.add(kb.mul(k, 2), 1), kb.i64(n));
    // Without an odd image, the even row again rather than past the end.
    llvm::Value *oddRow =
        b.CreateSelect(hasOdd, kb.add(evenRow, kb.i64(rows)), evenRow);
    llvm::Value *even = kb.mul(evenRow, c), *odd = kb.mul(oddRow, c);
    if (c % 2 == 0) {
      // Each value converted once: an even row's words along itself are
      // its halves in order, so both layouts come from the same halves.
      llvm::Type *i16 = b.getInt16Ty();
      kb.vectorLoop(kb.i64(0), kb.i64(c), [&](llvm::Value *i, int w) {
        llvm::Value *lo = kb.bfloat16Halves(kb.load(x, kb.add(even, i), w));
        llvm::Value *hi = kb.bfloat16Halves(b.CreateSelect(
            hasOdd, kb.load(x, kb.add(odd, i), w), kb.splat(w, 0.0f)));
        storeWords(kb, batch, kb.wordsOfHalves(lo, hi),
                   kb.add(kb.mul(kr, c), i));
        b.CreateAlignedStore(lo, kb.elementPtr(row, kb.add(even, i), i16),
                             llvm::Align(2));
        kb.ifThen(hasOdd, [&] {
          b.CreateAlignedStore(hi, kb.elementPtr(row, kb.add(odd, i), i16),
                               llvm::Align(2));
        });
      });
      return;
    }
    kb.vectorLoop(kb.i64(0), kb.i64(c), [&](llvm::Value *i, int w) {
      llvm::Value *hi = b.CreateSelect(hasOdd, kb.load(x, kb.add(odd, i), w),
                                       kb.splat(w, 0.0f));
      storeWords(kb, batch, kb.pairWords(kb.load(x, kb.add(even, i), w), hi),
                 kb.add(kb.mul(kr, c), i));
    });
    auto alongRow = [&](llvm::Value *at) {
      packRow(kb, kb.elementPtr(x, kb.mul(at, c), f32),
              kb.elementPtr(row, kb.mul(at, words), i32), kb.i64(0),
              kb.i64(words), c);
    };
    alongRow(evenRow);
    kb.ifThen(hasOdd, [&] { alongRow(oddRow); });
  });
}

} // namespace

// out[i] = ((in[0, i] + in[1, i]) + in[2, i]) + ...: the groups in order,
// whatever the thread count.
void emitGroupSum(KernelBuilder &kb) {
  const ir::TensorType &t = kb.operandType(0);
  int64_t groups = t.shape[0], n = t.numElements() / groups;
  auto [begin, end] = kb.partition(n);
  kb.vectorLoop(begin, end, [&](llvm::Value *i, int w) {
    llvm::Value *sum = kb.load(kb.operand(0), i, w);
    for (int64_t g = 1; g < groups; ++g)
      sum = kb.b().CreateFAdd(sum, kb.load(kb.operand(0), kb.add(i, g * n), w));
    kb.store(kb.result(0), i, sum);
  });
}

// One result per axis (ir/ShapeRules.cpp packBfloat16PairsShape).
void emitPackBfloat16Pairs(KernelBuilder &kb) {
  std::vector<int64_t> axes = kb.attrs().getInts(ir::AttrName::Axes);
  if (axes.size() == 1)
    return emitPackOneAxis(kb, axes[0]);
  emitPackFirstAndLast(kb, axes[0] == 0 ? 0 : 1);
}

// Word [row, c] of x [rows, W] (one channel) holds x[row, c] rounded to
// bfloat16 in its low half and x[row, c + 1] (zero past the row) in its
// high half (ir/ShapeRules.cpp packBfloat16ColumnPairsShape). Vectors run
// over the flat elements, pairing each with the next; a second loop then
// rewrites each row's last word, whose high half read the next row.
void emitPackBfloat16ColumnPairs(KernelBuilder &kb) {
  const std::vector<int64_t> &s = kb.operandType(0).shape;
  int64_t cols = s[2], total = s[0] * s[1] * cols;
  llvm::Value *x = kb.operand(0), *p = kb.result(0);
  auto [begin, end] = kb.partition(total);
  kb.vectorLoop(
      begin, kb.min(end, kb.i64(total - 1)), [&](llvm::Value *i, int w) {
        storeWords(kb, p,
                   kb.pairWords(kb.load(x, i, w), kb.load(x, kb.add(i, 1), w)),
                   i);
      });
  // Rows whose last element is in [begin, end).
  kb.loop(kb.b().CreateSDiv(begin, kb.i64(cols)),
          kb.b().CreateSDiv(end, kb.i64(cols)), 1, [&](llvm::Value *row) {
            llvm::Value *last = kb.add(kb.mul(row, cols), cols - 1);
            storeWords(kb, p,
                       kb.pairWords(kb.load(x, last, 1), kb.splat(1, 0.0f)),
                       last);
          });
}

namespace {

llvm::Value *select0(KernelBuilder &kb, llvm::Value *cond, llvm::Value *v,
                     int w) {
  return kb.b().CreateSelect(cond, v, kb.splat(w, 0.0f));
}

// log(1 + e^x) as max(x, 0) + log1p(e^-|x|), which never overflows, with
// log1p(e) = log(u) e / (u - 1), u = 1 + e (Goldberg's: a few ulps where
// log(u) alone loses all digits), and e itself when u rounds to 1.
llvm::Value *softplus(KernelBuilder &kb, llvm::Value *x, int w) {
  auto &b = kb.b();
  llvm::Value *one = kb.splat(w, 1.0f), *zero = kb.splat(w, 0.0f);
  llvm::Value *e = kb.unary(llvm::Intrinsic::exp,
                            b.CreateFNeg(kb.unary(llvm::Intrinsic::fabs, x)));
  llvm::Value *u = b.CreateFAdd(one, e);
  llvm::Value *log1p = b.CreateFDiv(
      b.CreateFMul(kb.unary(llvm::Intrinsic::log, u), e), b.CreateFSub(u, one));
  log1p = b.CreateSelect(b.CreateFCmpOEQ(u, one), e, log1p);
  return b.CreateFAdd(b.CreateSelect(b.CreateFCmpOGT(x, zero), x, zero), log1p);
}

llvm::Value *sigmoid(KernelBuilder &kb, llvm::Value *x, int w) {
  llvm::Value *e = kb.unary(llvm::Intrinsic::exp, kb.b().CreateFNeg(x));
  return kb.b().CreateFDiv(kb.splat(w, 1.0f),
                           kb.b().CreateFAdd(kb.splat(w, 1.0f), e));
}

// tanh(x) = sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|), which never
// overflows. Below |x| = 1/8 the subtraction 1 - e loses bits, so a Taylor
// polynomial x + x^3 (-1/3 + x^2 (2/15 - 17/315 x^2)) takes over (relative
// error < 2e-9 there).
llvm::Value *tanh(KernelBuilder &kb, llvm::Value *x, int w) {
  auto &b = kb.b();
  llvm::Value *ax = kb.unary(llvm::Intrinsic::fabs, x);
  llvm::Value *e =
      kb.unary(llvm::Intrinsic::exp, b.CreateFMul(ax, kb.splat(w, -2.0f)));
  llvm::Value *big = b.CreateFDiv(b.CreateFSub(kb.splat(w, 1.0f), e),
                                  b.CreateFAdd(kb.splat(w, 1.0f), e));
  big = b.CreateIntrinsic(llvm::Intrinsic::copysign, {x->getType()}, {big, x});
  llvm::Value *x2 = b.CreateFMul(x, x);
  llvm::Value *p =
      kb.fma(x2, kb.splat(w, -17.0f / 315.0f), kb.splat(w, 2.0f / 15.0f));
  p = kb.fma(x2, p, kb.splat(w, -1.0f / 3.0f));
  llvm::Value *small = kb.fma(b.CreateFMul(x2, x), p, x);
  return b.CreateSelect(b.CreateFCmpOLT(ax, kb.splat(w, 0.125f)), small, big);
}

// ---- Activations with a parameter: leaky_relu and elu ----

// leaky_relu: x > 0 ? x : negative_slope * x (TF's kernel; NaN stays NaN).
llvm::Value *leakyRelu(KernelBuilder &kb, llvm::Value *x, float slope, int w) {
  auto &b = kb.b();
  return b.CreateSelect(b.CreateFCmpOGT(x, kb.splat(w, 0.0f)), x,
                        b.CreateFMul(x, kb.splat(w, slope)));
}

// e^x - 1 for x <= 0: exp(x) - 1, and below |x| = 1/8, where that
// subtraction loses bits, the Taylor polynomial
// x + x^2 (1/2 + x (1/6 + x (1/24 + x/120))) (relative error < 4e-8).
llvm::Value *expm1(KernelBuilder &kb, llvm::Value *x, int w) {
  auto &b = kb.b();
  llvm::Value *big =
      b.CreateFSub(kb.unary(llvm::Intrinsic::exp, x), kb.splat(w, 1.0f));
  llvm::Value *p =
      kb.fma(x, kb.splat(w, 1.0f / 120.0f), kb.splat(w, 1.0f / 24.0f));
  p = kb.fma(x, p, kb.splat(w, 1.0f / 6.0f));
  p = kb.fma(x, p, kb.splat(w, 0.5f));
  llvm::Value *small = kb.fma(b.CreateFMul(x, x), p, x);
  llvm::Value *ax = kb.unary(llvm::Intrinsic::fabs, x);
  return b.CreateSelect(b.CreateFCmpOLT(ax, kb.splat(w, 0.125f)), small, big);
}

// elu: x > 0 ? x : alpha * (e^x - 1) (Keras 3; NaN stays NaN).
llvm::Value *elu(KernelBuilder &kb, llvm::Value *x, float alpha, int w) {
  auto &b = kb.b();
  // exp of the clamped input, so that large positive x (not selected)
  // never computes inf.
  llvm::Value *positive = b.CreateFCmpOGT(x, kb.splat(w, 0.0f));
  llvm::Value *neg = b.CreateSelect(positive, kb.splat(w, 0.0f), x);
  return b.CreateSelect(positive, x,
                        b.CreateFMul(kb.splat(w, alpha), expm1(kb, neg, w)));
}

// ---- gelu and swish: activations whose gradient reads the input ----

// erf(x) as Eigen's and XLA's float erf: x P(x^2) / Q(x^2) on x clamped to
// [-4, 4] (beyond, erf is +-1 in float), a few ulps from the true value.
// minnum/maxnum would turn NaN into a bound, so the clamp is a select that
// keeps NaN.
llvm::Value *erf(KernelBuilder &kb, llvm::Value *x, int w) {
  auto &b = kb.b();
  llvm::Value *ax = kb.unary(llvm::Intrinsic::fabs, x);
  llvm::Value *big = b.CreateFCmpOGT(ax, kb.splat(w, 4.0f));
  x = b.CreateSelect(big,
                     b.CreateIntrinsic(llvm::Intrinsic::copysign,
                                       {x->getType()}, {kb.splat(w, 4.0f), x}),
                     x);
  llvm::Value *x2 = b.CreateFMul(x, x);
  auto poly = [&](std::initializer_list<float> c) {
    const float *it = c.begin();
    llvm::Value *p = kb.splat(w, *it++);
    for (; it != c.end(); ++it)
      p = kb.fma(x2, p, kb.splat(w, *it));
    return p;
  };
  llvm::Value *p = poly({-2.72614225801306e-10f, 2.77068142495902e-08f,
                         -2.10102402082508e-06f, -5.69250639462346e-05f,
                         -7.34990630326855e-04f, -2.95459980854025e-03f,
                         -1.60960333262415e-02f});
  llvm::Value *q = poly({-1.45660718464996e-05f, -2.13374055278905e-04f,
                         -1.68282697438203e-03f, -7.37332916720468e-03f,
                         -1.42647390514189e-02f});
  return b.CreateFDiv(b.CreateFMul(x, p), q);
}

// Phi(x) = (1 + erf(x / sqrt(2))) / 2, the standard normal CDF.
llvm::Value *normalCdf(KernelBuilder &kb, llvm::Value *x, int w) {
  auto &b = kb.b();
  llvm::Value *e = erf(kb, b.CreateFMul(x, kb.splat(w, float(M_SQRT1_2))), w);
  return b.CreateFMul(kb.splat(w, 0.5f), b.CreateFAdd(kb.splat(w, 1.0f), e));
}

} // namespace

// The one place that knows each activation's formula (ir/Activations.def
// lists them). relu is x <= 0 ? 0 : x: -0.0 gives +0.0 (TF's max(x, 0)),
// and NaN stays NaN (as in PyTorch and JAX), so a diverging run shows NaN
// rather than dead units and terminate_on_nan sees it.
ir::ActivationKind epilogueActivation(const KernelBuilder &kb,
                                      ir::FusedStageSet st) {
  return st.has(ir::FusedStage::Activation)
             ? ir::activationKindOf(kb.attrs(), ir::AttrName::Activation)
             : ir::ActivationKind::Linear;
}

// Fused kernels apply activations in their epilogues through this function.
llvm::Value *activationValue(KernelBuilder &kb, ir::ActivationKind kind,
                             float param, llvm::Value *x, int w) {
  auto &b = kb.b();
  switch (kind) {
  case ir::ActivationKind::Linear:
    return x;
  case ir::ActivationKind::Relu:
    return select0(kb, b.CreateFCmpUGT(x, kb.splat(w, 0.0f)), x, w);
  case ir::ActivationKind::Sigmoid:
    return sigmoid(kb, x, w);
  case ir::ActivationKind::Tanh:
    return tanh(kb, x, w);
  case ir::ActivationKind::LeakyRelu:
    return leakyRelu(kb, x, param, w);
  case ir::ActivationKind::Elu:
    return elu(kb, x, param, w);
  case ir::ActivationKind::Gelu:
    // Keras's exact gelu (approximate=False): x Phi(x), as TF computes it.
    return b.CreateFMul(x, normalCdf(kb, x, w));
  case ir::ActivationKind::Swish:
    return b.CreateFMul(x, sigmoid(kb, x, w));
  case ir::ActivationKind::Softplus:
    return softplus(kb, x, w);
  }
  llvm_unreachable("activation kind missing from the switch");
}

// dy * act'(.) from v, the forward output or input as the table's gradFrom
// says. From the output y: relu dy * (y > 0) (as a select, so a NaN dy under
// a dead unit stays 0), sigmoid dy * y * (1 - y), tanh dy * (1 - y^2),
// leaky_relu y > 0 ? dy : negative_slope * dy, elu y > 0 ? dy : dy * (y +
// alpha) (alpha e^x = y + alpha for x <= 0). From the input x: gelu
// dy * (Phi(x) + x phi(x)), swish dy * s (1 + x (1 - s)) with s = sigmoid(x),
// softplus dy * sigmoid(x).
llvm::Value *activationDerivative(KernelBuilder &kb, ir::ActivationKind kind,
                                  float param, llvm::Value *v, llvm::Value *dy,
                                  int w) {
  auto &b = kb.b();
  llvm::Value *one = kb.splat(w, 1.0f);
  llvm::Value *positive = b.CreateFCmpOGT(v, kb.splat(w, 0.0f));
  switch (kind) {
  case ir::ActivationKind::Linear:
    return dy;
  case ir::ActivationKind::Relu:
    return select0(kb, positive, dy, w);
  case ir::ActivationKind::Sigmoid:
    return b.CreateFMul(b.CreateFMul(dy, v), b.CreateFSub(one, v));
  case ir::ActivationKind::Tanh:
    return b.CreateFMul(dy, b.CreateFSub(one, b.CreateFMul(v, v)));
  case ir::ActivationKind::LeakyRelu:
    return b.CreateSelect(positive, dy, b.CreateFMul(dy, kb.splat(w, param)));
  case ir::ActivationKind::Elu:
    return b.CreateSelect(
        positive, dy, b.CreateFMul(dy, b.CreateFAdd(v, kb.splat(w, param))));
  case ir::ActivationKind::Gelu: {
    // phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    llvm::Value *phi = b.CreateFMul(
        kb.unary(llvm::Intrinsic::exp,
                 b.CreateFMul(b.CreateFMul(v, v), kb.splat(w, -0.5f))),
        kb.splat(w, float(0.5 * M_2_SQRTPI * M_SQRT1_2)));
    return b.CreateFMul(dy, kb.fma(v, phi, normalCdf(kb, v, w)));
  }
  case ir::ActivationKind::Swish: {
    llvm::Value *s = sigmoid(kb, v, w);
    return b.CreateFMul(dy,
                        b.CreateFMul(s, kb.fma(v, b.CreateFSub(one, s), one)));
  }
  case ir::ActivationKind::Softplus:
    return b.CreateFMul(dy, sigmoid(kb, v, w));
  }
  llvm_unreachable("activation kind missing from the switch");
}

void emitActivation(KernelBuilder &kb) {
  ir::ActivationKind kind = ir::activationKindOf(kb.attrs());
  float param = ir::activationParamOf(kb.attrs(), kind);
  emitUnary(kb, [&](llvm::Value *x, int w) {
    return activationValue(kb, kind, param, x, w);
  });
}

void emitActivationGrad(KernelBuilder &kb) {
  ir::ActivationKind kind = ir::activationKindOf(kb.attrs());
  float param = ir::activationParamOf(kb.attrs(), kind);
  emitBinary(kb, [&](llvm::Value *v, llvm::Value *dy) {
    int w = 1;
    if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(v->getType()))
      w = static_cast<int>(vt->getNumElements());
    return activationDerivative(kb, kind, param, v, dy, w);
  });
}

using support::mix64;

// support::mix64 (splitmix64's finalizer) as IR.
llvm::Value *mix64(KernelBuilder &kb, llvm::Value *z) {
  auto &b = kb.b();
  llvm::Type *t = z->getType();
  auto c = [&](uint64_t v) { return llvm::ConstantInt::get(t, v); };
  z = b.CreateMul(b.CreateXor(z, b.CreateLShr(z, c(30))),
                  c(support::kSplitMixMul1));
  z = b.CreateMul(b.CreateXor(z, b.CreateLShr(z, c(27))),
                  c(support::kSplitMixMul2));
  return b.CreateXor(z, b.CreateLShr(z, c(31)));
}

// Counter-based dropout, so the mask is a pure function of (seed, salt,
// step, element index) and any thread count gives the same one:
//   key  = mix64(mix64(mix64(seed) ^ salt) ^ step)        (per call)
//   bits = mix64(key + (i + 1) * 0x9e3779b97f4a7c15)       (splitmix64 stream)
//   u    = (bits >> 40) * 2^-24 in [0, 1); keep = u >= rate
// keep is tested exactly in integers as (bits >> 40) >= ceil(rate * 2^24).
// mask = keep ? 1/(1-rate) : 0 and y = keep ? x * (1/(1-rate)) : 0.
DropoutHash dropoutHash(KernelBuilder &kb, const ir::Attrs &attrs,
                        llvm::Value *stepPtr) {
  auto &b = kb.b();
  double rate = attrs.getFloat(ir::AttrName::Rate);
  auto seed = static_cast<uint64_t>(attrs.getInt(ir::AttrName::Seed));
  auto salt = static_cast<uint64_t>(attrs.getInt(ir::AttrName::Salt));
  uint64_t streamKey = mix64(mix64(seed) ^ salt);
  llvm::Value *step =
      b.CreateSExt(kb.loadI32(stepPtr, kb.i64(0)), b.getInt64Ty());
  return {mix64(kb, b.CreateXor(kb.i64(streamKey), step)),
          static_cast<uint64_t>(std::ceil(rate * 16777216.0)),
          static_cast<float>(1.0 / (1.0 - rate))};
}

llvm::Value *dropoutKeep(KernelBuilder &kb, const DropoutHash &h,
                         llvm::Value *i, int w) {
  auto &b = kb.b();
  auto splat64 = [&](llvm::Value *v) {
    return w == 1 ? v : b.CreateVectorSplat(w, v);
  };
  auto c64 = [&](uint64_t v) { return splat64(kb.i64(int64_t(v))); };
  llvm::Value *counter = b.CreateAdd(kb.laneIndices(w, i), c64(1));
  llvm::Value *bits = mix64(
      kb, b.CreateAdd(splat64(h.key),
                      b.CreateMul(counter, c64(support::kSplitMixGamma))));
  return b.CreateICmpUGE(b.CreateLShr(bits, c64(40)), c64(h.threshold));
}

void emitDropout(KernelBuilder &kb) {
  double rate = kb.attrs().getFloat(ir::AttrName::Rate);
  auto [begin, end] = kb.partition(kb.resultType(0).numElements());
  if (rate <= 0) { // identity; skip the hashing
    kb.vectorLoop(begin, end, [&](llvm::Value *i, int w) {
      kb.store(kb.result(0), i, kb.load(kb.operand(0), i, w));
      kb.store(kb.result(1), i, kb.splat(w, 1.0f));
    });
    return;
  }
  DropoutHash h = dropoutHash(kb, kb.attrs(), kb.operand(1));
  float scale = h.scale;
  auto &b = kb.b();
  kb.vectorLoop(begin, end, [&](llvm::Value *i, int w) {
    llvm::Value *keep = dropoutKeep(kb, h, i, w);
    llvm::Value *x = kb.load(kb.operand(0), i, w);
    llvm::Value *scaleV = kb.splat(w, scale);
    kb.store(kb.result(0), i, select0(kb, keep, b.CreateFMul(x, scaleV), w));
    kb.store(kb.result(1), i, select0(kb, keep, scaleV, w));
  });
}

} // namespace cnnc::codegen
