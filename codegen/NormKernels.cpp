// Batch normalization kernels. x is viewed as [R, C]: C channels (the last
// axis) and R = every other axis. The training kernels reduce over R: every
// share of the kernel sums every channel over all the rows, in an order
// fixed by the shape (rows r = 0..3 mod 4 in four partial sums, combined as
// (s0 + s1) + (s2 + s3); a gradient with the pooled prologue sums its
// pooled cells so instead), in double, so each share holds the same
// statistics, bit-identical for any thread count; share 0 alone stores
// them. Each share then normalizes its own contiguous range of rows. Threads
// split by channels instead would each read and write a part of every row,
// and two cores pulling the same lines made the kernels slower on 2 threads
// than on 1. In a training step the batch-groups pass splits the sums
// instead (passes/BatchGroups.h): batch_norm_sums and batch_norm_grad_sums
// sum fixed groups of the batch, a group per share, each in that same
// order over its rows, and the normalization adds the groups' sums in group
// order rather than reading all of x for them.
//
// Both forward kernels normalize the same way, in f32, from f32 statistics:
//   scale = gamma / sqrt(variance + epsilon)   (1 / sqrt(...) without gamma)
//   y     = fma(x - mean, scale, beta)         (beta 0 without center)
// so batch_norm_inference on a batch's own statistics reproduces
// batch_norm's output exactly.
#include "codegen/KernelParts.h"
#include "codegen/Kernels.h"
#include "ir/Activations.h"
#include "ir/FusedStages.h"

#include <algorithm>
#include <functional>

namespace cnnc::codegen {

namespace {

using llvm::Value;

// The layout of a normalization op's optional operands.
struct NormOp {
  int64_t rows, channels;
  float epsilon;
  int gamma = -1, beta = -1; // operand indices, -1 when absent
};

// Rows, channels and epsilon only (batch_norm_grad_sums has no gamma).
NormOp normShape(KernelBuilder &kb) {
  const ir::TensorType &x = kb.operandType(0);
  NormOp n;
  n.channels = x.shape.back();
  n.rows = x.numElements() / n.channels;
  n.epsilon = static_cast<float>(kb.attrs().getFloat(ir::AttrName::Epsilon));
  return n;
}

NormOp normOp(KernelBuilder &kb, int fixedOperands) {
  NormOp n = normShape(kb);
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

// A double vector at element idx of a buffer of doubles.
Value *loadDouble(KernelBuilder &kb, Value *base, Value *idx, int width) {
  llvm::Type *d = kb.b().getDoubleTy();
  return kb.b().CreateAlignedLoad(doubleType(kb, width),
                                  kb.elementPtr(base, idx, d), llvm::Align(8));
}

void storeDouble(KernelBuilder &kb, Value *base, Value *idx, Value *v) {
  kb.b().CreateAlignedStore(v, kb.elementPtr(base, idx, kb.b().getDoubleTy()),
                            llvm::Align(8));
}

// The channels of one block: [lo, hi), at most kBlock of them.
struct ChannelBlock {
  Value *lo, *hi;
  int width; // vector width for the channels
};

constexpr int64_t kBlock = 256;

// Every channel, in blocks of at most kBlock channels. The training kernels
// sweep the rows of a block with the block's channels innermost, so a
// thread reads contiguous memory per row instead of one vector per row and
// pass; per-channel values live in stack buffers of kBlock entries.
void forChannelBlocks(KernelBuilder &kb, int64_t channels,
                      const std::function<void(const ChannelBlock &)> &body) {
  int w = kb.widthFor(channels);
  int64_t block = std::min<int64_t>(kBlock, (channels + w - 1) / w * w);
  kb.loop(0, channels, block, [&](Value *lo) {
    body({lo, kb.min(kb.add(lo, block), kb.i64(channels)), w});
  });
}

// Each channel of the block, vectorized: body(col, width, slot) with slot
// the channel's index in the block's buffers.
void forBlockChannels(KernelBuilder &kb, const ChannelBlock &blk,
                      const std::function<void(Value *, int, Value *)> &body) {
  kb.vectorLoop(blk.lo, blk.hi, blk.width, [&](Value *col, int width) {
    body(col, width, kb.b().CreateSub(col, blk.lo));
  });
}

// Per channel of the block, the sums over rows r in [rowBegin, rowEnd) of
// each of terms(r, col, width) (several sums share one pass over the rows)
// in double, in the fixed order described above: row r adds to partial
// sum (r - rowBegin) mod 4 (rows past the last multiple of 4 to partial
// sum 0), and the partial sums combine as (s0 + s1) + (s2 + s3). The
// partial sums live in a stack buffer; done(col, width, slot, sums)
// receives each channel vector's.
using RowTerms = std::function<std::vector<Value *>(Value *r, Value *col,
                                                    int width, Value *slot)>;
using ChannelSums =
    std::function<void(Value *, int, Value *, const std::vector<Value *> &)>;
void sumRows(KernelBuilder &kb, const ChannelBlock &blk, Value *rowBegin,
             Value *rowEnd, size_t count, const RowTerms &terms,
             const ChannelSums &done) {
  auto &b = kb.b();
  const int lanes = 4;
  Value *acc = kb.stackBuffer(lanes * count * kBlock, b.getDoubleTy());
  kb.zero(acc, kb.i64(0), kb.i64(2 * lanes * count * kBlock));
  auto slotOf = [&](int lane, size_t k, Value *slot) {
    return kb.add(
        slot, (lane * static_cast<int64_t>(count) + static_cast<int64_t>(k)) *
                  kBlock);
  };
  auto addRow = [&](Value *r, int lane) {
    forBlockChannels(kb, blk, [&](Value *col, int width, Value *slot) {
      std::vector<Value *> t = terms(r, col, width, slot);
      for (size_t k = 0; k < count; ++k) {
        Value *at = slotOf(lane, k, slot);
        storeDouble(kb, acc, at,
                    b.CreateFAdd(loadDouble(kb, acc, at, width), t[k]));
      }
    });
  };
  Value *rows = b.CreateSub(rowEnd, rowBegin);
  Value *fullEnd = kb.add(
      rowBegin, b.CreateMul(b.CreateUDiv(rows, kb.i64(lanes)), kb.i64(lanes)));
  kb.loop(rowBegin, fullEnd, lanes, [&](Value *r) {
    for (int l = 0; l < lanes; ++l)
      addRow(kb.add(r, l), l);
  });
  kb.loop(fullEnd, rowEnd, 1, [&](Value *r) { addRow(r, 0); });
  forBlockChannels(kb, blk, [&](Value *col, int width, Value *slot) {
    std::vector<Value *> sums;
    for (size_t k = 0; k < count; ++k) {
      Value *p[lanes];
      for (int l = 0; l < lanes; ++l)
        p[l] = loadDouble(kb, acc, slotOf(l, k, slot), width);
      sums.push_back(
          b.CreateFAdd(b.CreateFAdd(p[0], p[1]), b.CreateFAdd(p[2], p[3])));
    }
    done(col, width, slot, sums);
  });
}

// A stack buffer of one f32 per channel of a block.
Value *channelBuffer(KernelBuilder &kb) {
  return kb.stackBuffer(kBlock, kb.b().getFloatTy());
}

Value *channelBufferOfDoubles(KernelBuilder &kb) {
  return kb.stackBuffer(kBlock, kb.b().getDoubleTy());
}

// body(r, col, width, slot) for this share's rows and each channel vector
// of the block, channels innermost.
void forBlockRows(
    KernelBuilder &kb, const ChannelBlock &blk, int64_t rows,
    const std::function<void(Value *, Value *, int, Value *)> &body) {
  auto [begin, end] = kb.partition(rows);
  kb.loop(begin, end, 1, [&](Value *r) {
    forBlockChannels(kb, blk, [&](Value *col, int width, Value *slot) {
      body(r, col, width, slot);
    });
  });
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

// A training normalization's sums of the batch in groups (batch_norm_sums,
// batch_norm_grad_sums): f64[G, 2, C], group g summing the rows of its
// batch items (batchGroupItems). Threads split the groups, so each reads
// only its own part of x. body(g, rowBegin, rowEnd) for each of this
// share's groups.
void forSumGroups(KernelBuilder &kb, int64_t rows,
                  const std::function<void(Value *, Value *, Value *)> &body) {
  int64_t batch = kb.operandType(0).shape[0];
  int64_t groups = kb.attrs().getInt(ir::AttrName::BatchGroups);
  auto [begin, end] = kb.partition(groups);
  kb.loop(begin, end, 1, [&](Value *g) {
    auto [n0, n1] = batchGroupItems(kb, g, batch, groups);
    body(g, kb.mul(n0, rows / batch), kb.mul(n1, rows / batch));
  });
}

// The two sums of group g at channels [col, col + width) into result 0.
void storeGroupSums(KernelBuilder &kb, Value *g, int64_t channels, Value *col,
                    const std::vector<Value *> &sums) {
  for (int64_t k = 0; k < 2; ++k)
    storeDouble(kb, kb.result(0),
                kb.add(kb.mul(kb.add(kb.mul(g, 2), k), channels), col),
                sums[k]);
}

// The two sums of all groups at channels [col, col + width), added in group
// order from operand `at` (f64[G, 2, C]).
std::vector<Value *> addGroupSums(KernelBuilder &kb, int at, int64_t channels,
                                  Value *col, int width) {
  int64_t groups = kb.operandType(at).shape[0];
  std::vector<Value *> sums;
  for (int64_t k = 0; k < 2; ++k) {
    Value *sum = nullptr;
    for (int64_t g = 0; g < groups; ++g) {
      Value *part = loadDouble(kb, kb.operand(at),
                               kb.add(col, (g * 2 + k) * channels), width);
      sum = sum ? kb.b().CreateFAdd(sum, part) : part;
    }
    sums.push_back(sum);
  }
  return sums;
}

// Per channel of a block, x's value in row 0 (in double), the shift that
// batch_norm's sums subtract.
void loadShifts(KernelBuilder &kb, const ChannelBlock &blk, Value *shifts) {
  forBlockChannels(kb, blk, [&](Value *col, int w, Value *slot) {
    storeDouble(kb, shifts, slot,
                toDouble(kb, kb.load(kb.operand(0), col, w), w));
  });
}

// The terms batch_norm sums per row: d = x - shift and d^2.
RowTerms shiftedMoments(KernelBuilder &kb, int64_t channels, Value *shifts) {
  return [&kb, channels, shifts](Value *r, Value *col, int w, Value *slot) {
    auto &b = kb.b();
    Value *x = kb.load(kb.operand(0), kb.add(kb.mul(r, channels), col), w);
    Value *d =
        b.CreateFSub(toDouble(kb, x, w), loadDouble(kb, shifts, slot, w));
    return std::vector<Value *>{d, b.CreateFMul(d, d)};
  };
}

// Per channel of a block, the batch mean and 1 / sqrt(variance + epsilon)
// (in double) from operands 1 and 2, which batch_norm_grad's sums need.
void loadMeansAndInverses(KernelBuilder &kb, const NormOp &n,
                          const ChannelBlock &blk, Value *meansD,
                          Value *invsD) {
  auto &b = kb.b();
  forBlockChannels(kb, blk, [&](Value *col, int w, Value *slot) {
    Value *varD = toDouble(kb, kb.load(kb.operand(2), col, w), w);
    storeDouble(kb, meansD, slot,
                toDouble(kb, kb.load(kb.operand(1), col, w), w));
    storeDouble(
        kb, invsD, slot,
        b.CreateFDiv(
            splatDouble(kb, w, 1.0),
            kb.unary(llvm::Intrinsic::sqrt,
                     b.CreateFAdd(varD, splatDouble(kb, w, n.epsilon)))));
  });
}

bool pooledGradient(KernelBuilder &kb) {
  return ir::checkedFusedStages(kb.op().kind, kb.attrs())
      .has(ir::FusedStage::MaxPool2DArgmaxGrad);
}

// A normalization gradient's dy at row r, channels [col, col + width)
// without the max_pool2d_argmax_grad prologue: operand 3. (With it, dy is
// 0 + g where the window's argmax is the row's tap, else 0, as
// max_pool2d_argmax_grad writes it; pooledGradientMoments and
// forGradientRows read it from the pooled (argmax, g), operands 3 and 4.)
using GradientAt = std::function<Value *(Value *r, Value *col, int width)>;
GradientAt normGradient(KernelBuilder &kb) {
  int64_t c = kb.operandType(0).shape.back();
  return [&kb, c](Value *r, Value *col, int w) {
    return kb.load(kb.operand(3), kb.add(kb.mul(r, c), col), w);
  };
}

// The terms batch_norm_grad sums per row: dy and dy * xhat.
RowTerms gradientMoments(KernelBuilder &kb, int64_t channels, Value *meansD,
                         Value *invsD) {
  return [&kb, channels, meansD, invsD,
          dyAt = normGradient(kb)](Value *r, Value *col, int w, Value *slot) {
    auto &b = kb.b();
    Value *at = kb.add(kb.mul(r, channels), col);
    Value *x = toDouble(kb, kb.load(kb.operand(0), at, w), w);
    Value *dy = toDouble(kb, dyAt(r, col, w), w);
    Value *xhat = b.CreateFMul(b.CreateFSub(x, loadDouble(kb, meansD, slot, w)),
                               loadDouble(kb, invsD, slot, w));
    return std::vector<Value *>{dy, b.CreateFMul(dy, xhat)};
  };
}

// The pooled layout of the max_pool2d_argmax_grad prologue: x is
// [N, H, W, C], (argmax, g) [N, PH, PW, C], windows pool_size, as strides.
struct PooledLayout {
  std::vector<int64_t> x, p, ps;
  int64_t cells() const { return p[0] * p[1] * p[2]; }
};

PooledLayout pooledLayout(KernelBuilder &kb) {
  return {kb.operandType(0).shape, kb.operandType(3).shape,
          kb.attrs().getInts(ir::AttrName::PoolSize)};
}

// With the prologue, dy is g at each window's argmax tap and 0 at every
// other row (past the last window too), so its two sums are sums over the
// pooled cells: g and g * xhat, xhat of x at the argmax tap (selected from
// the window's taps). A 2x2 pool sums a quarter of the rows, and a cell's
// index is divided once for its window instead of once per row. The terms
// of cell q = (n * PH + pr) * PW + pc for sumRows. The taps are loaded
// whole (loadWhole): as masked loads (the backend folds a load that only
// a select reads into one) the first layer's sums were 1.3-2x slower.
RowTerms pooledGradientMoments(KernelBuilder &kb, Value *meansD, Value *invsD) {
  return [&kb, meansD, invsD, l = pooledLayout(kb),
          grad = pooledGrad(kb, kb.operand(4), nullptr)](Value *q, Value *col,
                                                         int w, Value *slot) {
    auto &b = kb.b();
    const std::vector<int64_t> &x = l.x, &p = l.p, &ps = l.ps;
    auto div = [&](Value *v, int64_t d) { return b.CreateUDiv(v, kb.i64(d)); };
    auto rem = [&](Value *v, int64_t d) { return b.CreateURem(v, kb.i64(d)); };
    Value *pc = rem(q, p[2]), *npr = div(q, p[2]);
    Value *row0 =
        kb.add(kb.mul(div(npr, p[1]), x[1]), kb.mul(rem(npr, p[1]), ps[0]));
    Value *at = kb.add(kb.mul(q, x[3]), col);
    Value *argmax = loadI32s(kb, kb.operand(3), at, w);
    auto splatI = [&](int64_t v) -> Value * {
      Value *k = b.getInt32(static_cast<int32_t>(v));
      return w == 1 ? k : b.CreateVectorSplat(w, k);
    };
    Value *xTap = nullptr;
    for (int64_t i = 0; i < ps[0]; ++i)
      for (int64_t j = 0; j < ps[1]; ++j) {
        Value *r =
            kb.add(kb.mul(kb.add(row0, i), x[2]), kb.add(kb.mul(pc, ps[1]), j));
        Value *v = kb.loadWhole(kb.operand(0), kb.add(kb.mul(r, x[3]), col), w);
        xTap =
            xTap ? b.CreateSelect(b.CreateICmpEQ(argmax, splatI(i * ps[1] + j)),
                                  v, xTap)
                 : v;
      }
    Value *dy =
        b.CreateSelect(b.CreateICmpSGE(argmax, splatI(0)),
                       pooledGradValue(kb, grad, at, w), kb.splat(w, 0.0f));
    Value *dyD = toDouble(kb, dy, w);
    Value *xhat = b.CreateFMul(
        b.CreateFSub(toDouble(kb, xTap, w), loadDouble(kb, meansD, slot, w)),
        loadDouble(kb, invsD, slot, w));
    return std::vector<Value *>{dyD, b.CreateFMul(dyD, xhat)};
  };
}

// The rows a gradient's sums run over: x's rows, or with the prologue the
// pooled cells; and their terms.
int64_t gradientSumRows(KernelBuilder &kb, int64_t rows) {
  return pooledGradient(kb) ? pooledLayout(kb).cells() : rows;
}

RowTerms gradientSumTerms(KernelBuilder &kb, int64_t channels, Value *meansD,
                          Value *invsD) {
  return pooledGradient(kb) ? pooledGradientMoments(kb, meansD, invsD)
                            : gradientMoments(kb, channels, meansD, invsD);
}

// body(r, col, width, slot, dy) for this share's rows of x and each channel
// vector of the block, dy as normGradient gives it. With the prologue the
// share's rows are whole image rows walked window by window: each pooled
// (argmax, g) is read once for its window's taps in the row, and no row
// index is divided. The same values as per row, so the same bits.
using GradientRow = std::function<void(Value *r, Value *col, int width,
                                       Value *slot, Value *dy)>;
void forGradientRows(KernelBuilder &kb, const ChannelBlock &blk, int64_t rows,
                     const GradientRow &body) {
  if (!pooledGradient(kb)) {
    GradientAt dyAt = normGradient(kb);
    return forBlockRows(kb, blk, rows,
                        [&](Value *r, Value *col, int w, Value *slot) {
                          body(r, col, w, slot, dyAt(r, col, w));
                        });
  }
  auto &b = kb.b();
  PooledLayout l = pooledLayout(kb);
  const std::vector<int64_t> &x = l.x, &p = l.p, &ps = l.ps;
  PooledGrad grad = pooledGrad(kb, kb.operand(4), nullptr);
  auto [begin, end] = kb.partition(x[0] * x[1]);
  kb.loop(begin, end, 1, [&](Value *nh) {
    Value *n = b.CreateUDiv(nh, kb.i64(x[1]));
    Value *row = b.CreateURem(nh, kb.i64(x[1]));
    Value *pr = b.CreateUDiv(row, kb.i64(ps[0]));
    Value *tapRow = b.CreateTrunc(
        kb.mul(b.CreateURem(row, kb.i64(ps[0])), ps[1]), b.getInt32Ty());
    Value *r0 = kb.mul(nh, x[2]);
    // Columns past the last window, or a row past the last window row.
    auto noGradientFrom = [&](int64_t column) {
      kb.loop(column, x[2], 1, [&](Value *cc) {
        forBlockChannels(kb, blk, [&](Value *col, int w, Value *slot) {
          body(kb.add(r0, cc), col, w, slot, kb.splat(w, 0.0f));
        });
      });
    };
    kb.ifThenElse(
        b.CreateICmpULT(pr, kb.i64(p[1])),
        [&] {
          Value *pRow = kb.mul(kb.add(kb.mul(n, p[1]), pr), p[2]);
          kb.loop(0, p[2], 1, [&](Value *pc) {
            Value *pAt = kb.mul(kb.add(pRow, pc), x[3]);
            forBlockChannels(kb, blk, [&](Value *col, int w, Value *slot) {
              Value *at = kb.add(pAt, col);
              Value *g = pooledGradValue(kb, grad, at, w);
              Value *argmax = loadI32s(kb, kb.operand(3), at, w);
              for (int64_t j = 0; j < ps[1]; ++j) {
                Value *tap = b.CreateAdd(tapRow, b.getInt32(j));
                Value *hit = b.CreateICmpEQ(
                    argmax, w == 1 ? tap : b.CreateVectorSplat(w, tap));
                body(kb.add(r0, kb.add(kb.mul(pc, ps[1]), j)), col, w, slot,
                     b.CreateSelect(hit, g, kb.splat(w, 0.0f)));
              }
            });
          });
          noGradientFrom(p[2] * ps[1]);
        },
        [&] { noGradientFrom(0); });
  });
}

// A training normalization's per-channel sums: from its batch_groups sums
// operand (the last) when it has one, else one pass over all rows.
void normSums(KernelBuilder &kb, const ChannelBlock &blk, int64_t rows,
              const RowTerms &terms, const ChannelSums &done) {
  if (!kb.attrs().has(ir::AttrName::BatchGroups))
    return sumRows(kb, blk, kb.i64(0), kb.i64(rows), 2, terms, done);
  int at = static_cast<int>(kb.op().operands.size()) - 1;
  int64_t channels = kb.operandType(0).shape.back();
  forBlockChannels(kb, blk, [&](Value *col, int w, Value *slot) {
    done(col, w, slot, addGroupSums(kb, at, channels, col, w));
  });
}

} // namespace

namespace {
// batch_norm's second pass with the max_pool2d epilogue: threads split the
// pooled rows (N * PH); each window's taps are normalized and activated in
// registers, and only the pooled value (and its argmax, result 3) are
// stored. Rows and columns past the last window are not read, as the
// pool's windows drop them.
void normalizePooled(
    KernelBuilder &kb, const ChannelBlock &blk,
    const std::function<Value *(Value *, Value *, int, Value *)> &normalized,
    bool argmax, bool relu) {
  auto &b = kb.b();
  const std::vector<int64_t> &x = kb.operandType(0).shape;
  const std::vector<int64_t> &y = kb.resultType(0).shape;
  std::vector<int64_t> ps = kb.attrs().getInts(ir::AttrName::PoolSize);
  int64_t h = x[1], w = x[2], c = x[3], prows = y[1], pcols = y[2];
  auto [begin, end] = kb.partition(x[0] * prows);
  kb.loop(begin, end, 1, [&](Value *np) {
    Value *n = b.CreateSDiv(np, kb.i64(prows));
    Value *row0 =
        kb.add(kb.mul(n, h), kb.mul(b.CreateSRem(np, kb.i64(prows)), ps[0]));
    kb.loop(0, pcols, 1, [&](Value *pc) {
      Value *at = kb.mul(kb.add(kb.mul(np, pcols), pc), c);
      forBlockChannels(kb, blk, [&](Value *col, int width, Value *slot) {
        std::vector<Value *> taps;
        for (int64_t i = 0; i < ps[0]; ++i)
          for (int64_t j = 0; j < ps[1]; ++j) {
            Value *r = kb.add(kb.mul(kb.add(row0, i), w),
                              kb.add(kb.mul(pc, ps[1]), j));
            taps.push_back(normalized(r, col, width, slot));
          }
        Value *m = windowMax(kb, taps, width);
        kb.store(kb.result(0), kb.add(at, col), m);
        if (argmax)
          storeI32s(kb, kb.result(3), kb.add(at, col),
                    windowArgmax(kb, taps, m, relu, width));
      });
    });
  });
}

// Per channel of a block, what the normalization's write pass reads: the
// mean, scale and beta buffers (one f32 per channel).
struct NormFactors {
  Value *means, *scales, *betas;
};

// A normalization's write pass over the block's channels: y = fma(x -
// mean, scale, beta), the activation epilogue applied (as the activation
// kernel would to the stored y) and, with max_pool2d, pooled
// (normalizePooled); else this share's rows.
void writeNormalized(KernelBuilder &kb, const ChannelBlock &blk, int64_t rows,
                     const ir::FusedStageSet &st, ir::ActivationKind act,
                     const NormFactors &f) {
  int64_t c = kb.operandType(0).shape.back();
  auto normalized = [&](Value *r, Value *col, int w, Value *slot) {
    Value *x = kb.load(kb.operand(0), kb.add(kb.mul(r, c), col), w);
    Value *y = normalize(kb, x, kb.load(f.means, slot, w),
                         kb.load(f.scales, slot, w), kb.load(f.betas, slot, w));
    return activationValue(kb, act, 0, y, w);
  };
  if (st.has(ir::FusedStage::MaxPool2D))
    return normalizePooled(kb, blk, normalized, st.has(ir::FusedStage::Argmax),
                           act == ir::ActivationKind::Relu);
  forBlockRows(kb, blk, rows, [&](Value *r, Value *col, int w, Value *slot) {
    kb.store(kb.result(0), kb.add(kb.mul(r, c), col),
             normalized(r, col, w, slot));
  });
}
} // namespace

// batch_norm(x, [gamma], [beta], [sums]) -> (y, mean, variance [, argmax]):
// per channel, sums of d = x - k and d^2 in double, with k the channel's
// value in row 0 (a shift inside the data, so the subtraction below does
// not cancel catastrophically), in one pass over x or, with batch_groups,
// added from batch_norm_sums' groups; mean = k + S1/R and the biased
// variance S2/R - (S1/R)^2, both rounded to f32; a second pass writes y,
// with the activation epilogue applied (as the activation kernel would to
// the stored y) and, with max_pool2d, pooled (normalizePooled).
void emitBatchNorm(KernelBuilder &kb) {
  NormOp n = normOp(kb, 1);
  auto &b = kb.b();
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  ir::ActivationKind act = epilogueActivation(kb, st);
  int64_t c = n.channels;
  double invRows = 1.0 / static_cast<double>(n.rows);
  Value *shifts = channelBufferOfDoubles(kb);
  Value *means = channelBuffer(kb), *scales = channelBuffer(kb),
        *betas = channelBuffer(kb);
  forChannelBlocks(kb, c, [&](const ChannelBlock &blk) {
    loadShifts(kb, blk, shifts);
    normSums(
        kb, blk, n.rows, shiftedMoments(kb, c, shifts),
        [&](Value *col, int w, Value *slot, const std::vector<Value *> &s) {
          Value *m1 = b.CreateFMul(s[0], splatDouble(kb, w, invRows));
          Value *m2 = b.CreateFMul(s[1], splatDouble(kb, w, invRows));
          Value *varD = b.CreateFSub(m2, b.CreateFMul(m1, m1));
          // Rounding can leave a tiny negative value for a constant channel.
          varD = b.CreateSelect(b.CreateFCmpOLT(varD, splatDouble(kb, w, 0.0)),
                                splatDouble(kb, w, 0.0), varD);
          Value *shift = loadDouble(kb, shifts, slot, w);
          Value *mean = toFloat(kb, b.CreateFAdd(shift, m1), w);
          Value *variance = toFloat(kb, varD, w);
          kb.onThreadZero([&] {
            kb.store(kb.result(1), col, mean);
            kb.store(kb.result(2), col, variance);
          });
          kb.store(means, slot, mean);
          kb.store(scales, slot, normScale(kb, n, variance, col, w));
          kb.store(betas, slot, normShift(kb, n, col, w));
        });
    writeNormalized(kb, blk, n.rows, st, act, {means, scales, betas});
  });
}

// batch_norm_sums(x) -> f64[G, 2, C]: batch_norm's two sums per group.
void emitBatchNormSums(KernelBuilder &kb) {
  int64_t c = kb.operandType(0).shape.back();
  int64_t rows = kb.operandType(0).numElements() / c;
  Value *shifts = channelBufferOfDoubles(kb);
  forSumGroups(kb, rows, [&](Value *g, Value *r0, Value *r1) {
    forChannelBlocks(kb, c, [&](const ChannelBlock &blk) {
      loadShifts(kb, blk, shifts);
      sumRows(kb, blk, r0, r1, 2, shiftedMoments(kb, c, shifts),
              [&](Value *col, int, Value *, const std::vector<Value *> &s) {
                storeGroupSums(kb, g, c, col, s);
              });
    });
  });
}

// batch_norm_grad(x, mean, variance, dy, [gamma], [sums]) -> (dx, dgamma,
// dbeta), dy as normGradient reads it. With inv = 1 / sqrt(variance + epsilon)
// and xhat = (x - mean) inv:
//   dbeta  = sum dy,  dgamma = sum dy xhat      (double; one pass, or the
//                                                groups of
//                                                batch_norm_grad_sums)
//   dx     = gamma inv (dy - dbeta / R - xhat dgamma / R) (f32)
// the gradient through the batch mean and variance included.
void emitBatchNormGrad(KernelBuilder &kb) {
  NormOp n = normOp(kb, pooledGradient(kb) ? 5 : 4);
  auto &b = kb.b();
  int64_t c = n.channels;
  double invRows = 1.0 / static_cast<double>(n.rows);
  Value *meansD = channelBufferOfDoubles(kb),
        *invsD = channelBufferOfDoubles(kb);
  Value *invs = channelBuffer(kb), *ks = channelBuffer(kb),
        *m1s = channelBuffer(kb), *m2s = channelBuffer(kb);
  auto at = [&](Value *r, Value *col) { return kb.add(kb.mul(r, c), col); };
  forChannelBlocks(kb, c, [&](const ChannelBlock &blk) {
    loadMeansAndInverses(kb, n, blk, meansD, invsD);
    normSums(
        kb, blk, gradientSumRows(kb, n.rows),
        gradientSumTerms(kb, c, meansD, invsD),
        [&](Value *col, int w, Value *slot, const std::vector<Value *> &s) {
          Value *dbeta = s[0], *dgamma = s[1];
          kb.onThreadZero([&] {
            kb.store(kb.result(1), col, toFloat(kb, dgamma, w));
            kb.store(kb.result(2), col, toFloat(kb, dbeta, w));
          });
          Value *gammaD =
              n.gamma >= 0
                  ? toDouble(kb, kb.load(kb.operand(n.gamma), col, w), w)
                  : splatDouble(kb, w, 1.0);
          Value *invD = loadDouble(kb, invsD, slot, w);
          kb.store(invs, slot, toFloat(kb, invD, w));
          kb.store(ks, slot, toFloat(kb, b.CreateFMul(gammaD, invD), w));
          kb.store(
              m1s, slot,
              toFloat(kb, b.CreateFMul(dbeta, splatDouble(kb, w, invRows)), w));
          kb.store(m2s, slot,
                   toFloat(kb,
                           b.CreateFMul(dgamma, splatDouble(kb, w, invRows)),
                           w));
        });
    forGradientRows(kb, blk, n.rows,
                    [&](Value *r, Value *col, int w, Value *slot, Value *dy) {
                      Value *x = kb.load(kb.operand(0), at(r, col), w);
                      Value *mean = kb.load(kb.operand(1), col, w);
                      Value *xhat = b.CreateFMul(b.CreateFSub(x, mean),
                                                 kb.load(invs, slot, w));
                      Value *t =
                          kb.fma(b.CreateFNeg(xhat), kb.load(m2s, slot, w),
                                 b.CreateFSub(dy, kb.load(m1s, slot, w)));
                      kb.store(kb.result(0), at(r, col),
                               b.CreateFMul(t, kb.load(ks, slot, w)));
                    });
  });
}

// batch_norm_grad_sums(x, mean, variance, dy) -> f64[G, 2, C]:
// batch_norm_grad's two sums (dbeta, dgamma) per group.
void emitBatchNormGradSums(KernelBuilder &kb) {
  NormOp n = normShape(kb);
  int64_t c = n.channels;
  Value *meansD = channelBufferOfDoubles(kb),
        *invsD = channelBufferOfDoubles(kb);
  forSumGroups(
      kb, gradientSumRows(kb, n.rows), [&](Value *g, Value *r0, Value *r1) {
        forChannelBlocks(kb, c, [&](const ChannelBlock &blk) {
          loadMeansAndInverses(kb, n, blk, meansD, invsD);
          sumRows(kb, blk, r0, r1, 2, gradientSumTerms(kb, c, meansD, invsD),
                  [&](Value *col, int, Value *, const std::vector<Value *> &s) {
                    storeGroupSums(kb, g, c, col, s);
                  });
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
// channel vector's scale is computed once per block. With the activation or
// max_pool2d epilogue (evaluation graphs), batch_norm's write pass instead,
// on the given statistics: the same values, activated and pooled where
// they are computed.
void emitBatchNormInference(KernelBuilder &kb) {
  NormOp n = normOp(kb, 3);
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  if (st != ir::FusedStageSet{}) {
    ir::ActivationKind act = epilogueActivation(kb, st);
    NormFactors f{channelBuffer(kb), channelBuffer(kb), channelBuffer(kb)};
    return forChannelBlocks(kb, n.channels, [&](const ChannelBlock &blk) {
      forBlockChannels(kb, blk, [&](Value *col, int w, Value *slot) {
        Value *variance = kb.load(kb.operand(2), col, w);
        kb.store(f.means, slot, kb.load(kb.operand(1), col, w));
        kb.store(f.scales, slot, normScale(kb, n, variance, col, w));
        kb.store(f.betas, slot, normShift(kb, n, col, w));
      });
      writeNormalized(kb, blk, n.rows, st, act, f);
    });
  }
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
