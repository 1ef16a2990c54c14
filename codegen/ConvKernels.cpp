// Convolution kernels: conv2d and its gradient with respect to the input
// (conv2d_backward_data), and their fused forms (bias + activation + max
// pool + dropout epilogues, backward data from a kernel transposed once per
// step); the gradient with respect to the kernel is in ConvFilterKernels.cpp.
// Images are NHWC, kernels HWIO; all sizes are compile-time constants, so
// window bounds at the image borders are resolved while emitting wherever
// possible.
//
// Forward and backward-data share one "gather" emitter: every output pixel is
// a sum over kernel taps of (input pixel row) x (weight matrix of the tap),
// accumulated in vector registers over the contiguous output channels and
// register-blocked over a few output pixels that broadcast their input values.
//
// Every output element is summed in an order fixed by the shapes alone, never
// by the thread count, so results are bit-identical for any thread count.
#include "codegen/ConvCommon.h"
#include "codegen/KernelParts.h"
#include "codegen/Kernels.h"
#include "ir/DtypePolicy.h"
#include "ir/FusedStages.h"

#include <llvm/IR/DerivedTypes.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>

namespace cnnc::codegen {

namespace {

using llvm::Value;
using namespace conv;

// ---------------------------------------------------------------------------
// The gather emitter (forward and backward data)
// ---------------------------------------------------------------------------

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

// What a finished accumulator of channels [offset, offset + width) becomes
// before it is stored (bias + activation); identity when empty.
using Epilogue = std::function<Value *(Value *acc, int64_t offset, int width)>;

// out[n, r, q, 0:k] = sum over taps (kh, kw) and i < m of
//   in[n, inRow(kh), col(q, kw), i] * wt[kh, kw, i, 0:k]
// with in [N, inRows, inCols, m], wt [KH, wcols, m, k]. With `pairs`, in
// and wt hold bfloat16 pairs along i (ir/Types.h; m even, counting the
// padding): one 32-bit word per pair, multiplied a pair at a time.
struct GatherConv {
  Value *in, *wt;
  int64_t n, inRows, inCols, m;
  int64_t outRows, outCols, k;
  int64_t wcols;
  int64_t wrows; // KH
  std::vector<ColumnRun> runs = {};
  std::function<RowTaps(Value *r)> rowTaps = {};
  Epilogue epilogue = {};
  bool pairs = false;
  // Where output channel o of weight row t is: wt[t * wk + o - wOffset]
  // (wk = k, wOffset = 0 but for a chunk's packed copy).
  int64_t wk = 0, wOffset = 0;
  // With padded columns (padColumns): a per-thread buffer of wrows input
  // rows, each padLeft zero columns, the input row, and zeros up to
  // paddedCols columns.
  Value *paddedRows = nullptr;
  int64_t padLeft = 0, paddedCols = 0;
  std::vector<ColumnRun> paddedRuns = {}; // one run: every tap, every column

  // Elements (words, with pairs) per input pixel and per weight row.
  int64_t steps() const { return pairs ? m / 2 : m; }
  int64_t weightRowStride() const { return wk ? wk : k; }
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

// Where one output row goes: element out[base + q * k + channel].
struct RowOut {
  Value *out, *base;
};

// Emits one register block: pixels first .. first+npix-1 of `run` (first is
// the dynamic index within the run) for the output channel slices `chunk`.
// Blocks too small to fill the FMA pipes split the contraction into
// interleaved partial sums (i = u mod sets), added up in a fixed order.
void emitGatherBlock(KernelBuilder &kb, const GatherConv &g,
                     const ColumnRun &run, const std::vector<Slice> &chunk,
                     const RowTaps &rt, Value *nIdx, const RowOut &dst,
                     Value *first, int64_t npix) {
  int64_t ns = static_cast<int64_t>(chunk.size());
  int64_t per = npix * ns;
  // Beside the sums: the chunk's weights and a broadcast.
  int64_t sets = setsFor(per, g.pairs, numRegisters(kb) - ns - 2);
  std::vector<Value *> init;
  for (int64_t u = 0; u < sets; ++u)
    for (int64_t p = 0; p < npix; ++p)
      for (const Slice &s : chunk)
        init.push_back(zeros(kb, s.width));
  std::vector<TapSegment> segs = tapSegments(run.taps);
  Value *inImgRow = kb.mul(nIdx, g.inRows);
  // Contractions of at most this many steps are emitted in straight line,
  // and then so is the loop over kernel rows when its bounds are constant.
  const int64_t kUnroll = 4;
  int64_t longest = 0;
  for (const TapSegment &seg : segs)
    longest = std::max(longest, seg.len * g.steps() / sets);
  std::vector<Value *> acc = carriedRange(
      kb, rt.lo, rt.hi, rt.step, init, longest <= kUnroll ? 8 : 0,
      [&](Value *kh, const std::vector<Value *> &accIn) {
        std::vector<Value *> a = accIn;
        Value *rowPix = kb.mul(kb.add(inImgRow, rt.inRow(kh)), g.inCols);
        Value *firstCol = kb.mul(first, run.dcol);
        for (const TapSegment &seg : segs) {
          Value *wBase = kb.mul(kb.add(kb.mul(kh, g.wcols), seg.wcol),
                                g.steps() * g.weightRowStride());
          std::vector<Value *> xBase;
          for (int64_t p = 0; p < npix; ++p)
            xBase.push_back(
                kb.mul(kb.add(kb.add(rowPix, firstCol), seg.col + p * run.dcol),
                       g.steps()));
          // acc[set u] += in[.., i] (x) wt[i, chunk]
          auto step = [&](std::vector<Value *> &next, int64_t u, Value *i) {
            Value *wRow = kb.add(kb.add(wBase, kb.mul(i, g.weightRowStride())),
                                 -g.wOffset);
            if (g.pairs) {
              std::vector<Value *> wv;
              for (const Slice &s : chunk)
                wv.push_back(
                    kb.loadPairs(g.wt, kb.add(wRow, s.offset), s.width));
              for (int64_t p = 0; p < npix; ++p) {
                Value *xs = kb.loadPairs(g.in, kb.add(xBase[p], i), 1);
                for (int64_t s = 0; s < ns; ++s) {
                  Value *&accv = next[u * per + p * ns + s];
                  accv = kb.dotBfloat16Pairs(accv, kb.splat(chunk[s].width, xs),
                                             wv[s]);
                }
              }
              return;
            }
            std::vector<Value *> wv;
            for (const Slice &s : chunk)
              wv.push_back(kb.computeOperand(
                  kb.load(g.wt, kb.add(wRow, s.offset), s.width), 1));
            for (int64_t p = 0; p < npix; ++p) {
              Value *xs =
                  kb.computeOperand(kb.loadF32(g.in, kb.add(xBase[p], i)), 0);
              for (int64_t s = 0; s < ns; ++s) {
                Value *&accv = next[u * per + p * ns + s];
                accv = kb.fma(kb.splat(chunk[s].width, xs), wv[s], accv);
              }
            }
          };
          int64_t len = seg.len * g.steps(), main = len / sets * sets;
          if (main > 0)
            a = carriedRange(kb, kb.i64(0), kb.i64(main), sets, a, kUnroll,
                             [&](Value *i, const std::vector<Value *> &cur) {
                               std::vector<Value *> next = cur;
                               for (int64_t u = 0; u < sets; ++u)
                                 step(next, u, kb.add(i, u));
                               return next;
                             });
          if (main < len)
            a = carriedRange(kb, kb.i64(main), kb.i64(len), 1, a, kUnroll,
                             [&](Value *i, const std::vector<Value *> &cur) {
                               std::vector<Value *> next = cur;
                               step(next, 0, i);
                               return next;
                             });
        }
        return a;
      });
  combineSets(kb, acc, sets, per);
  for (int64_t p = 0; p < npix; ++p) {
    Value *q = kb.add(kb.mul(kb.add(first, p), run.dq), kb.i64(run.q0));
    Value *base = kb.add(dst.base, kb.mul(q, g.k));
    for (int64_t s = 0; s < ns; ++s) {
      Value *v = acc[p * ns + s];
      if (g.epilogue)
        v = g.epilogue(v, chunk[s].offset, chunk[s].width);
      kb.store(dst.out, kb.add(base, chunk[s].offset), v);
    }
  }
}

// Padded columns: where a convolution pads its input's columns, the output
// columns near the border read fewer taps and form runs of their own, one
// or two pixels each: register blocks of a pixel, with too few FMAs per
// load (5x5 `same` on 14 columns: 4 of 14 columns, 22 % of the work). A
// copy of each input row between zero columns makes every column read
// every tap: one run, full blocks. The zero taps add exact zeros to the
// sums (of finite weights), at most a quarter more FMAs. Only for runs
// one column apart (all but strided transposed convolutions) whose taps
// are exactly the input columns inside the image.
constexpr int64_t kPaddedRowsBytes = 64 << 10;

void padColumns(KernelBuilder &kb, GatherConv &g) {
  if (g.runs.size() < 2)
    return;
  int64_t dcol = g.runs[0].dcol, padLeft = -1, taps = 0;
  for (const ColumnRun &run : g.runs)
    if (!run.taps.empty() && padLeft < 0)
      padLeft = run.q0 * dcol + run.taps[0].wcol - run.taps[0].col;
  // Every column of every run: its taps are exactly the weight columns whose
  // input column q * dcol + w - padLeft lies inside the image.
  for (const ColumnRun &run : g.runs) {
    if (run.dq != 1 || run.dcol != dcol)
      return;
    for (int64_t t = 0; t < run.count; ++t) {
      int64_t q = run.q0 + t;
      size_t next = 0;
      for (int64_t w = 0; w < g.wcols; ++w) {
        int64_t col = q * dcol + w - padLeft;
        bool inside = col >= 0 && col < g.inCols;
        bool has = next < run.taps.size() && run.taps[next].wcol == w;
        if (has != inside || (has && run.taps[next++].col + t * dcol != col))
          return;
      }
      if (next != run.taps.size())
        return;
      taps += static_cast<int64_t>(run.taps.size());
    }
  }
  int64_t cols = std::max((g.outCols - 1) * dcol + g.wcols,
                          std::max<int64_t>(padLeft, 0) + g.inCols);
  if (padLeft < 0 || 4 * g.outCols * g.wcols > 5 * taps ||
      g.wrows * cols * g.steps() * 4 > kPaddedRowsBytes)
    return;
  ColumnRun run{0, 1, g.outCols, dcol, {}};
  for (int64_t w = 0; w < g.wcols; ++w)
    run.taps.push_back({w, w});
  g.paddedRuns = {run};
  g.padLeft = padLeft;
  g.paddedCols = cols;
  g.paddedRows =
      kb.stackBuffer(g.wrows * cols * g.steps(), kb.b().getFloatTy());
}

// Kernels of more bytes than this (48 pages of 4 KiB, the L1 TLB holding
// 64 on Zen 3 and 4) are packed per chunk, on the stack up to kPackOnStack.
constexpr int64_t kPackAbove = 192 << 10, kPackOnStack = 256 << 10;

// The output channel chunks of the gather: slices whose accumulators stay
// in registers together.
std::vector<std::vector<Slice>> gatherChunks(KernelBuilder &kb,
                                             const GatherConv &g) {
  return sliceChunks(g.k, kb.vectorWidth(), numRegisters(kb) / 8);
}

// Output row r of image nIdx, channels `chunk`. A run of columns is cut
// into nearly equal register blocks (26 columns of at most 8: 7, 7, 6, 6),
// so that no block is left too small to hide the FMA latency.
void emitRowBlocks(KernelBuilder &kb, const GatherConv &g, Value *nIdx,
                   const RowTaps &rt, const RowOut &dst,
                   const std::vector<Slice> &chunk) {
  int regs = numRegisters(kb);
  // Accumulators plus the chunk's weights and one broadcast in registers.
  int64_t ns = static_cast<int64_t>(chunk.size());
  int64_t maxPix = std::clamp<int64_t>((regs - ns - 2) / ns, 1, 8);
  for (const ColumnRun &run : g.runs) {
    int64_t blocks = (run.count + maxPix - 1) / maxPix;
    int64_t size = run.count / blocks, bigger = run.count % blocks;
    // `bigger` blocks of size + 1 pixels, then the rest of size pixels.
    auto emitBlocks = [&](int64_t first, int64_t count, int64_t pix) {
      if (count == 1)
        emitGatherBlock(kb, g, run, chunk, rt, nIdx, dst, kb.i64(first), pix);
      else if (count > 1)
        kb.loop(first, first + count * pix, pix, [&](Value *f) {
          emitGatherBlock(kb, g, run, chunk, rt, nIdx, dst, f, pix);
        });
    };
    emitBlocks(0, bigger, size + 1);
    emitBlocks(bigger * (size + 1), blocks - bigger, size);
  }
}

// Output row r of image nIdx, channels `chunk`; with padded columns, from
// the rows its taps read copied into g.paddedRows between zero columns.
void emitGatherRowChunk(KernelBuilder &kb, const GatherConv &g, Value *nIdx,
                        Value *r, const RowOut &dst,
                        const std::vector<Slice> &chunk) {
  RowTaps rt = g.rowTaps(r);
  if (!g.paddedRows)
    return emitRowBlocks(kb, g, nIdx, rt, dst, chunk);
  int64_t steps = g.steps(), row = g.paddedCols * steps;
  Value *imgRow = kb.mul(nIdx, g.inRows);
  kb.loop(rt.lo, rt.hi, rt.step, [&](Value *kh) {
    Value *to = kb.mul(kh, row);
    Value *from = kb.mul(kb.add(imgRow, rt.inRow(kh)), g.inCols * steps);
    kb.zero(g.paddedRows, to, kb.i64(g.padLeft * steps));
    Value *body = kb.add(to, g.padLeft * steps);
    kb.vectorLoop(kb.i64(0), kb.i64(g.inCols * steps), [&](Value *i, int w) {
      kb.store(g.paddedRows, kb.add(body, i),
               kb.load(g.in, kb.add(from, i), w));
    });
    int64_t right = (g.padLeft + g.inCols) * steps;
    kb.zero(g.paddedRows, kb.add(to, right), kb.i64(row - right));
  });
  GatherConv p = g;
  p.runs = g.paddedRuns;
  p.in = g.paddedRows;
  p.inRows = g.wrows;
  p.inCols = g.paddedCols;
  RowTaps prt{rt.lo, rt.hi, rt.step, [](Value *kh) { return kh; }};
  emitRowBlocks(kb, p, kb.i64(0), prt, dst, chunk);
}

// Output row r of image nIdx, every channel.
void emitGatherRow(KernelBuilder &kb, const GatherConv &g, Value *nIdx,
                   Value *r, const RowOut &dst) {
  for (const std::vector<Slice> &chunk : gatherChunks(kb, g))
    emitGatherRowChunk(kb, g, nIdx, r, dst, chunk);
}

// Every output row of the gather, partitioned over the N * outRows rows.
// A kernel whose weights span more 4 KiB pages than the L1 TLB holds is
// first copied by each thread (that has rows) into a packed copy, each
// channel chunk's weights contiguous (KH * KW * m rows of the chunk's
// width): read in place, consecutive weight rows of a chunk are k floats
// apart, and every register block would walk all the kernel's pages (k =
// 128 input and output channels: 144) -- half the FMA rate. The copy is on
// the stack up to 256 KiB (the caller's thread runs thread 0), else from
// malloc, and where malloc fails the kernel reads the weights in place.
// Each output element is summed the same way on every path.
void emitGatherConv(KernelBuilder &kb, const GatherConv &g, Value *out) {
  auto &b = kb.b();
  auto [begin, end] = kb.partition(g.n * g.outRows);
  std::vector<std::vector<Slice>> chunks = gatherChunks(kb, g);
  int64_t weightRows = g.wrows * g.wcols * g.steps();
  int64_t bytes = weightRows * g.k * 4;
  auto inPlace = [&] {
    kb.loop(begin, end, 1, [&](Value *nr) {
      Value *n = sdiv(kb, nr, g.outRows), *r = srem(kb, nr, g.outRows);
      for (const std::vector<Slice> &chunk : chunks)
        emitGatherRowChunk(kb, g, n, r, {out, kb.mul(nr, g.outCols * g.k)},
                           chunk);
    });
  };
  if (chunks.size() == 1 || bytes <= kPackAbove)
    return inPlace();
  auto packedRows = [&](Value *packed) {
    std::vector<GatherConv> perChunk(chunks.size(), g);
    for (size_t c = 0; c < chunks.size(); ++c) {
      int64_t width = 0;
      for (const Slice &sl : chunks[c])
        width += sl.width;
      perChunk[c].wt =
          kb.elementPtr(packed, kb.i64(weightRows * chunks[c][0].offset));
      perChunk[c].wk = width;
      perChunk[c].wOffset = chunks[c][0].offset;
    }
    for (size_t c = 0; c < chunks.size(); ++c) {
      const GatherConv &gc = perChunk[c];
      kb.loop(0, weightRows, 1, [&](Value *t) {
        for (const Slice &sl : chunks[c])
          kb.store(gc.wt, kb.add(kb.mul(t, gc.wk), sl.offset - gc.wOffset),
                   kb.load(g.wt, kb.add(kb.mul(t, g.k), sl.offset), sl.width));
      });
    }
    // Rows in groups whose input takes about 64 KiB, each group one chunk
    // at a time, so that the chunk's weights stay in L2 while the group's
    // rows pass (the whole kernel does not fit).
    int64_t group =
        std::clamp<int64_t>((64 << 10) / (g.inCols * g.steps() * 4), 1, 64);
    kb.loop(begin, end, group, [&](Value *r0) {
      Value *r1 = kb.min(kb.add(r0, group), end);
      for (size_t c = 0; c < chunks.size(); ++c)
        kb.loop(r0, r1, 1, [&](Value *nr) {
          emitGatherRowChunk(kb, perChunk[c], sdiv(kb, nr, g.outRows),
                             srem(kb, nr, g.outRows),
                             {out, kb.mul(nr, g.outCols * g.k)}, chunks[c]);
        });
    });
  };
  kb.ifThen(b.CreateICmpSLT(begin, end), [&] {
    if (bytes <= kPackOnStack)
      return packedRows(kb.stackBuffer(weightRows * g.k, b.getFloatTy()));
    kb.withHeapBuffer(bytes, packedRows, inPlace);
  });
}

// ---------------------------------------------------------------------------
// Forward convolution and its epilogues
// ---------------------------------------------------------------------------

// The f32 shapes of operands 0 (an image) and 1 (a kernel), unpacked where
// they are bfloat16 pairs (ir/ShapeRules.cpp: along axes 3 and 2).
std::vector<int64_t> pairedOperandShape(KernelBuilder &kb, int i) {
  std::optional<ir::TensorType> unpacked = ir::unpackedBfloat16Pairs(
      kb.operandType(i), ir::bfloat16PairAxis(kb.op().kind, kb.attrs(), i));
  return unpacked ? unpacked->shape : kb.operandType(i).shape;
}

ConvGeometry forwardGeometry(KernelBuilder &kb) {
  const std::vector<int64_t> ws = pairedOperandShape(kb, 1);
  const std::vector<int64_t> xs = pairedOperandShape(kb, 0);
  std::vector<int64_t> y = xs;
  // The pre-pool output shape from the attributes (fused pools shrink the
  // result).
  std::vector<int64_t> s = kb.attrs().getInts(ir::AttrName::Strides),
                       p = kb.attrs().getInts(ir::AttrName::Padding);
  y[3] = ws[3];
  ConvGeometry c = geometry(kb.attrs(), xs, y, ws[0], ws[1]);
  c.oh = (xs[1] + p[0] + p[2] - (ws[0] - 1) * c.dh - 1) / s[0] + 1;
  c.ow = (xs[2] + p[1] + p[3] - (ws[1] - 1) * c.dw - 1) / s[1] + 1;
  return c;
}

GatherConv forwardGather(KernelBuilder &kb, const ConvGeometry &c) {
  GatherConv g{.in = kb.operand(0),
               .wt = kb.operand(1),
               .n = c.n,
               .inRows = c.h,
               .inCols = c.w,
               .m = c.c,
               .outRows = c.oh,
               .outCols = c.ow,
               .k = c.o,
               .wcols = c.kw,
               .wrows = c.kh,
               .pairs = kb.operandType(0).dtype == ir::DType::BF16};
  // Output column q reads input columns q*sw - pl + kw*dw inside the image.
  g.runs = columnRuns(c.ow, 1, c.sw, [&](int64_t q) {
    std::vector<ColTap> taps;
    for (int64_t kw = 0; kw < c.kw; ++kw) {
      int64_t col = q * c.sw - c.pl + kw * c.dw;
      if (col >= 0 && col < c.w)
        taps.push_back({kw, col});
    }
    return taps;
  });
  // Without row padding every output row reads all kernel rows: constant
  // bounds, which the block emitter can unroll.
  bool rowsInside = c.pt == 0 && (c.oh - 1) * c.sh + (c.kh - 1) * c.dh < c.h;
  g.rowTaps = [&kb, c, rowsInside](Value *r) {
    // Input row r*sh - pt + kh*dh must lie in [0, h): kh from
    // ceil(-start / dh) up to ceil((h - start) / dh).
    Value *start = kb.add(kb.mul(r, c.sh), -c.pt);
    Value *lo = kb.max(
        sdiv(kb, kb.add(sub(kb, kb.i64(0), start), c.dh - 1), c.dh), kb.i64(0));
    Value *hi =
        kb.min(sdiv(kb, kb.add(sub(kb, kb.i64(c.h), start), c.dh - 1), c.dh),
               kb.i64(c.kh));
    if (rowsInside) {
      lo = kb.i64(0);
      hi = kb.i64(c.kh);
    }
    return RowTaps{lo, hi, 1, [&kb, start, dh = c.dh](Value *kh) {
                     return kb.add(start, kb.mul(kh, dh));
                   }};
  };
  if (c.dw == 1)
    padColumns(kb, g); // its row copies hold consecutive columns only
  return g;
}

// act(acc + bias[channels]): bias_add's add, then the activation op's
// arithmetic, so that the fused result equals the unfused one bit for bit.
// Either stage may be absent; with neither there is no epilogue.
Epilogue biasActivation(KernelBuilder &kb, ir::FusedStageSet st) {
  if (!st.has(ir::FusedStage::BiasAdd) && !st.has(ir::FusedStage::Activation))
    return {};
  Value *bias = st.has(ir::FusedStage::BiasAdd) ? kb.operand(2) : nullptr;
  ir::ActivationKind act = epilogueActivation(kb, st);
  return [&kb, bias, act](Value *acc, int64_t offset, int width) {
    if (bias)
      acc = kb.b().CreateFAdd(acc, kb.load(bias, kb.i64(offset), width));
    return activationValue(kb, act, 0, acc, width);
  };
}

// Convolution + bias + activation + non-overlapping max pool. Work items
// are pooled rows: each computes its ph convolution rows into a small
// per-thread buffer (they stay in L1) and pools them from there, so the
// full-size activation is never written. With `argmax`, also the window tap
// the gradient flows through (see ir/Ops.def and max_pool2d_argmax_grad):
// the first tap (row-major) equal to the maximum, -1 when there is none or,
// after a relu, when the maximum is not positive. With `dropout`, the pool
// is followed by the dropout op's arithmetic (operand 3 is the step), and
// argmax is -1 where it drops: the gradient then only needs dropout's
// scale, not its mask.
// With the pack_bfloat16_pairs stage, the pooled vector v of `width`
// channels at element `at` of image n is stored as the packing along each
// of the stage's axes would hold it (ir/Types.h packedBfloat16Pairs):
// bfloat16 halves rounded as pack_bfloat16_pairs rounds them. Along the
// channels (even, so every word is two channels of one pixel) the halves
// are in the pooled order; along the batch (even) a pixel's word pairs two
// images, and each image writes only its own halves (a masked store), so
// no word is ever read back and rewritten.
void storePackedHalves(KernelBuilder &kb, const std::vector<int64_t> &axes,
                       int64_t imageElems, Value *n, Value *at, Value *v,
                       int width) {
  auto &b = kb.b();
  Value *halves = kb.bfloat16Halves(v);
  for (size_t r = 0; r < axes.size(); ++r) {
    if (axes[r] != 0) {
      b.CreateAlignedStore(halves,
                           kb.elementPtr(kb.result(r), at, b.getInt16Ty()),
                           llvm::Align(2));
      continue;
    }
    // Half (n % 2) of word (n / 2, at - n * imageElems) of the batch pairs.
    Value *odd = b.CreateSRem(n, kb.i64(2));
    Value *half =
        kb.add(kb.mul(sub(kb, n, odd), imageElems),
               kb.add(kb.mul(sub(kb, at, kb.mul(n, imageElems)), 2), odd));
    Value *p = kb.elementPtr(kb.result(r), half, b.getInt16Ty());
    if (width == 1) {
      b.CreateAlignedStore(halves, p, llvm::Align(2));
      continue;
    }
    llvm::SmallVector<int, 32> spread;
    llvm::SmallVector<llvm::Constant *, 32> every2;
    for (int l = 0; l < width; ++l) {
      spread.append({l, width});
      every2.append({b.getTrue(), b.getFalse()});
    }
    Value *zero = llvm::Constant::getNullValue(halves->getType());
    b.CreateMaskedStore(b.CreateShuffleVector(halves, zero, spread), p,
                        llvm::Align(2), llvm::ConstantVector::get(every2));
  }
}

void emitConvMaxPool(KernelBuilder &kb, ir::FusedStageSet st) {
  auto &b = kb.b();
  bool argmax = st.has(ir::FusedStage::Argmax);
  ConvGeometry c = forwardGeometry(kb);
  GatherConv g = forwardGather(kb, c);
  g.epilogue = biasActivation(kb, st);
  std::vector<int64_t> ps = kb.attrs().getInts(ir::AttrName::PoolSize);
  int64_t ph = ps[0], pw = ps[1];
  int64_t prows = c.oh / ph, pcols = c.ow / pw;
  std::vector<int64_t> packAxes;
  if (st.has(ir::FusedStage::PackBfloat16Pairs))
    packAxes = kb.attrs().getInts(ir::AttrName::Axes);
  Value *argmaxOut =
      argmax ? kb.result(packAxes.empty() ? 1 : packAxes.size()) : nullptr;
  bool relu = st.has(ir::FusedStage::Activation) &&
              ir::activationKindOf(kb.attrs(), ir::AttrName::Activation) ==
                  ir::ActivationKind::Relu;
  Value *rows = kb.stackBuffer(ph * c.ow * c.o, b.getFloatTy());
  std::optional<DropoutHash> drop;
  if (st.has(ir::FusedStage::Dropout))
    drop = dropoutHash(kb, kb.attrs(),
                       kb.operand(2 + st.count({ir::FusedStage::BiasAdd})));
  auto [begin, end] = kb.partition(c.n * prows);
  kb.loop(begin, end, 1, [&](Value *np) {
    Value *n = sdiv(kb, np, prows);
    Value *pr = srem(kb, np, prows);
    kb.loop(0, ph, 1, [&](Value *i) {
      emitGatherRow(kb, g, n, kb.add(kb.mul(pr, ph), i),
                    {rows, kb.mul(i, c.ow * c.o)});
    });
    kb.loop(0, pcols, 1, [&](Value *pc) {
      Value *outIdx = kb.mul(kb.add(kb.mul(np, pcols), pc), c.o);
      Value *tap0 = kb.mul(pc, pw * c.o);
      for (const auto &chunk : sliceChunks(c.o, kb.vectorWidth(), 1)) {
        const Slice &s = chunk[0];
        std::vector<Value *> taps;
        for (int64_t i = 0; i < ph; ++i)
          for (int64_t j = 0; j < pw; ++j)
            taps.push_back(kb.load(
                rows, kb.add(tap0, (i * c.ow + j) * c.o + s.offset), s.width));
        Value *m = windowMax(kb, taps, s.width);
        Value *at = kb.add(outIdx, s.offset);
        Value *keep = nullptr, *y = m;
        if (drop) {
          // dropout: keep ? x * scale : 0.
          keep = dropoutKeep(kb, *drop, at, s.width);
          y = b.CreateSelect(keep,
                             b.CreateFMul(m, kb.splat(s.width, drop->scale)),
                             kb.splat(s.width, 0.0f));
        }
        if (packAxes.empty())
          kb.store(kb.result(0), at, y);
        else
          storePackedHalves(kb, packAxes, prows * pcols * c.o, n, at, y,
                            s.width);
        if (!argmax)
          continue;
        Value *idx = windowArgmax(kb, taps, m, relu, s.width);
        if (keep)
          idx = b.CreateSelect(keep, idx,
                               llvm::Constant::getAllOnesValue(idx->getType()));
        storeI32s(kb, argmaxOut, at, idx);
      }
    });
  });
  kb.keepLoopsAsEmitted();
}

// ---------------------------------------------------------------------------
// Backward data
// ---------------------------------------------------------------------------

// Backward data of an unpadded convolution, where every tap of every dy
// pixel lands inside dx: a scatter. Threads own whole images; per image and
// tap (kh, kw), each dy row is register-blocked like the forward gather
//   acc[q, c] = sum over o of dy[n, p, q, o] * wt[kh, KW-1-kw, o, c]
// and added to dx[n, p*sh + kh, q*sw + kw, c]. Unlike the gather, no output
// pixel sees a partial tap set (the gather's border columns make blocks of
// one pixel, bound by load bandwidth), and the tap's weights stay in L1
// while the image's rows pass. dx sums its taps in (kh, kw) order.
void emitScatterBackwardData(KernelBuilder &kb, const ConvGeometry &c,
                             Value *wt) {
  auto &b = kb.b();
  Value *dy = kb.operand(0), *dx = kb.result(0);
  // With bfloat16 pairs (dy and wt packed along o), the sum runs over
  // words, each a pair of channels.
  bool pairs = kb.operandType(0).dtype == ir::DType::BF16;
  int64_t steps = pairs ? c.o / 2 : c.o;
  int regs = numRegisters(kb);
  auto chunks = sliceChunks(c.c, kb.vectorWidth(), regs / 8);
  int64_t image = c.h * c.w * c.c;
  auto [begin, end] = kb.partition(c.n);
  kb.zero(dx, kb.mul(begin, image), kb.mul(sub(kb, end, begin), image));
  kb.loop(begin, end, 1, [&](Value *n) {
    kb.loop(0, c.kh * c.kw, 1, [&](Value *tap) {
      Value *kh = sdiv(kb, tap, c.kw), *kw = srem(kb, tap, c.kw);
      Value *wRow0 = kb.mul(
          kb.add(kb.mul(kh, c.kw), sub(kb, kb.i64(c.kw - 1), kw)), steps * c.c);
      kb.loop(0, c.oh, 1, [&](Value *p) {
        Value *dyRow = kb.mul(kb.add(kb.mul(n, c.oh), p), c.ow);
        Value *dxRow = kb.add(
            kb.mul(kb.add(kb.mul(n, c.h), kb.add(kb.mul(p, c.sh), kh)), c.w),
            kw);
        for (const std::vector<Slice> &chunk : chunks) {
          int64_t ns = static_cast<int64_t>(chunk.size());
          int64_t maxPix = std::clamp<int64_t>((regs - ns - 2) / ns, 1, 8);
          int64_t blocks = (c.ow + maxPix - 1) / maxPix;
          int64_t size = c.ow / blocks, bigger = c.ow % blocks;
          auto block = [&](Value *q0, int64_t npix) {
            int64_t per = npix * ns, sets = setsFor(per, pairs, regs - ns - 2);
            std::vector<Value *> init;
            for (int64_t u = 0; u < sets * npix; ++u)
              for (const Slice &s : chunk)
                init.push_back(zeros(kb, s.width));
            Value *dyPix = kb.mul(kb.add(dyRow, q0), steps);
            auto step = [&](std::vector<Value *> &a, int64_t u, Value *o) {
              Value *wRow = kb.add(wRow0, kb.mul(o, c.c));
              if (pairs) {
                std::vector<Value *> wv;
                for (const Slice &s : chunk)
                  wv.push_back(
                      kb.loadPairs(wt, kb.add(wRow, s.offset), s.width));
                for (int64_t px = 0; px < npix; ++px) {
                  Value *ys =
                      kb.loadPairs(dy, kb.add(dyPix, kb.add(o, px * steps)), 1);
                  for (int64_t s = 0; s < ns; ++s) {
                    Value *&av = a[u * per + px * ns + s];
                    av = kb.dotBfloat16Pairs(av, kb.splat(chunk[s].width, ys),
                                             wv[s]);
                  }
                }
                return;
              }
              std::vector<Value *> wv;
              for (const Slice &s : chunk)
                wv.push_back(kb.computeOperand(
                    kb.load(wt, kb.add(wRow, s.offset), s.width), 1));
              for (int64_t px = 0; px < npix; ++px) {
                Value *xs = kb.computeOperand(
                    kb.loadF32(dy, kb.add(dyPix, kb.add(o, px * c.o))), 0);
                for (int64_t s = 0; s < ns; ++s) {
                  Value *&av = a[u * per + px * ns + s];
                  av = kb.fma(kb.splat(chunk[s].width, xs), wv[s], av);
                }
              }
            };
            int64_t main = steps / sets * sets;
            std::vector<Value *> acc = init;
            if (main > 0)
              acc = kb.loopCarried(
                  kb.i64(0), kb.i64(main), sets, acc,
                  [&](Value *o, const std::vector<Value *> &cur) {
                    std::vector<Value *> next = cur;
                    for (int64_t u = 0; u < sets; ++u)
                      step(next, u, kb.add(o, u));
                    return next;
                  });
            if (main < steps)
              acc = kb.loopCarried(
                  kb.i64(main), kb.i64(steps), 1, acc,
                  [&](Value *o, const std::vector<Value *> &cur) {
                    std::vector<Value *> next = cur;
                    step(next, 0, o);
                    return next;
                  });
            combineSets(kb, acc, sets, per);
            for (int64_t px = 0; px < npix; ++px) {
              Value *at =
                  kb.mul(kb.add(dxRow, kb.mul(kb.add(q0, px), c.sw)), c.c);
              for (int64_t s = 0; s < ns; ++s) {
                Value *i = kb.add(at, chunk[s].offset);
                kb.store(dx, i,
                         b.CreateFAdd(kb.load(dx, i, chunk[s].width),
                                      acc[px * ns + s]));
              }
            }
          };
          auto emitBlocks = [&](int64_t first, int64_t count, int64_t pix) {
            if (count == 1)
              block(kb.i64(first), pix);
            else if (count > 1)
              kb.loop(first, first + count * pix, pix,
                      [&](Value *q0) { block(q0, pix); });
          };
          emitBlocks(0, bigger, size + 1);
          emitBlocks(bigger * (size + 1), blocks - bigger, size);
        }
      });
    });
  });
  kb.keepLoopsAsEmitted();
}

// dx[n, ih, iw, c] = sum over taps with ih = oh*sh - pt + kh (and likewise
// for columns) of dy[n, oh, ow, :] . w[kh, kw, c, :], from the kernel
// transposed to wt[kh, KW-1-kw, o, c] (conv2d_kernel_transpose): contiguous
// in c, and with the column taps flipped so that consecutive taps read
// consecutive dy columns. Unpadded convolutions scatter (above); padded ones
// gather over dy.
void emitBackwardDataFrom(KernelBuilder &kb, const ConvGeometry &c, Value *wt) {
  std::vector<int64_t> pad = kb.attrs().getInts(ir::AttrName::Padding);
  if (pad == std::vector<int64_t>{0, 0, 0, 0}) {
    emitScatterBackwardData(kb, c, wt);
    return;
  }
  GatherConv g{.in = kb.operand(0),
               .wt = wt,
               .n = c.n,
               .inRows = c.oh,
               .inCols = c.ow,
               .m = c.o,
               .outRows = c.h,
               .outCols = c.w,
               .k = c.c,
               .wcols = c.kw,
               .wrows = c.kh,
               .pairs = kb.operandType(0).dtype == ir::DType::BF16};
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
  g.rowTaps = [&kb, c](Value *r) {
    // kh = t (mod sh) with 0 <= (t - kh) / sh < oh, where t = r + pt.
    Value *t = kb.add(r, c.pt);
    Value *lo0 = kb.max(kb.add(t, -c.sh * (c.oh - 1)), kb.i64(0));
    Value *lo = kb.add(lo0, srem(kb, sub(kb, t, lo0), c.sh));
    Value *hi = kb.min(kb.add(t, 1), kb.i64(c.kh));
    return RowTaps{lo, hi, c.sh, [&kb, t, sh = c.sh](Value *kh) {
                     return sdiv(kb, sub(kb, t, kh), sh);
                   }};
  };
  padColumns(kb, g);
  emitGatherConv(kb, g, kb.result(0));
  kb.keepLoopsAsEmitted();
}

// wt[kh, KW-1-kw, o, c] = w[kh, kw, c, o] for the taps t = kh*KW + kw in
// [tBegin, tEnd).
void emitTransposeTaps(KernelBuilder &kb, Value *w, Value *wt, int64_t kw,
                       int64_t c, int64_t o, Value *tBegin, Value *tEnd) {
  kb.loop(tBegin, tEnd, 1, [&](Value *t) {
    Value *kh = sdiv(kb, t, kw), *kwi = srem(kb, t, kw);
    Value *tFlip = kb.add(kb.mul(kh, kw), sub(kb, kb.i64(kw - 1), kwi));
    kb.loop(0, o, 1, [&](Value *oi) {
      Value *dst = kb.mul(kb.add(kb.mul(tFlip, o), oi), c);
      Value *src = kb.add(kb.mul(t, c * o), oi);
      kb.loop(0, c, 1, [&](Value *ci) {
        kb.storeF32(wt, kb.add(dst, ci),
                    kb.loadF32(w, kb.add(src, kb.mul(ci, o))));
      });
    });
  });
}

ConvGeometry backwardDataGeometry(KernelBuilder &kb, int64_t kh, int64_t kw) {
  return geometry(kb.attrs(), kb.resultType(0).shape, pairedOperandShape(kb, 0),
                  kh, kw);
}

} // namespace

void emitConv2D(KernelBuilder &kb) {
  ConvGeometry c = forwardGeometry(kb);
  emitGatherConv(kb, forwardGather(kb, c), kb.result(0));
  kb.keepLoopsAsEmitted();
}

// conv2d with any epilogue (ir/FusedStages.def): bias and activation on
// each finished accumulator; with max_pool2d, pooled rows from a per-thread
// buffer, plus argmax and dropout.
void emitConv2DFused(KernelBuilder &kb) {
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  if (st.has(ir::FusedStage::MaxPool2D))
    return emitConvMaxPool(kb, st);
  ConvGeometry c = forwardGeometry(kb);
  GatherConv g = forwardGather(kb, c);
  g.epilogue = biasActivation(kb, st);
  emitGatherConv(kb, g, kb.result(0));
  kb.keepLoopsAsEmitted();
}

void emitConv2DBackwardData(KernelBuilder &kb) {
  // Without a transposed kernel from conv2d_kernel_transpose, every thread
  // transposes its own copy on the stack (the fusion pass avoids this).
  const auto &ws = kb.operandType(1).shape;
  ConvGeometry c = backwardDataGeometry(kb, ws[0], ws[1]);
  auto &b = kb.b();
  int64_t floats = c.kh * c.kw * c.c * c.o;
  auto run = [&](Value *wt) {
    emitTransposeTaps(kb, kb.operand(1), wt, c.kw, c.c, c.o, kb.i64(0),
                      kb.i64(c.kh * c.kw));
    emitBackwardDataFrom(kb, c, wt);
  };
  if (floats * 4 <= (256 << 10)) // else too big for the stack
    return run(kb.stackBuffer(floats, b.getFloatTy()));
  // Kernels return nothing, so out of memory cannot be reported: trap there
  // rather than write through null. Its size is unbounded (large layers), so
  // neither the stack nor a fixed per-thread buffer fits; the fused training
  // step never takes this path (it uses the transposed kernel from
  // conv2d_kernel_transpose, in the arena).
  kb.withHeapBuffer(floats * 4, run,
                    [&] { b.CreateIntrinsic(llvm::Intrinsic::trap, {}, {}); });
}

void emitConv2DBackwardDataTransposed(KernelBuilder &kb) {
  const std::vector<int64_t> wt = pairedOperandShape(kb, 1); // [KH, KW, O, C]
  emitBackwardDataFrom(kb, backwardDataGeometry(kb, wt[0], wt[1]),
                       kb.operand(1));
}

void emitConv2DKernelTranspose(KernelBuilder &kb) {
  const auto &w = kb.operandType(0).shape;
  auto [begin, end] = kb.partition(w[0] * w[1]);
  emitTransposeTaps(kb, kb.operand(0), kb.result(0), w[1], w[2], w[3], begin,
                    end);
}

} // namespace cnnc::codegen
