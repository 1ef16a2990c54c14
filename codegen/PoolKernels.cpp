// Pooling kernels: max and average pooling and their gradients, NHWC,
// vectorized over the contiguous channel axis. Windows are clipped to the
// image: max pooling ignores padded cells and average pooling divides by the
// number of cells inside the image (TensorFlow's "same" semantics).
#include "codegen/KernelParts.h"
#include "codegen/Kernels.h"
#include "ir/Activations.h"
#include "ir/FusedStages.h"

#include <functional>
#include <limits>

namespace cnnc::codegen {

namespace {

using llvm::Value;

struct PoolGeometry {
  int64_t n, h, w, c; // input
  int64_t kh, kw;     // window
  int64_t oh, ow;     // output
  int64_t sh, sw, pt, pl;
};

PoolGeometry geometry(const ir::Attrs &a, const std::vector<int64_t> &x,
                      const std::vector<int64_t> &y) {
  std::vector<int64_t> k = a.getInts(ir::AttrName::PoolSize),
                       s = a.getInts(ir::AttrName::Strides),
                       p = a.getInts(ir::AttrName::Padding);
  return {x[0], x[1], x[2], x[3], k[0], k[1],
          y[1], y[2], s[0], s[1], p[0], p[1]};
}

Value *sub(KernelBuilder &kb, Value *a, Value *b) {
  return kb.b().CreateSub(a, b);
}
Value *sdiv(KernelBuilder &kb, Value *a, int64_t c) {
  return kb.b().CreateSDiv(a, kb.i64(c));
}
Value *srem(KernelBuilder &kb, Value *a, int64_t c) {
  return kb.b().CreateSRem(a, kb.i64(c));
}

// Window of output index o along an axis: taps [lo, hi) inside the image and
// the input index of tap 0.
struct Span {
  Value *start, *lo, *hi;
};

Span windowSpan(KernelBuilder &kb, Value *o, int64_t stride, int64_t pad,
                int64_t window, int64_t in) {
  Value *start = kb.add(kb.mul(o, stride), -pad);
  Value *lo = kb.max(sub(kb, kb.i64(0), start), kb.i64(0));
  Value *hi = kb.min(sub(kb, kb.i64(in), start), kb.i64(window));
  return {start, lo, hi};
}

// Outputs [lo, hi) whose windows contain input index i along an axis.
std::pair<Value *, Value *> coveringOutputs(KernelBuilder &kb, Value *i,
                                            int64_t stride, int64_t pad,
                                            int64_t window, int64_t out) {
  Value *t = kb.add(i, pad); // >= 0
  Value *first = kb.max(kb.add(t, 1 - window), kb.i64(0));
  Value *lo = sdiv(kb, kb.add(first, stride - 1), stride);
  Value *hi = kb.min(kb.add(sdiv(kb, t, stride), 1), kb.i64(out));
  return {lo, hi};
}

// body(offset, width) over the c channels: full vectors, then one narrower
// vector for the remainder.
void forSlices(KernelBuilder &kb, int64_t c,
               const std::function<void(Value *, int)> &body) {
  int w = kb.vectorWidth();
  int64_t full = c / w;
  if (full == 1)
    body(kb.i64(0), w);
  else if (full > 1)
    kb.loop(0, full * w, w, [&](Value *off) { body(off, w); });
  if (c % w)
    body(kb.i64(full * w), static_cast<int>(c % w));
}

// Loops over the window's taps inside the image (row-major), carrying
// values; body gets the element index of channel 0 of the tap's pixel.
std::vector<Value *>
windowLoop(KernelBuilder &kb, const PoolGeometry &g, Value *n, const Span &hs,
           const Span &ws, std::vector<Value *> init,
           const std::function<std::vector<Value *>(
               Value *, const std::vector<Value *> &)> &body) {
  return kb.loopCarried(
      hs.lo, hs.hi, 1, std::move(init),
      [&](Value *kh, const std::vector<Value *> &a) {
        Value *row = kb.mul(kb.add(kb.mul(n, g.h), kb.add(hs.start, kh)), g.w);
        return kb.loopCarried(ws.lo, ws.hi, 1, a,
                              [&](Value *kw, const std::vector<Value *> &b) {
                                Value *pix = kb.add(row, kb.add(ws.start, kw));
                                return body(kb.mul(pix, g.c), b);
                              });
      });
}

// Forward pooling over this thread's output rows; reduce(acc, x) folds one
// tap, finish(acc, taps, width) makes the output from the fold and the
// number of taps inside the image.
void emitPoolForward(
    KernelBuilder &kb, float init,
    const std::function<Value *(Value *, Value *)> &reduce,
    const std::function<Value *(Value *, Value *, int)> &finish) {
  PoolGeometry g =
      geometry(kb.attrs(), kb.operandType(0).shape, kb.resultType(0).shape);
  Value *x = kb.operand(0), *y = kb.result(0);
  auto [begin, end] = kb.partition(g.n * g.oh);
  kb.loop(begin, end, 1, [&](Value *nr) {
    Value *n = sdiv(kb, nr, g.oh);
    Span hs = windowSpan(kb, srem(kb, nr, g.oh), g.sh, g.pt, g.kh, g.h);
    kb.loop(0, g.ow, 1, [&](Value *ow) {
      Span ws = windowSpan(kb, ow, g.sw, g.pl, g.kw, g.w);
      Value *taps = kb.mul(sub(kb, hs.hi, hs.lo), sub(kb, ws.hi, ws.lo));
      Value *outBase = kb.mul(kb.add(kb.mul(nr, g.ow), ow), g.c);
      forSlices(kb, g.c, [&](Value *off, int width) {
        auto acc = windowLoop(kb, g, n, hs, ws, {kb.splat(width, init)},
                              [&](Value *idx, const std::vector<Value *> &a) {
                                Value *v = kb.load(x, kb.add(idx, off), width);
                                return std::vector<Value *>{reduce(a[0], v)};
                              });
        kb.store(y, kb.add(outBase, off), finish(acc[0], taps, width));
      });
    });
  });
}

} // namespace

void emitMaxPool2D(KernelBuilder &kb) {
  auto &b = kb.b();
  emitPoolForward(
      kb, -std::numeric_limits<float>::infinity(),
      [&](Value *acc, Value *v) {
        // Keeps the first of equal values; NaN inputs are skipped.
        return b.CreateSelect(b.CreateFCmpOGT(v, acc), v, acc);
      },
      [](Value *acc, Value *, int) { return acc; });
  kb.keepLoopsAsEmitted();
}

void emitAvgPool2D(KernelBuilder &kb) {
  auto &b = kb.b();
  emitPoolForward(
      kb, 0.0f, [&](Value *acc, Value *v) { return b.CreateFAdd(acc, v); },
      [&](Value *acc, Value *taps, int width) {
        Value *count = b.CreateSIToFP(taps, b.getFloatTy());
        return b.CreateFDiv(acc, kb.splat(width, count));
      });
  kb.keepLoopsAsEmitted();
}

namespace {

// What max_pool2d_grad_fused applies to each dx element, from x there
// (activation_grad's gradient of the activation whose output x is); null
// for max_pool2d_grad.
using GradEpilogue = std::function<Value *(Value *x, Value *dx, int width)>;

// max_pool2d_grad when the windows tile the image from its corner (stride =
// pool size, no padding): each cell is in at most one window, so dx is
// written once per cell, with no zeroing pass and no read of dx; the cells
// no window covers (the last rows and columns) are zeroed. Each cell gets
// what the general kernel's scatter leaves: 0 + dy where the window's
// first maximum is, else 0.
void emitMaxPool2DGradTiled(KernelBuilder &kb, const PoolGeometry &g,
                            const GradEpilogue &epilogue) {
  auto &b = kb.b();
  Value *x = kb.operand(0), *y = kb.operand(1), *dy = kb.operand(2),
        *dx = kb.result(0);
  int64_t rows = g.oh * g.kh, cols = g.ow * g.kw;
  // count cells from `at` that no window covers: 0, or the epilogue's
  // value for a 0 gradient.
  auto uncovered = [&](Value *at, int64_t count) {
    if (!epilogue)
      return kb.zero(dx, at, kb.i64(count));
    kb.vectorLoop(at, kb.add(at, count), [&](Value *i, int width) {
      kb.store(dx, i,
               epilogue(kb.load(x, i, width), kb.splat(width, 0.0f), width));
    });
  };
  auto [begin, end] = kb.partition(g.n);
  kb.loop(begin, end, 1, [&](Value *n) {
    Value *image = kb.mul(n, g.h);
    if (rows < g.h)
      uncovered(kb.mul(kb.add(image, rows), g.w * g.c),
                (g.h - rows) * g.w * g.c);
    if (cols < g.w)
      kb.loop(0, rows, 1, [&](Value *r) {
        uncovered(kb.mul(kb.add(kb.mul(kb.add(image, r), g.w), cols), g.c),
                  (g.w - cols) * g.c);
      });
    kb.loop(0, g.oh, 1, [&](Value *oh) {
      Value *row0 = kb.add(image, kb.mul(oh, g.kh));
      kb.loop(0, g.ow, 1, [&](Value *ow) {
        Value *outBase =
            kb.mul(kb.add(kb.mul(kb.add(kb.mul(n, g.oh), oh), g.ow), ow), g.c);
        Value *col0 = kb.mul(ow, g.kw);
        forSlices(kb, g.c, [&](Value *off, int width) {
          Value *yv = kb.load(y, kb.add(outBase, off), width);
          Value *zero = kb.splat(width, 0.0f);
          Value *gv =
              b.CreateFAdd(zero, kb.load(dy, kb.add(outBase, off), width));
          Value *found =
              llvm::Constant::getNullValue(b.CreateFCmpOEQ(yv, yv)->getType());
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              Value *at = kb.add(
                  kb.mul(kb.add(kb.mul(kb.add(row0, i), g.w), kb.add(col0, j)),
                         g.c),
                  off);
              Value *xv = kb.load(x, at, width);
              Value *hit =
                  b.CreateAnd(b.CreateFCmpOEQ(xv, yv), b.CreateNot(found));
              Value *d = b.CreateSelect(hit, gv, zero);
              kb.store(dx, at, epilogue ? epilogue(xv, d, width) : d);
              found = b.CreateOr(found, hit);
            }
        });
      });
    });
  });
}

} // namespace

namespace {

void emitMaxPoolGrad(KernelBuilder &kb, const GradEpilogue &epilogue) {
  // Scatter: each window's gradient goes to the first tap (row-major) that
  // equals the forward output. Windows of one image may overlap, so threads
  // own whole images: they zero their part of dx, then accumulate.
  auto &b = kb.b();
  PoolGeometry g =
      geometry(kb.attrs(), kb.operandType(0).shape, kb.operandType(1).shape);
  if (g.pt == 0 && g.pl == 0 && g.sh == g.kh && g.sw == g.kw &&
      g.oh * g.kh <= g.h && g.ow * g.kw <= g.w) {
    emitMaxPool2DGradTiled(kb, g, epilogue);
    kb.keepLoopsAsEmitted();
    return;
  }
  Value *x = kb.operand(0), *y = kb.operand(1), *dy = kb.operand(2),
        *dx = kb.result(0);
  int64_t image = g.h * g.w * g.c;
  auto [begin, end] = kb.partition(g.n);
  kb.zero(dx, kb.mul(begin, image), kb.mul(sub(kb, end, begin), image));
  kb.loop(begin, end, 1, [&](Value *n) {
    kb.loop(0, g.oh, 1, [&](Value *oh) {
      Span hs = windowSpan(kb, oh, g.sh, g.pt, g.kh, g.h);
      kb.loop(0, g.ow, 1, [&](Value *ow) {
        Span ws = windowSpan(kb, ow, g.sw, g.pl, g.kw, g.w);
        Value *outBase =
            kb.mul(kb.add(kb.mul(kb.add(kb.mul(n, g.oh), oh), g.ow), ow), g.c);
        forSlices(kb, g.c, [&](Value *off, int width) {
          Value *yv = kb.load(y, kb.add(outBase, off), width);
          Value *gv = kb.load(dy, kb.add(outBase, off), width);
          llvm::Type *maskTy = b.CreateFCmpOEQ(yv, yv)->getType();
          windowLoop(
              kb, g, n, hs, ws, {llvm::Constant::getNullValue(maskTy)},
              [&](Value *idx, const std::vector<Value *> &a) {
                Value *i = kb.add(idx, off);
                Value *hit =
                    b.CreateAnd(b.CreateFCmpOEQ(kb.load(x, i, width), yv),
                                b.CreateNot(a[0]));
                Value *d = kb.load(dx, i, width);
                kb.store(dx, i, b.CreateSelect(hit, b.CreateFAdd(d, gv), d));
                return std::vector<Value *>{b.CreateOr(a[0], hit)};
              });
        });
      });
    });
    // The image's dx is complete (and in cache): the epilogue, elementwise.
    if (epilogue)
      kb.vectorLoop(kb.mul(n, image), kb.mul(kb.add(n, 1), image),
                    [&](Value *i, int width) {
                      kb.store(dx, i,
                               epilogue(kb.load(x, i, width),
                                        kb.load(dx, i, width), width));
                    });
  });
  kb.keepLoopsAsEmitted();
}

} // namespace

void emitMaxPool2DGrad(KernelBuilder &kb) { emitMaxPoolGrad(kb, nullptr); }

// max_pool2d_grad with the activation_grad epilogue: dx = act'(x) * dx of
// the pool, as activation_grad(x, max_pool2d_grad(x, y, dy)) computes it,
// without the pool's dx going through memory.
void emitMaxPool2DGradFused(KernelBuilder &kb) {
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  if (!st.has(ir::FusedStage::ActivationGrad))
    return emitMaxPoolGrad(kb, nullptr);
  ir::ActivationKind kind =
      ir::activationKindOf(kb.attrs(), ir::AttrName::Activation);
  emitMaxPoolGrad(kb, [&](Value *x, Value *d, int width) {
    return activationDerivative(kb, kind, 0.0f, x, d, width);
  });
}

void emitAvgPool2DGrad(KernelBuilder &kb) {
  // Gather: dx[n, i, j] = sum over windows containing (i, j) of
  // dy / (cells of the window inside the image); each dx written once.
  auto &b = kb.b();
  PoolGeometry g =
      geometry(kb.attrs(), kb.resultType(0).shape, kb.operandType(0).shape);
  Value *dy = kb.operand(0), *dx = kb.result(0);
  auto [begin, end] = kb.partition(g.n * g.h);
  kb.loop(begin, end, 1, [&](Value *nr) {
    Value *n = sdiv(kb, nr, g.h);
    auto [ohLo, ohHi] =
        coveringOutputs(kb, srem(kb, nr, g.h), g.sh, g.pt, g.kh, g.oh);
    kb.loop(0, g.w, 1, [&](Value *iw) {
      auto [owLo, owHi] = coveringOutputs(kb, iw, g.sw, g.pl, g.kw, g.ow);
      Value *outBase = kb.mul(kb.add(kb.mul(nr, g.w), iw), g.c);
      forSlices(kb, g.c, [&](Value *off, int width) {
        auto acc = kb.loopCarried(
            ohLo, ohHi, 1, {kb.splat(width, 0.0f)},
            [&](Value *oh, const std::vector<Value *> &a) {
              Span hs = windowSpan(kb, oh, g.sh, g.pt, g.kh, g.h);
              Value *rows = sub(kb, hs.hi, hs.lo);
              Value *dyRow = kb.mul(kb.add(kb.mul(n, g.oh), oh), g.ow);
              return kb.loopCarried(
                  owLo, owHi, 1, a,
                  [&](Value *ow, const std::vector<Value *> &a2) {
                    Span ws = windowSpan(kb, ow, g.sw, g.pl, g.kw, g.w);
                    Value *cells = b.CreateSIToFP(
                        kb.mul(rows, sub(kb, ws.hi, ws.lo)), b.getFloatTy());
                    Value *gv = kb.load(
                        dy, kb.add(kb.mul(kb.add(dyRow, ow), g.c), off), width);
                    return std::vector<Value *>{b.CreateFAdd(
                        a2[0], b.CreateFDiv(gv, kb.splat(width, cells)))};
                  });
            });
        kb.store(dx, kb.add(outBase, off), acc[0]);
      });
    });
  });
  kb.keepLoopsAsEmitted();
}

} // namespace cnnc::codegen

namespace cnnc::codegen {

PooledGrad pooledGrad(KernelBuilder &kb, Value *g, Value *mask) {
  // Dropout folded into the argmax: kept elements scale by its 1/(1-rate).
  return {g, mask, kb.attrs().has(ir::AttrName::Scale),
          static_cast<float>(kb.attrs().getFloat(ir::AttrName::Scale, 1.0))};
}

Value *pooledGradValue(KernelBuilder &kb, const PooledGrad &p, Value *at,
                       int width) {
  auto &b = kb.b();
  Value *v = kb.load(p.g, at, width);
  if (p.mask)
    v = b.CreateFMul(v, kb.load(p.mask, at, width));
  if (p.scaled)
    v = b.CreateFMul(v, kb.splat(width, p.scale));
  return b.CreateFAdd(kb.splat(width, 0.0f), v);
}

Value *loadI32s(KernelBuilder &kb, Value *base, Value *at, int width) {
  auto &b = kb.b();
  llvm::Type *t = b.getInt32Ty();
  if (width > 1)
    t = llvm::FixedVectorType::get(t, width);
  return b.CreateAlignedLoad(t, kb.elementPtr(base, at, b.getInt32Ty()),
                             llvm::Align(4));
}

void storeI32s(KernelBuilder &kb, Value *base, Value *at, Value *v) {
  kb.b().CreateAlignedStore(v, kb.elementPtr(base, at, kb.b().getInt32Ty()),
                            llvm::Align(4));
}

Value *windowMax(KernelBuilder &kb, const std::vector<Value *> &taps,
                 int width) {
  auto &b = kb.b();
  Value *m = kb.splat(width, -std::numeric_limits<float>::infinity());
  for (Value *t : taps)
    m = b.CreateSelect(b.CreateFCmpOGT(t, m), t, m);
  return m;
}

Value *windowArgmax(KernelBuilder &kb, const std::vector<Value *> &taps,
                    Value *max, bool relu, int width) {
  auto &b = kb.b();
  auto splatI = [&](int32_t v) -> Value * {
    Value *k = b.getInt32(v);
    return width == 1 ? k : b.CreateVectorSplat(width, k);
  };
  Value *idx = splatI(-1);
  for (size_t t = taps.size(); t-- > 0;)
    idx = b.CreateSelect(b.CreateFCmpOEQ(taps[t], max),
                         splatI(static_cast<int32_t>(t)), idx);
  if (relu)
    idx = b.CreateSelect(b.CreateFCmpOGT(max, kb.splat(width, 0.0f)), idx,
                         splatI(-1));
  return idx;
}

// The gradient of a max pool fused into a convolution's epilogue
// (conv2d_fused with max_pool2d and argmax stages): windows are pool_size, as
// strides, unpadded, so every input cell lies in at most one window.
//   dx[n, p*ph + i, q*pw + j, c] = argmax[n, p, q, c] == i*pw + j
//                                  ? 0 + dy[n, p, q, c] (* mask) : 0
// and 0 outside every window; with attribute `scale` (dropout folded into
// the argmax), g is also multiplied by it. 0 + g, not g: it is what
// max_pool2d_grad's accumulation into a zeroed dx computes (-0 becomes
// +0). Partitioned over the N*H input rows; each dx cell is written once.
void emitMaxPool2DArgmaxGrad(KernelBuilder &kb) {
  auto &b = kb.b();
  std::vector<int64_t> ps = kb.attrs().getInts(ir::AttrName::PoolSize);
  const std::vector<int64_t> &x = kb.resultType(0).shape;
  const std::vector<int64_t> &p = kb.operandType(1).shape;
  int64_t h = x[1], w = x[2], c = x[3], ph = ps[0], pw = ps[1];
  int64_t oh = p[1], ow = p[2];
  Value *argmax = kb.operand(0), *dx = kb.result(0);
  PooledGrad grad =
      pooledGrad(kb, kb.operand(1),
                 kb.op().operands.size() == 3 ? kb.operand(2) : nullptr);
  auto [begin, end] = kb.partition(x[0] * h);
  kb.loop(begin, end, 1, [&](Value *nh) {
    Value *n = b.CreateSDiv(nh, kb.i64(h));
    Value *row = b.CreateSRem(nh, kb.i64(h));
    Value *pr = b.CreateSDiv(row, kb.i64(ph));
    Value *i = b.CreateSRem(row, kb.i64(ph));
    Value *dxRow = kb.mul(nh, w * c);
    // Columns past the last window, or a row past the last window row.
    auto zeroFrom = [&](int64_t col) {
      if (col < w)
        kb.zero(dx, kb.add(dxRow, col * c), kb.i64((w - col) * c));
    };
    kb.ifThenElse(
        b.CreateICmpSLT(pr, kb.i64(oh)),
        [&] {
          Value *pRow = kb.mul(kb.add(kb.mul(n, oh), pr), ow * c);
          Value *tapRow = b.CreateTrunc(kb.mul(i, pw), b.getInt32Ty());
          kb.loop(0, ow, 1, [&](Value *q) {
            Value *pIdx = kb.add(pRow, kb.mul(q, c));
            Value *dxIdx = kb.add(dxRow, kb.mul(q, pw * c));
            forSlices(kb, c, [&](Value *off, int width) {
              Value *at = kb.add(pIdx, off);
              Value *g = pooledGradValue(kb, grad, at, width);
              Value *idx = loadI32s(kb, argmax, at, width);
              for (int64_t j = 0; j < pw; ++j) {
                Value *tap = b.CreateAdd(tapRow, b.getInt32(j));
                Value *hit = b.CreateICmpEQ(
                    idx, width == 1 ? tap : b.CreateVectorSplat(width, tap));
                kb.store(dx, kb.add(dxIdx, kb.add(off, j * c)),
                         b.CreateSelect(hit, g, kb.splat(width, 0.0f)));
              }
            });
          });
          zeroFrom(ow * pw);
        },
        [&] { zeroFrom(0); });
  });
  kb.keepLoopsAsEmitted();
}

// max_pool2d_argmax_grad with its epilogue (ir/FusedStages.def): dx as the
// op computes it, written as float32 or, with pack_bfloat16_pairs, as the
// pairs pack_bfloat16_pairs would make of it (along the batch: the two
// images of a pair computed together; along the channels: each pixel's
// halves in order), never as float32; with bias_grad, also
// db[c] = sum of dx[., c] from the pooled values (each window passes its
// gradient to one tap or none), per batch group. The sum runs over a
// group's images in blocks (pairs when packing), the pooled pixels in
// order, one partial sum per image of a block, added at the end: fixed by
// the shapes, so a group is one work item; without bias_grad a block is.
void emitMaxPool2DArgmaxGradFused(KernelBuilder &kb) {
  auto &b = kb.b();
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  bool pack = st.has(ir::FusedStage::PackBfloat16Pairs);
  bool bias = st.has(ir::FusedStage::BiasGrad);
  std::vector<int64_t> ps = kb.attrs().getInts(ir::AttrName::PoolSize);
  std::vector<int64_t> x = kb.attrs().getInts(ir::AttrName::InputShape);
  const std::vector<int64_t> &p = kb.operandType(1).shape;
  int64_t n = x[0], h = x[1], w = x[2], c = x[3], ph = ps[0], pw = ps[1];
  int64_t oh = p[1], ow = p[2];
  const int64_t block = pack ? 2 : 1;
  Value *dx = nullptr, *batchPairs = nullptr, *channelPairs = nullptr;
  std::vector<int64_t> axes =
      pack ? kb.attrs().getInts(ir::AttrName::Axes) : std::vector<int64_t>{};
  for (size_t r = 0; r < axes.size(); ++r)
    (axes[r] == 0 ? batchPairs : channelPairs) = kb.result(r);
  if (!pack)
    dx = kb.result(0);
  Value *argmax = kb.operand(0);
  PooledGrad grad =
      pooledGrad(kb, kb.operand(1),
                 kb.op().operands.size() == 3 ? kb.operand(2) : nullptr);
  llvm::Type *i16 = b.getInt16Ty();
  // Elements [at, at + count) of image first + i's row-major [H, W, C] (at
  // a multiple of c) set to zero in every layout written; a float's 4 bytes
  // are a word's or two halves' (c is even when packing). The pair words
  // of images first and first + 1 once, with image first.
  auto zeroPixels = [&](Value *first, int64_t i, Value *at, int64_t count) {
    Value *e = kb.add(kb.mul(kb.add(first, i), h * w * c), at);
    if (dx)
      kb.zero(dx, e, kb.i64(count));
    if (channelPairs)
      kb.zero(channelPairs, b.CreateSDiv(e, kb.i64(2)), kb.i64(count / 2));
    if (batchPairs && i == 0)
      kb.zero(batchPairs,
              kb.add(kb.mul(b.CreateSDiv(first, kb.i64(2)), h * w * c), at),
              kb.i64(count));
  };
  // The values v[i] of images first + i at pixel `pix` (row * w + col),
  // channels [off, off + width).
  auto write = [&](Value *first, Value *pix, Value *off,
                   const std::vector<Value *> &v) {
    Value *at = kb.add(kb.mul(pix, c), off);
    if (dx) {
      kb.store(dx, kb.add(kb.mul(first, h * w * c), at), v[0]);
      return;
    }
    Value *lo = kb.bfloat16Halves(v[0]), *hi = kb.bfloat16Halves(v[1]);
    if (batchPairs)
      b.CreateAlignedStore(
          kb.wordsOfHalves(lo, hi),
          kb.elementPtr(
              batchPairs,
              kb.add(kb.mul(b.CreateSDiv(first, kb.i64(2)), h * w * c), at),
              b.getInt32Ty()),
          llvm::Align(4));
    if (channelPairs)
      for (int64_t i = 0; i < 2; ++i)
        b.CreateAlignedStore(
            i ? hi : lo,
            kb.elementPtr(channelPairs,
                          kb.add(kb.mul(kb.add(first, i), h * w * c), at), i16),
            llvm::Align(2));
  };
  // Partial bias sums, one row of c per image of a block.
  Value *sums = bias ? kb.stackBuffer(block * c, b.getFloatTy()) : nullptr;
  // Images [first, first + block).
  auto emitBlock = [&](Value *first) {
    kb.loop(0, oh, 1, [&](Value *pr) {
      kb.loop(0, ow, 1, [&](Value *q) {
        forSlices(kb, c, [&](Value *off, int width) {
          std::vector<Value *> g, idx;
          for (int64_t i = 0; i < block; ++i) {
            Value *at =
                kb.add(kb.mul(kb.add(kb.mul(kb.add(first, i), oh), pr), ow), q);
            at = kb.add(kb.mul(at, c), off);
            g.push_back(pooledGradValue(kb, grad, at, width));
            idx.push_back(loadI32s(kb, argmax, at, width));
            if (bias) {
              Value *s = kb.add(off, i * c);
              Value *some = b.CreateICmpSGE(idx[i], kb.splat(width, kb.i32(0)));
              kb.store(sums, s,
                       b.CreateFAdd(
                           kb.load(sums, s, width),
                           b.CreateSelect(some, g[i], kb.splat(width, 0.0f))));
            }
          }
          for (int64_t ti = 0; ti < ph; ++ti)
            for (int64_t tj = 0; tj < pw; ++tj) {
              Value *tap =
                  kb.splat(width, kb.i32(static_cast<int32_t>(ti * pw + tj)));
              std::vector<Value *> v;
              for (int64_t i = 0; i < block; ++i)
                v.push_back(b.CreateSelect(b.CreateICmpEQ(idx[i], tap), g[i],
                                           kb.splat(width, 0.0f)));
              Value *pix = kb.add(kb.mul(kb.add(kb.mul(pr, ph), ti), w),
                                  kb.add(kb.mul(q, pw), tj));
              write(first, pix, off, v);
            }
        });
      });
      // Columns past the last window.
      if (ow * pw < w)
        for (int64_t i = 0; i < block; ++i)
          for (int64_t ti = 0; ti < ph; ++ti)
            zeroPixels(
                first, i,
                kb.mul(kb.add(kb.mul(kb.add(kb.mul(pr, ph), ti), w), ow * pw),
                       c),
                (w - ow * pw) * c);
    });
    // Rows past the last window.
    if (oh * ph < h)
      for (int64_t i = 0; i < block; ++i)
        zeroPixels(first, i, kb.i64(oh * ph * w * c), (h - oh * ph) * w * c);
  };
  if (!bias) {
    auto [begin, end] = kb.partition(n / block);
    kb.loop(begin, end, 1, [&](Value *blk) { emitBlock(kb.mul(blk, block)); });
    kb.keepLoopsAsEmitted();
    return;
  }
  int64_t groups = kb.attrs().getInt(ir::AttrName::BatchGroups, 1);
  Value *db = kb.result(pack ? axes.size() : 1);
  auto [begin, end] = kb.partition(groups);
  kb.loop(begin, end, 1, [&](Value *group) {
    auto [n0, n1] = batchGroupItems(kb, group, n, groups);
    kb.zero(sums, kb.i64(0), kb.i64(block * c));
    kb.loop(b.CreateSDiv(n0, kb.i64(block)), b.CreateSDiv(n1, kb.i64(block)), 1,
            [&](Value *blk) { emitBlock(kb.mul(blk, block)); });
    kb.vectorLoop(kb.i64(0), kb.i64(c), [&](Value *ch, int width) {
      Value *s = kb.load(sums, ch, width);
      for (int64_t i = 1; i < block; ++i)
        s = b.CreateFAdd(s, kb.load(sums, kb.add(ch, i * c), width));
      kb.store(db, kb.add(kb.mul(group, c), ch), s);
    });
  });
  kb.keepLoopsAsEmitted();
}

} // namespace cnnc::codegen
