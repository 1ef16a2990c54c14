// Convolution kernels: conv2d, its gradient with respect to the input
// (conv2d_backward_data) and with respect to the kernel
// (conv2d_backward_filter). Images are NHWC, kernels HWIO; all sizes are
// compile-time constants, so window bounds at the image borders are resolved
// while emitting wherever possible.
//
// Forward and backward-data share one "gather" emitter: every output pixel is
// a sum over kernel taps of (input pixel row) x (weight matrix of the tap),
// accumulated in vector registers over the contiguous output channels and
// register-blocked over a few output pixels that broadcast their input values.
#include "codegen/Kernels.h"

#include <llvm/IR/DerivedTypes.h>

#include <algorithm>

namespace cnnc::codegen {

namespace {

using llvm::Value;

// A contiguous piece of the channel axis held in one vector register; the
// last piece of an odd channel count is a narrower vector.
struct Slice {
  int64_t offset;
  int width;
};

// Vector registers of the host: 32 with AVX-512, 16 otherwise.
int numRegisters(const KernelBuilder &kb) {
  return kb.vectorWidth() >= 16 ? 32 : 16;
}

// Splits k channels into vector slices, grouped into chunks of at most
// maxSlices whose accumulators stay in registers together.
std::vector<std::vector<Slice>> sliceChunks(int64_t k, int width,
                                            int maxSlices) {
  std::vector<Slice> all;
  for (int64_t off = 0; off < k; off += width)
    all.push_back({off, static_cast<int>(std::min<int64_t>(width, k - off))});
  std::vector<std::vector<Slice>> chunks;
  for (size_t i = 0; i < all.size(); i += maxSlices)
    chunks.emplace_back(all.begin() + i,
                        all.begin() + std::min(all.size(), i + maxSlices));
  return chunks;
}

Value *zeros(KernelBuilder &kb, int width) { return kb.splat(width, 0.0f); }

Value *sdiv(KernelBuilder &kb, Value *a, int64_t c) {
  return kb.b().CreateSDiv(a, kb.i64(c));
}
Value *srem(KernelBuilder &kb, Value *a, int64_t c) {
  return kb.b().CreateSRem(a, kb.i64(c));
}
Value *sub(KernelBuilder &kb, Value *a, Value *b) {
  return kb.b().CreateSub(a, b);
}

// ceil(max(v, 0) / s): the first output index whose tap is not before the
// image start, given v = padding - tap.
Value *ceilDivNonNeg(KernelBuilder &kb, Value *v, int64_t s) {
  return sdiv(kb, kb.add(kb.max(v, kb.i64(0)), s - 1), s);
}

struct ConvGeometry {
  int64_t n, h, w, c; // input
  int64_t kh, kw, o;  // kernel [kh, kw, c, o]
  int64_t oh, ow;     // output spatial size
  int64_t sh, sw;     // strides
  int64_t pt, pl;     // padding before (bottom/right follow from oh, ow)
};

ConvGeometry geometry(const ir::Attrs &a, const std::vector<int64_t> &x,
                      const std::vector<int64_t> &y, int64_t kh, int64_t kw) {
  std::vector<int64_t> s = a.getInts("strides"), p = a.getInts("padding");
  return {.n = x[0],
          .h = x[1],
          .w = x[2],
          .c = x[3],
          .kh = kh,
          .kw = kw,
          .o = y[3],
          .oh = y[1],
          .ow = y[2],
          .sh = s[0],
          .sw = s[1],
          .pt = p[0],
          .pl = p[1]};
}

// One kernel tap of an output column: weight column index into the weight
// buffer's KW axis, and the input column it reads.
struct ColTap {
  int64_t wcol, col;
};

// Output columns q0, q0+dq, ... (count of them) that read the same taps; the
// input column of each tap advances by dcol per step.
struct ColumnRun {
  int64_t q0, dq, count, dcol;
  std::vector<ColTap> taps; // of column q0, ascending wcol
};

// Groups output columns into runs of identical tap sets. Columns are visited
// by residue class modulo dq, so a strided transposed convolution gets one
// run per phase.
std::vector<ColumnRun>
columnRuns(int64_t cols, int64_t dq, int64_t dcol,
           const std::function<std::vector<ColTap>(int64_t)> &tapsOf) {
  std::vector<ColumnRun> runs;
  for (int64_t res = 0; res < dq && res < cols; ++res) {
    ColumnRun *cur = nullptr;
    for (int64_t q = res; q < cols; q += dq) {
      std::vector<ColTap> taps = tapsOf(q);
      bool extends = cur && cur->taps.size() == taps.size();
      for (size_t i = 0; extends && i < taps.size(); ++i)
        extends = taps[i].wcol == cur->taps[i].wcol &&
                  taps[i].col == cur->taps[i].col + cur->count * dcol;
      if (extends) {
        ++cur->count;
        continue;
      }
      runs.push_back({q, dq, 1, dcol, std::move(taps)});
      cur = &runs.back();
    }
  }
  return runs;
}

// Taps of one output row: weight rows kh = lo, lo+step, ... < hi and the
// input row each reads.
struct RowTaps {
  Value *lo, *hi;
  int64_t step;
  std::function<Value *(Value *kh)> inRow;
};

// out[n, r, q, 0:k] = sum over taps (kh, kw) and i < m of
//   in[n, inRow(kh), col(q, kw), i] * wt[kh, kw, i, 0:k]
// with in [N, inRows, inCols, m], wt [KH, wcols, m, k], out [N, outRows,
// outCols, k]. Partitioned over the N * outRows output rows.
struct GatherConv {
  Value *in, *wt, *out;
  int64_t n, inRows, inCols, m;
  int64_t outRows, outCols, k;
  int64_t wcols;
  std::vector<ColumnRun> runs = {};
  std::function<RowTaps(Value *r)> rowTaps = {};
};

// Taps of a run merged into segments of consecutive weight and input
// columns, which then form one contiguous loop of len * m steps.
struct TapSegment {
  int64_t wcol, col, len;
};

std::vector<TapSegment> tapSegments(const std::vector<ColTap> &taps) {
  std::vector<TapSegment> segs;
  for (const ColTap &t : taps) {
    if (!segs.empty() && segs.back().wcol + segs.back().len == t.wcol &&
        segs.back().col + segs.back().len == t.col) {
      ++segs.back().len;
      continue;
    }
    segs.push_back({t.wcol, t.col, 1});
  }
  return segs;
}

// Emits one register block: pixels first .. first+npix-1 of `run` (first is
// the dynamic index within the run) for the output channel slices `chunk`.
void emitGatherBlock(KernelBuilder &kb, const GatherConv &g,
                     const ColumnRun &run, const std::vector<Slice> &chunk,
                     const RowTaps &rt, Value *nIdx, Value *outRowPix,
                     Value *first, int64_t npix) {
  size_t ns = chunk.size();
  std::vector<Value *> init;
  for (int64_t p = 0; p < npix; ++p)
    for (const Slice &s : chunk)
      init.push_back(zeros(kb, s.width));
  std::vector<TapSegment> segs = tapSegments(run.taps);
  Value *inImgRow = kb.mul(nIdx, g.inRows);
  std::vector<Value *> acc = kb.loopCarried(
      rt.lo, rt.hi, rt.step, init,
      [&](Value *kh, const std::vector<Value *> &accIn) {
        std::vector<Value *> a = accIn;
        Value *rowPix = kb.mul(kb.add(inImgRow, rt.inRow(kh)), g.inCols);
        Value *firstCol = kb.mul(first, run.dcol);
        for (const TapSegment &seg : segs) {
          Value *wBase =
              kb.mul(kb.add(kb.mul(kh, g.wcols), seg.wcol), g.m * g.k);
          std::vector<Value *> xBase;
          for (int64_t p = 0; p < npix; ++p)
            xBase.push_back(kb.mul(
                kb.add(kb.add(rowPix, firstCol), seg.col + p * run.dcol), g.m));
          a = kb.loopCarried(
              kb.i64(0), kb.i64(seg.len * g.m), 1, a,
              [&](Value *i, const std::vector<Value *> &cur) {
                std::vector<Value *> next = cur;
                Value *wRow = kb.add(wBase, kb.mul(i, g.k));
                std::vector<Value *> wv;
                for (const Slice &s : chunk)
                  wv.push_back(kb.load(g.wt, kb.add(wRow, s.offset), s.width));
                for (int64_t p = 0; p < npix; ++p) {
                  Value *xs = kb.loadF32(g.in, kb.add(xBase[p], i));
                  for (size_t s = 0; s < ns; ++s) {
                    Value *&accv = next[p * ns + s];
                    accv = kb.fma(kb.splat(chunk[s].width, xs), wv[s], accv);
                  }
                }
                return next;
              });
        }
        return a;
      });
  for (int64_t p = 0; p < npix; ++p) {
    Value *q = kb.add(kb.mul(kb.add(first, p), run.dq), kb.i64(run.q0));
    Value *base = kb.mul(kb.add(outRowPix, q), g.k);
    for (size_t s = 0; s < ns; ++s)
      kb.store(g.out, kb.add(base, chunk[s].offset), acc[p * ns + s]);
  }
}

void emitGatherConv(KernelBuilder &kb, const GatherConv &g) {
  int regs = numRegisters(kb);
  auto chunks = sliceChunks(g.k, kb.vectorWidth(), regs / 8);
  auto [begin, end] = kb.partition(g.n * g.outRows);
  kb.loop(begin, end, 1, [&](Value *nr) {
    Value *nIdx = sdiv(kb, nr, g.outRows);
    Value *r = srem(kb, nr, g.outRows);
    RowTaps rt = g.rowTaps(r);
    Value *outRowPix = kb.mul(nr, g.outCols);
    for (const std::vector<Slice> &chunk : chunks) {
      // Accumulators plus the chunk's weights and one broadcast in registers.
      int64_t ns = static_cast<int64_t>(chunk.size());
      int64_t pix = std::clamp<int64_t>((regs - ns - 2) / ns, 1, 8);
      for (const ColumnRun &run : g.runs) {
        int64_t full = run.count / pix, rest = run.count % pix;
        if (full == 1)
          emitGatherBlock(kb, g, run, chunk, rt, nIdx, outRowPix, kb.i64(0),
                          pix);
        else if (full > 1)
          kb.loop(0, full * pix, pix, [&](Value *first) {
            emitGatherBlock(kb, g, run, chunk, rt, nIdx, outRowPix, first, pix);
          });
        if (rest)
          emitGatherBlock(kb, g, run, chunk, rt, nIdx, outRowPix,
                          kb.i64(full * pix), rest);
      }
    }
  });
}

// Scratch buffer for this call: on the stack when small, else the heap.
// Returns the buffer and a function that releases it.
std::pair<Value *, std::function<void()>> scratch(KernelBuilder &kb,
                                                  int64_t floats) {
  auto &b = kb.b();
  constexpr int64_t kMaxStackBytes = 256 << 10;
  if (floats * 4 <= kMaxStackBytes) {
    auto *a = b.CreateAlloca(llvm::ArrayType::get(b.getFloatTy(), floats));
    a->setAlignment(llvm::Align(64));
    return {a, [] {}};
  }
  llvm::Module &m = kb.module();
  llvm::FunctionCallee mallocFn =
      m.getOrInsertFunction("malloc", b.getPtrTy(), b.getInt64Ty());
  llvm::FunctionCallee freeFn =
      m.getOrInsertFunction("free", b.getVoidTy(), b.getPtrTy());
  Value *p = b.CreateCall(mallocFn, {kb.i64(floats * 4)});
  return {p, [&kb, freeFn, p] { kb.b().CreateCall(freeFn, {p}); }};
}

} // namespace

void emitConv2D(KernelBuilder &kb) {
  const auto &ws = kb.operandType(1).shape;
  ConvGeometry c = geometry(kb.attrs(), kb.operandType(0).shape,
                            kb.resultType(0).shape, ws[0], ws[1]);
  GatherConv g{.in = kb.operand(0),
               .wt = kb.operand(1),
               .out = kb.result(0),
               .n = c.n,
               .inRows = c.h,
               .inCols = c.w,
               .m = c.c,
               .outRows = c.oh,
               .outCols = c.ow,
               .k = c.o,
               .wcols = c.kw};
  // Output column q reads input columns q*sw - pl + kw inside the image.
  g.runs = columnRuns(c.ow, 1, c.sw, [&](int64_t q) {
    std::vector<ColTap> taps;
    for (int64_t kw = 0; kw < c.kw; ++kw) {
      int64_t col = q * c.sw - c.pl + kw;
      if (col >= 0 && col < c.w)
        taps.push_back({kw, col});
    }
    return taps;
  });
  g.rowTaps = [&](Value *r) {
    // Input row r*sh - pt + kh must lie in [0, h).
    Value *start = kb.add(kb.mul(r, c.sh), -c.pt);
    Value *lo = kb.max(sub(kb, kb.i64(0), start), kb.i64(0));
    Value *hi = kb.min(sub(kb, kb.i64(c.h), start), kb.i64(c.kh));
    return RowTaps{lo, hi, 1,
                   [&kb, start](Value *kh) { return kb.add(start, kh); }};
  };
  emitGatherConv(kb, g);
  kb.keepLoopsAsEmitted();
}

void emitConv2DBackwardData(KernelBuilder &kb) {
  // dx[n, ih, iw, c] = sum over taps with ih = oh*sh - pt + kh (and likewise
  // for columns) of dy[n, oh, ow, :] . w[kh, kw, c, :]. The contraction runs
  // over o, so the kernel is first copied to wt[kh, KW-1-kw, o, c]: contiguous
  // in c, and with the column taps flipped so that consecutive taps read
  // consecutive dy columns.
  const auto &ws = kb.operandType(1).shape;
  ConvGeometry c = geometry(kb.attrs(), kb.resultType(0).shape,
                            kb.operandType(0).shape, ws[0], ws[1]);
  auto [wt, release] = scratch(kb, c.kh * c.kw * c.c * c.o);
  Value *w = kb.operand(1);
  kb.loop(0, c.kh * c.kw, 1, [&](Value *t) {
    Value *kh = sdiv(kb, t, c.kw), *kw = srem(kb, t, c.kw);
    Value *tFlip = kb.add(kb.mul(kh, c.kw), sub(kb, kb.i64(c.kw - 1), kw));
    kb.loop(0, c.c, 1, [&](Value *ci) {
      Value *src = kb.mul(kb.add(kb.mul(t, c.c), ci), c.o);
      kb.loop(0, c.o, 1, [&](Value *oi) {
        Value *dst = kb.add(kb.mul(kb.add(kb.mul(tFlip, c.o), oi), c.c), ci);
        kb.storeF32(wt, dst, kb.loadF32(w, kb.add(src, oi)));
      });
    });
  });

  GatherConv g{.in = kb.operand(0),
               .wt = wt,
               .out = kb.result(0),
               .n = c.n,
               .inRows = c.oh,
               .inCols = c.ow,
               .m = c.o,
               .outRows = c.h,
               .outCols = c.w,
               .k = c.c,
               .wcols = c.kw};
  // dx column q is read by dy column (q + pl - kw) / sw when that divides
  // exactly and lies in [0, ow); with kw = KW-1-j that column grows with j.
  g.runs = columnRuns(c.w, c.sw, 1, [&](int64_t q) {
    std::vector<ColTap> taps;
    for (int64_t j = 0; j < c.kw; ++j) {
      int64_t t = q + c.pl - (c.kw - 1 - j);
      if (t >= 0 && t % c.sw == 0 && t / c.sw < c.ow)
        taps.push_back({j, t / c.sw});
    }
    return taps;
  });
  g.rowTaps = [&](Value *r) {
    // kh = t (mod sh) with 0 <= (t - kh) / sh < oh, where t = r + pt.
    Value *t = kb.add(r, c.pt);
    Value *lo0 = kb.max(kb.add(t, -c.sh * (c.oh - 1)), kb.i64(0));
    Value *lo = kb.add(lo0, srem(kb, sub(kb, t, lo0), c.sh));
    Value *hi = kb.min(kb.add(t, 1), kb.i64(c.kh));
    return RowTaps{lo, hi, c.sh, [&kb, t, sh = c.sh](Value *kh) {
                     return sdiv(kb, sub(kb, t, kh), sh);
                   }};
  };
  emitGatherConv(kb, g);
  release();
  kb.keepLoopsAsEmitted();
}

void emitConv2DBackwardFilter(KernelBuilder &kb) {
  // dw[kh, kw, c, :] = sum over n, oh, ow of x[n, ih, iw, c] * dy[n, oh, ow, :]
  // with ih = oh*sh - pt + kh, iw = ow*sw - pl + kw inside the image. Work
  // items are (kh, kw, block of channels); each sums the whole batch in a
  // fixed order, with accumulators for the block's channels x output slices.
  std::vector<int64_t> ks = kb.attrs().getInts("kernel_size");
  ConvGeometry c = geometry(kb.attrs(), kb.operandType(0).shape,
                            kb.operandType(1).shape, ks[0], ks[1]);
  Value *x = kb.operand(0), *dy = kb.operand(1), *dw = kb.result(0);
  int regs = numRegisters(kb);
  auto chunks = sliceChunks(c.o, kb.vectorWidth(), regs / 8);
  int64_t ns0 = static_cast<int64_t>(chunks[0].size());
  int64_t cb = std::clamp<int64_t>((regs - ns0 - 2) / ns0, 1, 12);
  cb = std::min(cb, c.c);
  int64_t nBlocks = (c.c + cb - 1) / cb;
  auto [begin, end] = kb.partition(c.kh * c.kw * nBlocks);

  kb.loop(begin, end, 1, [&](Value *item) {
    Value *blk = srem(kb, item, nBlocks);
    Value *tap = sdiv(kb, item, nBlocks);
    Value *kh = sdiv(kb, tap, c.kw), *kw = srem(kb, tap, c.kw);
    Value *c0 = kb.mul(blk, cb);
    // Output rows/columns whose window tap (kh, kw) lies inside the image.
    auto range = [&](Value *k, int64_t pad, int64_t stride, int64_t in,
                     int64_t out) {
      Value *lo = ceilDivNonNeg(kb, sub(kb, kb.i64(pad), k), stride);
      Value *last = sub(kb, kb.i64(in - 1 + pad), k); // >= 0 iff any fits
      Value *hi = kb.b().CreateSelect(
          kb.b().CreateICmpSLT(last, kb.i64(0)), kb.i64(0),
          kb.min(kb.add(sdiv(kb, last, stride), 1), kb.i64(out)));
      return std::make_pair(lo, hi);
    };
    auto [ohLo, ohHi] = range(kh, c.pt, c.sh, c.h, c.oh);
    auto [owLo, owHi] = range(kw, c.pl, c.sw, c.w, c.ow);

    auto body = [&](int64_t nc) {
      for (const std::vector<Slice> &chunk : chunks) {
        int64_t ns = static_cast<int64_t>(chunk.size());
        // Few accumulators would leave the loop bound by FMA latency; then
        // unroll ow with independent sets, summed in a fixed order after.
        int64_t sets = std::clamp<int64_t>(8 / (nc * ns), 1, 4);
        int64_t per = nc * ns;
        std::vector<Value *> init;
        for (int64_t u = 0; u < sets; ++u)
          for (int64_t ci = 0; ci < nc; ++ci)
            for (const Slice &s : chunk)
              init.push_back(zeros(kb, s.width));
        // acc[set u] += x[.., ow, c0..c0+nc) (x) dy[.., ow, chunk]
        auto step = [&](std::vector<Value *> &a, int64_t u, Value *dyRow,
                        Value *xRow, Value *ow) {
          std::vector<Value *> dv;
          Value *dyIdx = kb.mul(kb.add(dyRow, ow), c.o);
          for (const Slice &s : chunk)
            dv.push_back(kb.load(dy, kb.add(dyIdx, s.offset), s.width));
          Value *xIdx = kb.add(kb.mul(kb.add(xRow, kb.mul(ow, c.sw)), c.c), c0);
          for (int64_t ci = 0; ci < nc; ++ci) {
            Value *xs = kb.loadF32(x, kb.add(xIdx, ci));
            for (int64_t s = 0; s < ns; ++s) {
              Value *&av = a[u * per + ci * ns + s];
              av = kb.fma(kb.splat(chunk[s].width, xs), dv[s], av);
            }
          }
        };
        std::vector<Value *> acc = kb.loopCarried(
            kb.i64(0), kb.i64(c.n), 1, init,
            [&](Value *n, const std::vector<Value *> &a0) {
              return kb.loopCarried(
                  ohLo, ohHi, 1, a0,
                  [&](Value *oh, const std::vector<Value *> &a1) {
                    Value *dyRow = kb.mul(kb.add(kb.mul(n, c.oh), oh), c.ow);
                    Value *ih =
                        kb.add(kb.mul(oh, c.sh), sub(kb, kh, kb.i64(c.pt)));
                    // Pixel index of column iw = ow*sw - pl + kw, minus ow*sw.
                    Value *xRow =
                        kb.add(kb.mul(kb.add(kb.mul(n, c.h), ih), c.w),
                               kb.add(kw, -c.pl));
                    Value *count = sub(kb, owHi, owLo);
                    Value *mainEnd = kb.add(
                        owLo,
                        kb.mul(sdiv(kb, kb.max(count, kb.i64(0)), sets), sets));
                    std::vector<Value *> a2 = kb.loopCarried(
                        owLo, mainEnd, sets, a1,
                        [&](Value *ow, const std::vector<Value *> &cur) {
                          std::vector<Value *> nx = cur;
                          for (int64_t u = 0; u < sets; ++u)
                            step(nx, u, dyRow, xRow, kb.add(ow, u));
                          return nx;
                        });
                    return kb.loopCarried(
                        mainEnd, owHi, 1, a2,
                        [&](Value *ow, const std::vector<Value *> &cur) {
                          std::vector<Value *> nx = cur;
                          step(nx, 0, dyRow, xRow, ow);
                          return nx;
                        });
                  });
            });
        // Pairwise sum of the sets, then store.
        for (int64_t span = 1; span < sets; span *= 2)
          for (int64_t u = 0; u + span < sets; u += 2 * span)
            for (int64_t i = 0; i < per; ++i)
              acc[u * per + i] = kb.b().CreateFAdd(acc[u * per + i],
                                                   acc[(u + span) * per + i]);
        Value *rowBase = kb.mul(kb.add(kb.mul(tap, c.c), c0), c.o);
        for (int64_t ci = 0; ci < nc; ++ci)
          for (int64_t s = 0; s < ns; ++s)
            kb.store(dw, kb.add(rowBase, ci * c.o + chunk[s].offset),
                     acc[ci * ns + s]);
      }
    };
    int64_t tail = c.c % cb;
    if (tail == 0)
      body(cb);
    else
      kb.ifThenElse(
          kb.b().CreateICmpEQ(blk, kb.i64(nBlocks - 1)), [&] { body(tail); },
          [&] { body(cb); });
  });
  kb.keepLoopsAsEmitted();
}

} // namespace cnnc::codegen
