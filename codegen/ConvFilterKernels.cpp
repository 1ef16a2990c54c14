// The convolution's gradient with respect to the kernel:
// conv2d_backward_filter, and conv2d_backward_filter_fused, which adds the
// bias gradient (bias_grad) and reads a fused max pool's gradient without
// materializing it (max_pool2d_argmax_grad). Every
// element is summed in an order fixed by the shapes alone, never by the
// thread count.
#include "codegen/ConvCommon.h"
#include "codegen/KernelParts.h"
#include "codegen/Kernels.h"
#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

#include <llvm/IR/DerivedTypes.h>

#include <map>
#include <tuple>

namespace cnnc::codegen {

namespace {

using llvm::Value;
using namespace conv;

// ---------------------------------------------------------------------------
// Backward filter
// ---------------------------------------------------------------------------

// dw[kh, kw, c, :] = sum over n, oh, ow of x[n, ih, iw, c] * dy[n, oh, ow, :]
// with ih = oh*sh - pt + kh, iw = ow*sw - pl + kw inside the image.
//
// Work items are (tap group, block of channels, group of output slices);
// each item keeps taps x channels x slices accumulators in registers and
// sums the whole batch for them in a fixed order (images, then rows, then
// columns, columns interleaved over `sets` partial sums). Two shapes of
// item:
//  - one tap, a block of channels, all output slices: layers with many
//    input channels;
//  - all taps, all (few) input channels, one output slice: the first layer
//    (C = 1), where one tap per item would stream dy once per tap and do
//    one FMA per two loads.
// Images are visited in blocks small enough for their x and dy to stay in
// cache while every item of the thread passes over them; accumulators go
// to dw between blocks.
struct FilterPlan {
  bool allTaps;              // one tap group of every tap (else one per tap)
  int64_t blockBase, bigger; // channel blocks: `bigger` of base+1, then base
  int64_t cBlocks;
  std::vector<std::vector<std::vector<Slice>>> oGroups; // chunks per group
  int64_t imagesPerPass;
};

FilterPlan planFilter(KernelBuilder &kb, const ConvGeometry &c) {
  int regs = numRegisters(kb);
  FilterPlan p{};
  // Taps whose windows never leave the image cover the whole output.
  bool full = c.pt == 0 && c.pl == 0 && (c.oh - 1) * c.sh + c.kh <= c.h &&
              (c.ow - 1) * c.sw + c.kw <= c.w;
  int64_t taps = c.kh * c.kw;
  p.allTaps = full && taps * c.c <= 12 && c.o > kb.vectorWidth() / 2;
  if (p.allTaps) {
    p.blockBase = c.c;
    p.bigger = 0;
    p.cBlocks = 1;
    for (auto &chunk : sliceChunks(c.o, kb.vectorWidth(), 1))
      p.oGroups.push_back({chunk});
  } else {
    auto chunks = sliceChunks(c.o, kb.vectorWidth(), regs / 8);
    int64_t ns0 = static_cast<int64_t>(chunks[0].size());
    int64_t cb =
        std::min(std::clamp<int64_t>((regs - ns0 - 2) / ns0, 1, 12), c.c);
    p.cBlocks = (c.c + cb - 1) / cb;
    p.blockBase = c.c / p.cBlocks;
    p.bigger = c.c % p.cBlocks;
    p.oGroups.push_back(chunks);
  }
  int64_t imageBytes = (c.h * c.w * c.c + c.oh * c.ow * c.o) * 4;
  p.imagesPerPass = std::clamp<int64_t>((512 << 10) / imageBytes, 1, c.n);
  return p;
}

// The dy a backward-filter kernel reads: its operand, or, with the
// max_pool2d_argmax_grad prologue, the gradient that op would have written,
// recomputed where it is read from the pooled (argmax, g [, mask]) — a quarter
// of the bytes for a 2x2 pool, and the full-size gradient never goes through
// memory.
struct GradSource {
  Value *dy = nullptr; // the plain operand, else the pooled form:
  bool pairs = false;  // dy (and x) hold bfloat16 pairs of two images
  Value *argmax = nullptr;
  PooledGrad grad{};
  int64_t ph = 1, pw = 1, prows = 0, pcols = 0;

  bool pooled() const { return dy == nullptr; }

  Value *value(KernelBuilder &kb, Value *at, int width) const {
    return pooledGradValue(kb, grad, at, width);
  }
  Value *loadArgmax(KernelBuilder &kb, Value *at, int width) const {
    return loadI32s(kb, argmax, at, width);
  }
  Value *splatI32(KernelBuilder &kb, Value *v, int width) const {
    return width == 1 ? v : kb.b().CreateVectorSplat(width, v);
  }
};

// dy[n, oh, ow, off .. off+width) of the source. In the pooled form, pixel
// (oh, ow) is tap (oh % ph, ow % pw) of pooled (oh / ph, ow / pw); cells
// that no window covers are 0. With `colTap` >= 0 the caller knows ow's
// column tap statically and passes ow / pw as `pooledCol`; `memo` then
// shares the pooled loads of pixels of one window.
Value *loadGrad(KernelBuilder &kb, const ConvGeometry &c, const GradSource &src,
                Value *n, Value *oh, Value *ow, int64_t off, int width,
                Value *pooledCol = nullptr, int64_t colTap = -1,
                std::map<std::pair<Value *, int64_t>,
                         std::pair<Value *, Value *>> *memo = nullptr) {
  auto &b = kb.b();
  if (!src.pooled()) {
    Value *at = kb.add(
        kb.mul(kb.add(kb.mul(kb.add(kb.mul(n, c.oh), oh), c.ow), ow), c.o),
        off);
    return src.pairs ? kb.loadPairs(src.dy, at, width)
                     : kb.load(src.dy, at, width);
  }
  Value *pr = sdiv(kb, oh, src.ph), *i = srem(kb, oh, src.ph);
  Value *pc = pooledCol, *j = kb.i64(colTap);
  if (colTap < 0) {
    pc = sdiv(kb, ow, src.pw);
    j = srem(kb, ow, src.pw);
  }
  // Clamped so that uncovered cells still load inside the buffers (when
  // windows tile the whole output, every cell is covered).
  Value *covered = b.getTrue(), *prc = pr, *pcc = pc;
  if (src.prows * src.ph < c.oh) {
    covered = b.CreateICmpSLT(pr, kb.i64(src.prows));
    prc = kb.min(pr, kb.i64(src.prows - 1));
  }
  if (src.pcols * src.pw < c.ow) {
    covered = b.CreateAnd(covered, b.CreateICmpSLT(pc, kb.i64(src.pcols)));
    pcc = kb.min(pc, kb.i64(src.pcols - 1));
  }
  Value *at = kb.add(
      kb.mul(kb.add(kb.mul(kb.add(kb.mul(n, src.prows), prc), src.pcols), pcc),
             c.o),
      off);
  std::pair<Value *, Value *> loaded{nullptr, nullptr};
  if (memo) {
    auto it = memo->find({pc, off});
    if (it != memo->end())
      loaded = it->second;
  }
  if (!loaded.first) {
    loaded = {src.loadArgmax(kb, at, width), src.value(kb, at, width)};
    if (memo)
      (*memo)[{pc, off}] = loaded;
  }
  Value *tap = b.CreateTrunc(kb.add(kb.mul(i, src.pw), j), b.getInt32Ty());
  Value *hit =
      b.CreateAnd(b.CreateICmpEQ(loaded.first, src.splatI32(kb, tap, width)),
                  src.splatI32(kb, covered, width));
  return b.CreateSelect(hit, loaded.second, kb.splat(width, 0.0f));
}

// bias_grad's sums of the pooled source's dy without the full-size dy.
// bias_grad adds row r of dy (r = (n*OH + oh)*OW + ow) into partial r mod 4
// in increasing r (rows from the last multiple of 4 on into partial 0),
// then returns (p0 + p1) + (p2 + p3). Here rows are visited in the same
// order, but only the nonzero cells: each pooled element, at tap j of its
// window row. The rows of zeros bias_grad also adds change no partial
// (x + 0 = x; the values are never -0), so the result is bias_grad's bit
// for bit. The partials are carried in a frame that rotates with the row
// pointer (slot k holds partial (k + r0) mod 4 for the frame's row r0):
// every step of the loops advances r0 by a constant, so each cell's
// partial is a constant slot, rotated in straight-line code.
// Sums images [n0, n0 + c.n), as bias_grad sums that slice of dy.
void emitPooledBiasGrad(KernelBuilder &kb, const ConvGeometry &c,
                        const GradSource &src, Value *db, Value *chunkBegin,
                        Value *chunkEnd, int64_t n0) {
  auto &b = kb.b();
  int w = kb.widthFor(c.o);
  int64_t rows = c.n * c.oh * c.ow, fullRows = rows / 4 * 4;
  Value *colBegin = kb.mul(chunkBegin, w);
  Value *colEnd = kb.min(kb.mul(chunkEnd, w), kb.i64(c.o));
  // Frame slots after advancing the row pointer by `by`.
  auto rotate = [](const std::vector<Value *> &f, int64_t by) {
    std::vector<Value *> out(4);
    for (int64_t k = 0; k < 4; ++k)
      out[k] = f[(k + by) % 4];
    return out;
  };
  int64_t coveredRows = src.prows * src.ph, coveredCols = src.pcols * src.pw;
  kb.vectorLoop(colBegin, colEnd, w, [&](Value *ch, int width) {
    Value *zero = kb.splat(width, 0.0f);
    // v where argmax selects tap `tap` and the cell's row is before the
    // tail, else 0.
    auto cell = [&](Value *argmax, Value *v, Value *tap, Value *before) {
      Value *hit =
          b.CreateAnd(b.CreateICmpEQ(argmax, src.splatI32(kb, tap, width)),
                      src.splatI32(kb, before, width));
      return b.CreateSelect(hit, v, zero);
    };
    std::vector<Value *> frame = kb.loopCarried(
        kb.i64(n0), kb.i64(n0 + c.n), 1, std::vector<Value *>(4, zero),
        [&](Value *n, const std::vector<Value *> &f0) {
          std::vector<Value *> f1 = kb.loopCarried(
              kb.i64(0), kb.i64(coveredRows), 1, f0,
              [&](Value *oh, const std::vector<Value *> &f2) {
                Value *pr = sdiv(kb, oh, src.ph), *i = srem(kb, oh, src.ph);
                Value *rowBase = kb.mul(
                    kb.add(kb.mul(kb.add(n, kb.i64(-n0)), c.oh), oh), c.ow);
                Value *pRow =
                    kb.mul(kb.add(kb.mul(n, src.prows), pr), src.pcols);
                Value *tap0 = b.CreateTrunc(kb.mul(i, src.pw), b.getInt32Ty());
                std::vector<Value *> f3 = kb.loopCarried(
                    kb.i64(0), kb.i64(src.pcols), 1, f2,
                    [&](Value *pc, const std::vector<Value *> &cur) {
                      Value *at = kb.add(kb.mul(kb.add(pRow, pc), c.o), ch);
                      Value *am = src.loadArgmax(kb, at, width);
                      Value *v = src.value(kb, at, width);
                      Value *r0 = kb.add(rowBase, kb.mul(pc, src.pw));
                      std::vector<Value *> next = cur;
                      for (int64_t j = 0; j < src.pw; ++j) {
                        Value *before =
                            b.CreateICmpSLT(kb.add(r0, j), kb.i64(fullRows));
                        Value *tap = b.CreateAdd(tap0, b.getInt32(j));
                        next[j % 4] =
                            b.CreateFAdd(next[j % 4], cell(am, v, tap, before));
                      }
                      return rotate(next, src.pw % 4);
                    });
                // The columns no window covers, to the next row.
                return rotate(f3, (c.ow - coveredCols) % 4);
              });
          // The rows no window covers, to the next image.
          return rotate(f1, (c.oh - coveredRows) * c.ow % 4);
        });
    // Back to absolute partials: the frame has passed every row.
    std::vector<Value *> part(4);
    for (int64_t k = 0; k < 4; ++k)
      part[(k + rows) % 4] = frame[k];
    // The tail rows (after the last multiple of 4) go to partial 0, in
    // order; they are the last cells of the last image.
    for (int64_t r = fullRows; r < rows; ++r) {
      int64_t n = n0 + r / (c.oh * c.ow), oh = r / c.ow % c.oh, ow = r % c.ow;
      if (oh >= coveredRows || ow >= coveredCols)
        continue;
      int64_t at0 =
          ((n * src.prows + oh / src.ph) * src.pcols + ow / src.pw) * c.o;
      Value *at = kb.add(ch, at0);
      Value *tap =
          b.getInt32(static_cast<int32_t>(oh % src.ph * src.pw + ow % src.pw));
      part[0] = b.CreateFAdd(part[0],
                             cell(src.loadArgmax(kb, at, width),
                                  src.value(kb, at, width), tap, b.getTrue()));
    }
    Value *sum = b.CreateFAdd(b.CreateFAdd(part[0], part[1]),
                              b.CreateFAdd(part[2], part[3]));
    kb.store(db, ch, sum);
  });
}

void emitBackwardFilter(KernelBuilder &kb, Value *db, const GradSource &src) {
  std::vector<int64_t> ks = kb.attrs().getInts(ir::AttrName::KernelSize);
  const std::vector<int64_t> &xs = kb.operandType(0).shape;
  std::vector<int64_t> s = kb.attrs().getInts(ir::AttrName::Strides),
                       pd = kb.attrs().getInts(ir::AttrName::Padding);
  std::vector<int64_t> ys = {xs[0], (xs[1] + pd[0] + pd[2] - ks[0]) / s[0] + 1,
                             (xs[2] + pd[1] + pd[3] - ks[1]) / s[1] + 1,
                             kb.resultType(0).shape.back()};
  ConvGeometry c = geometry(kb.attrs(), xs, ys, ks[0], ks[1]);
  Value *x = kb.operand(0), *dw = kb.result(0);
  FilterPlan plan = planFilter(kb, c);
  int64_t groups = plan.allTaps ? 1 : c.kh * c.kw;
  int64_t oGroups = static_cast<int64_t>(plan.oGroups.size());
  int64_t items = groups * plan.cBlocks * oGroups;
  // With batch_groups, the result holds one partial sum per group of the
  // batch (ir/ShapeRules.h), and the work items are (batch group, item),
  // group-major: a static split over as many threads as groups gives each
  // thread the images the batch-split kernels before it wrote, so it reads
  // them from its own cache rather than from the other core's.
  int64_t batchGroups = kb.attrs().getInt(ir::AttrName::BatchGroups, 1);
  auto [begin, end] = kb.partition(batchGroups * items);
  // The first image (pair) of the group being emitted.
  Value *groupStart = kb.i64(0);

  // Output rows/columns whose window tap k lies inside the image.
  auto range = [&](Value *k, int64_t pad, int64_t stride, int64_t in,
                   int64_t out) {
    Value *lo = ceilDivNonNeg(kb, sub(kb, kb.i64(pad), k), stride);
    Value *last = sub(kb, kb.i64(in - 1 + pad), k); // >= 0 iff any fits
    Value *hi = kb.b().CreateSelect(
        kb.b().CreateICmpSLT(last, kb.i64(0)), kb.i64(0),
        kb.min(kb.add(sdiv(kb, last, stride), 1), kb.i64(out)));
    return std::make_pair(lo, hi);
  };

  // One item over images [n0, n1): taps `tapList` (kh, kw as values),
  // channels c0 .. c0+nc, the output slices of `chunk`.
  auto body = [&](Value *n0, Value *n1, const std::vector<Value *> &tapKh,
                  const std::vector<Value *> &tapKw, Value *tapIndex0,
                  Value *c0, int64_t nc, const std::vector<Slice> &chunk) {
    int64_t nt = static_cast<int64_t>(tapKh.size());
    int64_t ns = static_cast<int64_t>(chunk.size());
    int64_t per = nt * nc * ns;
    // Beside the sums: the taps' inputs and the dy values (with a pool's
    // gradient as the prologue, its argmax and arithmetic too).
    int64_t sets = setsFor(per, src.pairs, numRegisters(kb) / 2);
    // dw element of (tap t, channel ci, slice s).
    auto dwIdx = [&](int64_t t, int64_t ci, int64_t s) {
      Value *tap = plan.allTaps ? kb.i64(t) : tapIndex0;
      return kb.add(kb.mul(kb.add(kb.mul(tap, c.c), c0), c.o),
                    ci * c.o + chunk[s].offset);
    };
    // Set 0 resumes the sums of earlier image blocks; the others start at 0.
    Value *firstPass = kb.b().CreateICmpEQ(n0, groupStart);
    std::vector<Value *> init;
    for (int64_t u = 0; u < sets; ++u)
      for (int64_t t = 0; t < nt; ++t)
        for (int64_t ci = 0; ci < nc; ++ci)
          for (int64_t s = 0; s < ns; ++s) {
            Value *z = zeros(kb, chunk[s].width);
            init.push_back(
                u > 0 ? z
                      : kb.b().CreateSelect(
                            firstPass, z,
                            kb.load(dw, dwIdx(t, ci, s), chunk[s].width)));
          }
    // The output rows/columns every tap of the item covers.
    Value *ohLo, *ohHi, *owLo, *owHi;
    if (plan.allTaps) {
      ohLo = owLo = kb.i64(0);
      ohHi = kb.i64(c.oh);
      owHi = kb.i64(c.ow);
    } else {
      std::tie(ohLo, ohHi) = range(tapKh[0], c.pt, c.sh, c.h, c.oh);
      std::tie(owLo, owHi) = range(tapKw[0], c.pl, c.sw, c.w, c.ow);
    }
    // acc[set u] += x[.., ow, c0..c0+nc) (x) dy[.., ow, chunk] for each tap,
    // for the npix pixels ow0, ow0+1, ... in order. With every tap in the
    // item, neighbouring pixels read overlapping x windows: each x value is
    // loaded once per block.
    // `aligned`: ow0 is a multiple of the pool width (so each pixel's
    // column tap is static).
    auto step = [&](std::vector<Value *> &a, int64_t u, Value *n, Value *oh,
                    Value *xRow, Value *ow0, int64_t npix, bool aligned) {
      std::map<std::tuple<int64_t, int64_t, int64_t>, Value *> loaded;
      std::map<std::pair<Value *, int64_t>, std::pair<Value *, Value *>> memo,
          memoOdd;
      // Pooled column of each window of the block, one value per window so
      // that the memo finds a window's loads again.
      std::vector<Value *> pcs;
      if (aligned) {
        Value *pc0 = sdiv(kb, ow0, src.pw);
        for (int64_t j = 0; j < npix; j += src.pw)
          pcs.push_back(j == 0 ? pc0 : kb.add(pc0, j / src.pw));
      }
      Value *xPix0 = kb.add(xRow, kb.mul(ow0, c.sw));
      for (int64_t p = 0; p < npix; ++p) {
        Value *ow = kb.add(ow0, p);
        // dy of image `img` (of pair n with pairs computed in registers).
        auto grad = [&](Value *img, const Slice &s, auto &m) {
          return aligned ? loadGrad(kb, c, src, img, oh, ow, s.offset, s.width,
                                    pcs[p / src.pw], p % src.pw, &m)
                         : loadGrad(kb, c, src, img, oh, ow, s.offset, s.width);
        };
        std::vector<Value *> dv;
        for (const Slice &s : chunk) {
          if (src.pairs && src.pooled()) {
            Value *img = kb.mul(n, 2);
            dv.push_back(kb.pairWords(grad(img, s, memo),
                                      grad(kb.add(img, 1), s, memoOdd)));
          } else {
            Value *d = grad(n, s, memo);
            dv.push_back(
                src.pairs ? d : kb.computeOperand(d, src.pooled() ? -1 : 1));
          }
        }
        for (int64_t t = 0; t < nt; ++t) {
          Value *xIdx =
              kb.add(kb.mul(kb.add(kb.add(xPix0, p * c.sw),
                                   kb.add(kb.mul(tapKh[t], c.w), tapKw[t])),
                            c.c),
                     c0);
          for (int64_t ci = 0; ci < nc; ++ci) {
            Value *&xs = loaded[{plan.allTaps ? t / c.kw : t,
                                 plan.allTaps ? p * c.sw + t % c.kw : p, ci}];
            if (!xs)
              xs = src.pairs
                       ? kb.loadPairs(x, kb.add(xIdx, ci), 1)
                       : kb.computeOperand(kb.loadF32(x, kb.add(xIdx, ci)), 0);
            for (int64_t s = 0; s < ns; ++s) {
              Value *&av = a[u * per + (t * nc + ci) * ns + s];
              Value *xv = kb.splat(chunk[s].width, xs);
              av = src.pairs ? kb.dotBfloat16Pairs(av, xv, dv[s])
                             : kb.fma(xv, dv[s], av);
            }
          }
        }
      }
    };
    // Pixels per step: blocks of 4 share x loads when every tap is in the
    // item; one at a time otherwise.
    int64_t pix = plan.allTaps ? 4 : 1;
    std::vector<Value *> acc = kb.loopCarried(
        n0, n1, 1, init, [&](Value *n, const std::vector<Value *> &a0) {
          return kb.loopCarried(
              ohLo, ohHi, 1, a0,
              [&](Value *oh, const std::vector<Value *> &a1) {
                // Pixel index of input (oh*sh - pt, -pl): tap offsets and
                // ow*sw are added per step.
                Value *ih = kb.add(kb.mul(oh, c.sh), -c.pt);
                Value *xRow =
                    kb.add(kb.mul(kb.add(kb.mul(n, c.h), ih), c.w), -c.pl);
                Value *count = sub(kb, owHi, owLo);
                int64_t span = sets * pix;
                // The all-taps path starts rows at column 0 and its blocks
                // at multiples of pix: when the pool width divides pix,
                // every block starts a window and its taps are static.
                bool aligned =
                    src.pooled() && plan.allTaps && pix % src.pw == 0;
                Value *mainEnd = kb.add(
                    owLo,
                    kb.mul(sdiv(kb, kb.max(count, kb.i64(0)), span), span));
                std::vector<Value *> a2 = kb.loopCarried(
                    owLo, mainEnd, span, a1,
                    [&](Value *ow, const std::vector<Value *> &cur) {
                      std::vector<Value *> nx = cur;
                      for (int64_t u = 0; u < sets; ++u)
                        step(nx, u, n, oh, xRow, kb.add(ow, u * pix), pix,
                             aligned);
                      return nx;
                    });
                return kb.loopCarried(
                    mainEnd, owHi, 1, a2,
                    [&](Value *ow, const std::vector<Value *> &cur) {
                      std::vector<Value *> nx = cur;
                      step(nx, 0, n, oh, xRow, ow, 1, false);
                      return nx;
                    });
              });
        });
    combineSets(kb, acc, sets, per);
    for (int64_t t = 0; t < nt; ++t)
      for (int64_t ci = 0; ci < nc; ++ci)
        for (int64_t s = 0; s < ns; ++s)
          kb.store(dw, dwIdx(t, ci, s), acc[(t * nc + ci) * ns + s]);
  };

  // Decodes item = (tap group, channel block, output group) and dispatches
  // to the static shapes of its channel block and output group.
  auto item = [&](Value *n0, Value *n1, Value *it) {
    Value *og = srem(kb, it, oGroups);
    Value *rest = sdiv(kb, it, oGroups);
    Value *blk = srem(kb, rest, plan.cBlocks);
    Value *tg = sdiv(kb, rest, plan.cBlocks);
    std::vector<Value *> tapKh, tapKw;
    if (plan.allTaps) {
      for (int64_t i = 0; i < c.kh; ++i)
        for (int64_t j = 0; j < c.kw; ++j) {
          tapKh.push_back(kb.i64(i));
          tapKw.push_back(kb.i64(j));
        }
    } else {
      tapKh.push_back(sdiv(kb, tg, c.kw));
      tapKw.push_back(srem(kb, tg, c.kw));
    }
    // Blocks 0 .. bigger-1 have base+1 channels, the others base.
    Value *c0 =
        kb.add(kb.mul(blk, plan.blockBase), kb.min(blk, kb.i64(plan.bigger)));
    auto withGroup = [&](int64_t nc) {
      for (int64_t gi = 0; gi < oGroups; ++gi) {
        auto run = [&] {
          for (const std::vector<Slice> &chunk : plan.oGroups[gi])
            body(n0, n1, tapKh, tapKw, tg, c0, nc, chunk);
        };
        if (oGroups == 1)
          run();
        else
          kb.ifThen(kb.b().CreateICmpEQ(og, kb.i64(gi)), run);
      }
    };
    if (plan.bigger == 0)
      withGroup(plan.blockBase);
    else
      kb.ifThenElse(
          kb.b().CreateICmpSLT(blk, kb.i64(plan.bigger)),
          [&] { withGroup(plan.blockBase + 1); },
          [&] { withGroup(plan.blockBase); });
  };

  int64_t ipp = plan.imagesPerPass;
  int64_t filterElems = kb.resultType(0).numElements() / batchGroups;
  Value *allGroups = dw;
  kb.loop(sdiv(kb, begin, items),
          sdiv(kb, kb.add(end, kb.i64(items - 1)), items), 1, [&](Value *g) {
            Value *first = kb.mul(g, items);
            Value *lo = kb.max(sub(kb, begin, first), kb.i64(0));
            Value *hi = kb.min(sub(kb, end, first), kb.i64(items));
            Value *groupEnd;
            std::tie(groupStart, groupEnd) =
                batchGroupItems(kb, g, c.n, batchGroups);
            dw = kb.elementPtr(allGroups, kb.mul(g, filterElems),
                               kb.b().getFloatTy());
            // At least one pass, so that an empty group's sums are zeros.
            kb.loop(groupStart, kb.max(groupEnd, kb.add(groupStart, kb.i64(1))),
                    ipp, [&](Value *n0) {
                      Value *n1 = kb.min(kb.add(n0, ipp), groupEnd);
                      kb.loop(lo, hi, 1, [&](Value *it) { item(n0, n1, it); });
                    });
          });
  dw = allGroups;

  if (db) {
    // The bias gradient of the same dy, as bias_grad sums it (by the same
    // batch groups). With pairs of images (an even batch,
    // ir/ShapeRules.cpp), c and the groups count pairs; bias_grad sums
    // images.
    int64_t perItem = src.pairs ? 2 : 1;
    forEachBatchGroup(
        kb, c.n, biasGradChunks(kb, c.o),
        [&](int64_t g, int64_t n0, int64_t n1, Value *cb, Value *ce) {
          ConvGeometry images = c;
          images.n = (n1 - n0) * perItem;
          Value *dbGroup =
              kb.elementPtr(db, kb.i64(g * c.o), kb.b().getFloatTy());
          if (src.pooled())
            emitPooledBiasGrad(kb, images, src, dbGroup, cb, ce, n0 * perItem);
          else
            emitBiasGradChunks(kb,
                               kb.elementPtr(src.dy,
                                             kb.i64(n0 * c.oh * c.ow * c.o),
                                             kb.b().getFloatTy()),
                               dbGroup, images.n * c.oh * c.ow, c.o, cb, ce);
        });
  }
  kb.keepLoopsAsEmitted();
}

} // namespace

// With bfloat16 pairs (ir/ShapeRules.cpp: x and dy packed along the batch),
// each item sums pairs of images, a pair per vdpbf16ps.
void emitConv2DBackwardFilter(KernelBuilder &kb) {
  emitBackwardFilter(
      kb, nullptr,
      GradSource{.dy = kb.operand(1),
                 .pairs = kb.operandType(0).dtype == ir::DType::BF16});
}

// conv2d_backward_filter with its stages: the bias gradient alongside
// (bias_grad), reading the gradient as a fused max pool's (argmax, g
// [, mask]) without materializing it (max_pool2d_argmax_grad).
void emitConv2DBackwardFilterFused(KernelBuilder &kb) {
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  Value *db = st.has(ir::FusedStage::BiasGrad) ? kb.result(1) : nullptr;
  if (!st.has(ir::FusedStage::MaxPool2DArgmaxGrad))
    return emitBackwardFilter(kb, db, GradSource{.dy = kb.operand(1)});
  GradSource src;
  src.argmax = kb.operand(1);
  src.grad = pooledGrad(kb, kb.operand(2),
                        kb.op().operands.size() == 4 ? kb.operand(3) : nullptr);
  std::vector<int64_t> ps = kb.attrs().getInts(ir::AttrName::PoolSize);
  src.ph = ps[0];
  src.pw = ps[1];
  src.prows = kb.operandType(1).shape[1];
  src.pcols = kb.operandType(1).shape[2];
  // x as pairs of images: two images' dy rounded and paired in registers.
  src.pairs = kb.operandType(0).dtype == ir::DType::BF16;
  emitBackwardFilter(kb, db, src);
}

} // namespace cnnc::codegen
