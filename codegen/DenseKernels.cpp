// Dense-layer kernels: matrix multiply, bias add and bias gradient.
//
// Every output element is computed by the same sequence of operations no
// matter which thread or register tile computes it, so results are
// bit-identical for any thread count.
#include "codegen/KernelParts.h"
#include "codegen/Kernels.h"
#include "ir/DtypePolicy.h"
#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

namespace cnnc::codegen {

namespace {

using llvm::Value;

// A run of `width` consecutive output columns starting `offset` columns after
// a tile's base column (width 1: a scalar).
struct Group {
  int64_t offset;
  int width;
};

// Splits n columns into full vectors, then halving vectors of >= 4 lanes,
// then scalars: 10 columns on AVX-512 -> 8 + 1 + 1.
std::vector<Group> splitColumns(int64_t n, int maxWidth) {
  std::vector<Group> groups;
  int64_t at = 0;
  for (int w = maxWidth; w >= 4; w /= 2)
    for (; n - at >= w; at += w)
      groups.push_back({at, w});
  for (; at < n; ++at)
    groups.push_back({at, 1});
  return groups;
}

// body(row, rows) over [lo, hi): as many blocks of sizes[0] rows as fit,
// then of sizes[1], ...; the last size is 1.
void rowBlocks(KernelBuilder &kb, Value *lo, Value *hi,
               const std::vector<int> &sizes,
               const std::function<void(Value *, int)> &body) {
  for (int size : sizes) {
    if (size == 1) {
      kb.loop(lo, hi, 1, [&](Value *i) { body(i, 1); });
      return;
    }
    Value *full = kb.b().CreateSDiv(kb.b().CreateSub(hi, lo), kb.i64(size));
    Value *blockEnd = kb.add(lo, kb.mul(full, size));
    kb.loop(lo, blockEnd, size, [&](Value *i) { body(i, size); });
    lo = blockEnd;
  }
}

// body(row, rows) over rows [0, m) in nearly equal blocks of at most
// maxRows (32 rows: 6, 6, 5, 5, 5, 5), so that no block is left with too
// few rows to hide the FMA latency: blocks of 6 left 32 rows a tile of 2
// rows, 8 chains where 12 keep both pipes busy. Each element's sum is the
// same whatever block it falls in.
// With `first`, the block at row 0 is emitted by it instead of body.
void evenRowBlocks(KernelBuilder &kb, int64_t m, int maxRows,
                   const std::function<void(Value *, int)> &body,
                   const std::function<void(Value *, int)> &first = {}) {
  int64_t blocks = (m + maxRows - 1) / maxRows;
  if (blocks == 0)
    return;
  int64_t size = m / blocks, bigger = m % blocks;
  bool peel = static_cast<bool>(first);
  auto emit = [&](int64_t at, int64_t count, int64_t rows) {
    if (peel && count > 0) {
      first(kb.i64(at), static_cast<int>(rows));
      peel = false;
      at += rows;
      --count;
    }
    if (count == 1)
      body(kb.i64(at), static_cast<int>(rows));
    else if (count > 1)
      kb.loop(at, at + count * rows, rows,
              [&](Value *r) { body(r, static_cast<int>(rows)); });
  };
  emit(0, bigger, size + 1);
  emit(bigger * (size + 1), blocks - bigger, size);
}

struct MatMulShape {
  int64_t m, n, k; // C[m,n] = sum over k of A(i,k) B(k,j)
  bool ta, tb;
  // A and B hold bfloat16 pairs along k (ir/Types.h; k even, counting the
  // padding): one 32-bit word per pair, multiplied a pair at a time.
  bool pairs = false;
  // Elements (words, with pairs) along k.
  int64_t steps() const { return pairs ? k / 2 : k; }
  // Applied to each finished sum of columns [col, col + width) before it is
  // stored (matmul_fused's bias_add and activation); may be empty.
  std::function<Value *(Value *sum, Value *col, int width)> epilogue = {};
};

// The value to store for a finished sum of columns [col, col + width).
Value *finish(const MatMulShape &s, Value *sum, Value *col, int width) {
  return s.epilogue ? s.epilogue(sum, col, width) : sum;
}

// A(i,k) and B(k, j..j+width) of the operands as stored (maybe transposed);
// with pairs, k is a word index and these are words.
Value *loadA(KernelBuilder &kb, const MatMulShape &s, Value *i, Value *k) {
  Value *idx =
      s.ta ? kb.add(kb.mul(k, s.m), i) : kb.add(kb.mul(i, s.steps()), k);
  if (s.pairs)
    return kb.loadPairs(kb.operand(0), idx, 1);
  return kb.computeOperand(kb.loadF32(kb.operand(0), idx), 0);
}

Value *loadBRow(KernelBuilder &kb, const MatMulShape &s, Value *k, Value *j,
                int width) {
  if (s.pairs) // never with transpose_b (ir::bfloat16PairAxis)
    return kb.loadPairs(kb.operand(1), kb.add(kb.mul(k, s.n), j), width);
  if (!s.tb)
    return kb.computeOperand(
        kb.load(kb.operand(1), kb.add(kb.mul(k, s.n), j), width), 1);
  // Strided columns of a transposed B; only reached for transpose_a and
  // transpose_b together, which no gradient rule produces.
  Value *v = llvm::PoisonValue::get(kb.floatType(width));
  for (int l = 0; l < width; ++l) {
    Value *e = kb.computeOperand(
        kb.loadF32(kb.operand(1), kb.add(kb.mul(kb.add(j, l), s.k), k)), 1);
    if (width == 1)
      return e;
    v = kb.b().CreateInsertElement(v, e, uint64_t(l));
  }
  return v;
}

// Where a tile's B rows come from and which steps of k it covers: B as
// stored over all of k, or a packed block of a panel (emitMatMulPanels).
struct AxpySource {
  Value *kLo = nullptr, *kHi = nullptr; // steps of k; null: all of them
  // B(k, col0 + group): null for B as stored (loadBRow).
  std::function<Value *(Value *k, const Group &g)> bRow = {};
  // Accumulators start from C (an earlier block of k) and end there
  // unfinished; else they start at zero and get the epilogue.
  bool partial = false;
  // Element offset of C (one group's partial product, k_groups); null: 0.
  Value *cBase = nullptr;
};

// C[rows, base + groups] = sum_k splat(A(row, k)) * B(k, columns): one
// accumulator per (row, group), k ascending, fma.
void emitAxpyTile(KernelBuilder &kb, const MatMulShape &s, Value *row0,
                  int rows, Value *col0, const std::vector<Group> &groups,
                  const AxpySource &src = {}) {
  auto cIdx = [&](int r, const Group &g) {
    Value *idx = kb.add(kb.mul(kb.add(row0, r), s.n), kb.add(col0, g.offset));
    return src.cBase ? kb.add(src.cBase, idx) : idx;
  };
  std::vector<Value *> init;
  for (int r = 0; r < rows; ++r)
    for (const Group &g : groups)
      init.push_back(src.partial ? kb.load(kb.result(0), cIdx(r, g), g.width)
                                 : kb.splat(g.width, 0.0f));
  Value *kLo = src.kLo ? src.kLo : kb.i64(0);
  Value *kHi = src.kHi ? src.kHi : kb.i64(s.steps());
  std::vector<Value *> acc = kb.loopCarried(
      kLo, kHi, 1, init, [&](Value *k, const std::vector<Value *> &cur) {
        std::vector<Value *> a;
        for (int r = 0; r < rows; ++r)
          a.push_back(loadA(kb, s, kb.add(row0, r), k));
        std::vector<Value *> next(cur.size());
        for (size_t g = 0; g < groups.size(); ++g) {
          Value *bv = src.bRow
                          ? src.bRow(k, groups[g])
                          : loadBRow(kb, s, k, kb.add(col0, groups[g].offset),
                                     groups[g].width);
          for (int r = 0; r < rows; ++r) {
            size_t at = r * groups.size() + g;
            Value *av = kb.splat(groups[g].width, a[r]);
            next[at] = s.pairs ? kb.dotBfloat16Pairs(cur[at], av, bv)
                               : kb.fma(av, bv, cur[at]);
          }
        }
        return next;
      });
  for (int r = 0; r < rows; ++r)
    for (size_t g = 0; g < groups.size(); ++g) {
      Value *sum = acc[r * groups.size() + g];
      Value *col = kb.add(col0, groups[g].offset);
      kb.store(kb.result(0), cIdx(r, groups[g]),
               src.partial ? sum : finish(s, sum, col, groups[g].width));
    }
}

// The register tiles of the axpy kernels: up to 6 rows (kAxpyRows: the
// rows of a thread's share left after blocks of 6 go in blocks of 4, 2, 1;
// the panels, whose rows are all of A's, cut them evenly: evenRowBlocks) x
// vectorsPerTile
// vectors, 24 of 32 registers on AVX-512, 12 of 16 on AVX2. Each loaded B
// vector feeds one FMA per row: with 4 rows, mnist_wide's weight gradient
// (3136x64 by 64x1024) ran at 68 % of peak, with 6 at 91 %.
const std::vector<int> kAxpyRows = {6, 4, 2, 1};
int vectorsPerTile(const KernelBuilder &kb) {
  return kb.vectorWidth() >= 16 ? 4 : 2;
}

// The columns after the full tiles, up to a tile's width at a time.
void emitRestTiles(KernelBuilder &kb, const MatMulShape &s, Value *row0,
                   int rows, int64_t fullCols, const std::vector<Group> &rest,
                   const AxpySource &src = {}) {
  for (size_t g = 0; g < rest.size(); g += vectorsPerTile(kb)) {
    size_t e = std::min(rest.size(), g + vectorsPerTile(kb));
    std::vector<Group> tile(rest.begin() + g, rest.begin() + e);
    emitAxpyTile(kb, s, row0, rows, kb.i64(fullCols), tile, src);
  }
}

// Below this many bytes of B, threads split A's rows and each walks all of
// B as stored (it stays in cache); above it, emitMatMulPanels.
constexpr int64_t kPanelsFromBytes = 256 << 10;
// Bytes of one packed block of a panel, kept in L1 while every row of A
// passes over it (mnist_wide's forward dense layer on 1 thread: 32 KiB
// 150-160 GFLOP/s, 16 KiB 143-147; 64 KiB, and blocks of B read in place
// without a copy, slower).
constexpr int64_t kPanelBlockBytes = 32 << 10;

// The columns [col0, col0 + tileCols) of C at cBase over steps [kLo, kHi)
// of k (see emitMatMulPanels): zeroed, then a block of B's rows at a time
// copied to buf (by the first row block, as it reads them) and every row of
// A passed over it; the epilogue once done. Copied first in a loop of its
// own, mnist's forward dense layer took 10 % longer (1 thread, both
// policies).
void emitPanel(KernelBuilder &kb, const MatMulShape &s, Value *col0, Value *kLo,
               Value *kHi, Value *cBase, Value *buf, int64_t block) {
  int w = kb.vectorWidth();
  int64_t tileCols = int64_t(vectorsPerTile(kb)) * w;
  std::vector<Group> fullTile = splitColumns(tileCols, w);
  auto cIdx = [&](Value *r, Value *col) {
    return kb.add(cBase, kb.add(kb.mul(r, s.n), col));
  };
  kb.loop(kb.i64(0), kb.i64(s.m), 1, [&](Value *r) {
    kb.zero(kb.result(0), cIdx(r, col0), kb.i64(tileCols));
  });
  kb.loop(kLo, kHi, block, [&](Value *k0) {
    Value *k1 = kb.min(kb.add(k0, block), kHi);
    AxpySource src;
    src.kLo = k0;
    src.kHi = k1;
    src.partial = true;
    src.cBase = cBase;
    auto bufIdx = [&](Value *k, const Group &g) {
      return kb.add(kb.mul(kb.b().CreateSub(k, k0), tileCols),
                    kb.i64(g.offset));
    };
    auto use = [&](Value *v, int width) -> Value * {
      if (s.pairs)
        return kb.b().CreateBitCast(
            v, width == 1
                   ? kb.b().getInt32Ty()
                   : static_cast<llvm::Type *>(llvm::FixedVectorType::get(
                         kb.b().getInt32Ty(), width)));
      return kb.computeOperand(v, 1);
    };
    src.bRow = [&](Value *k, const Group &g) -> Value * {
      return use(kb.load(buf, bufIdx(k, g), g.width), g.width);
    };
    // The first row block reads the block of B where it is stored and
    // copies it as it goes, so that the loads' latency (B comes from L2 or
    // further) overlaps its multiply-adds instead of a copy loop's.
    AxpySource copying = src;
    copying.bRow = [&](Value *k, const Group &g) -> Value * {
      Value *v =
          kb.load(kb.operand(1), kb.add(kb.add(kb.mul(k, s.n), col0), g.offset),
                  g.width);
      kb.store(buf, bufIdx(k, g), v);
      return use(v, g.width);
    };
    evenRowBlocks(
        kb, s.m, kAxpyRows.front(),
        [&](Value *row0, int rows) {
          emitAxpyTile(kb, s, row0, rows, col0, fullTile, src);
        },
        [&](Value *row0, int rows) {
          emitAxpyTile(kb, s, row0, rows, col0, fullTile, copying);
        });
  });
  if (s.epilogue)
    kb.loop(kb.i64(0), kb.i64(s.m), 1, [&](Value *r) {
      for (const Group &g : fullTile) {
        Value *col = kb.add(col0, g.offset);
        Value *idx = cIdx(r, col);
        kb.store(kb.result(0), idx,
                 s.epilogue(kb.load(kb.result(0), idx, g.width), col, g.width));
      }
    });
}

// Rows of B in one packed block of a panel.
int64_t panelBlockRows(const KernelBuilder &kb) {
  int64_t tileCols = int64_t(vectorsPerTile(kb)) * kb.vectorWidth();
  return std::max<int64_t>(1, kPanelBlockBytes / (tileCols * 4));
}

// C = A * B for a big B (a dense layer's kernel, m a batch of rows). B's
// rows lie n words apart — 4 KiB for 1024 units — so one register tile's
// columns fall into a few cache sets and do not stay cached from one block
// of A's rows to the next: split by rows, every row block re-read all of B
// from memory. Here threads own panels of one tile's columns; a thread
// copies a block of its panel's rows into a contiguous buffer on the stack,
// passes every row of A over it (the partial sums through C between
// blocks, k ascending as before: the same bits), and applies the epilogue
// once the panel is done. Columns left over after the full panels are one
// more work item, read from B as stored.
void emitMatMulPanels(KernelBuilder &kb, const MatMulShape &s) {
  int w = kb.vectorWidth();
  int64_t tileCols = int64_t(vectorsPerTile(kb)) * w;
  int64_t panels = s.n / tileCols, fullCols = panels * tileCols;
  int64_t block = panelBlockRows(kb);
  std::vector<Group> rest = splitColumns(s.n - fullCols, w);
  Value *buf = kb.stackBuffer(block * tileCols, kb.b().getFloatTy());
  auto [begin, end] = kb.partition(panels + (rest.empty() ? 0 : 1));
  kb.loop(begin, kb.min(end, kb.i64(panels)), 1, [&](Value *p) {
    emitPanel(kb, s, kb.mul(p, tileCols), kb.i64(0), kb.i64(s.steps()),
              kb.i64(0), buf, block);
  });
  if (rest.empty())
    return;
  kb.ifThen(kb.b().CreateAnd(kb.b().CreateICmpSLE(begin, kb.i64(panels)),
                             kb.b().CreateICmpSGT(end, kb.i64(panels))),
            [&] {
              evenRowBlocks(kb, s.m, kAxpyRows.front(),
                            [&](Value *row0, int rows) {
                              emitRestTiles(kb, s, row0, rows, fullCols, rest);
                            });
            });
}

// C[g] = A[:, K_g] B[K_g, :] for each group g of the contraction
// (k_groups, ir/ShapeRules.h kGroupSize), k ascending within the group.
// Threads take (group, panel) items in order, so that with as many threads
// as groups each reads only its group's rows of B: the rows that an
// optimizer update, partitioned over B's elements the same way, wrote on
// that thread. (Split by columns, every thread read rows the other core had
// just written, and the next update had to take them back: mnist's dense
// forward and its Adam update took twice the CPU on two threads.) Panels
// as emitMatMulPanels, whatever B's size; the columns after the last full
// panel are one more item per group.
void emitMatMulKGroups(KernelBuilder &kb, const MatMulShape &s,
                       int64_t groups) {
  int w = kb.vectorWidth();
  int64_t tileCols = int64_t(vectorsPerTile(kb)) * w;
  int64_t panels = s.n / tileCols, fullCols = panels * tileCols;
  int64_t block = panelBlockRows(kb);
  std::vector<Group> rest = splitColumns(s.n - fullCols, w);
  int64_t perGroup = panels + (rest.empty() ? 0 : 1);
  int64_t size = ir::kGroupSize(s.steps(), groups);
  Value *buf = kb.stackBuffer(block * tileCols, kb.b().getFloatTy());
  auto [begin, end] = kb.partition(groups * perGroup);
  kb.loop(begin, end, 1, [&](Value *item) {
    Value *g = kb.b().CreateSDiv(item, kb.i64(perGroup));
    Value *p = kb.b().CreateSRem(item, kb.i64(perGroup));
    Value *kLo = kb.min(kb.mul(g, size), kb.i64(s.steps()));
    Value *kHi = kb.min(kb.add(kLo, kb.i64(size)), kb.i64(s.steps()));
    Value *cBase = kb.mul(g, s.m * s.n);
    kb.ifThenElse(
        kb.b().CreateICmpSLT(p, kb.i64(panels)),
        [&] {
          emitPanel(kb, s, kb.mul(p, tileCols), kLo, kHi, cBase, buf, block);
        },
        [&] {
          AxpySource src;
          src.kLo = kLo;
          src.kHi = kHi;
          src.cBase = cBase;
          evenRowBlocks(kb, s.m, kAxpyRows.front(), [&](Value *row0, int rows) {
            emitRestTiles(kb, s, row0, rows, fullCols, rest, src);
          });
        });
  });
}

// C = op(A) * B with B not transposed (and the unused transpose_a +
// transpose_b case): vectors run along the contiguous output columns;
// threads split A's rows.
void emitMatMulAxpy(KernelBuilder &kb, const MatMulShape &s) {
  int w = kb.vectorWidth();
  int64_t tileCols = int64_t(vectorsPerTile(kb)) * w;
  int64_t fullCols = s.n / tileCols * tileCols;
  std::vector<Group> fullTile = splitColumns(tileCols, w);
  std::vector<Group> rest = splitColumns(s.n - fullCols, w);
  auto [begin, end] = kb.partition(s.m);
  rowBlocks(kb, begin, end, kAxpyRows, [&](Value *row0, int rows) {
    kb.loop(kb.i64(0), kb.i64(fullCols), tileCols, [&](Value *col0) {
      emitAxpyTile(kb, s, row0, rows, col0, fullTile);
    });
    emitRestTiles(kb, s, row0, rows, fullCols, rest);
  });
}

// Horizontal sums of n = width vectors at once: returns one vector whose
// lane i is the sum of the lanes of vs[i]. Each level adds the low and high
// halves of every vector's remaining lanes, packing two vectors' halves
// into one: 2(n-1) shuffles and n-1 adds for n sums, where a reduceAdd per
// vector would take about 2n log2(n). Every sum is a fixed tree over its
// lanes.
Value *transposeReduce(KernelBuilder &kb, std::vector<Value *> vs, int width) {
  // owner[v][lane]: which sum the lane of vector v holds a part of.
  std::vector<std::vector<int>> owner(vs.size(), std::vector<int>(width));
  for (size_t v = 0; v < vs.size(); ++v)
    for (int l = 0; l < width; ++l)
      owner[v][l] = static_cast<int>(v);
  for (int seg = width; vs.size() > 1; seg /= 2) {
    // Each vector holds width/seg sums in segments of seg lanes.
    std::vector<Value *> next;
    std::vector<std::vector<int>> nextOwner;
    for (size_t v = 0; v + 1 < vs.size(); v += 2) {
      llvm::SmallVector<int, 16> lo, hi;
      std::vector<int> own;
      for (int base = 0; base < width; base += seg)
        for (size_t src = 0; src < 2; ++src)
          for (int l = 0; l < seg / 2; ++l) {
            int off = static_cast<int>(src) * width;
            lo.push_back(off + base + l);
            hi.push_back(off + base + seg / 2 + l);
            own.push_back(owner[v + src][base]);
          }
      next.push_back(
          kb.b().CreateFAdd(kb.b().CreateShuffleVector(vs[v], vs[v + 1], lo),
                            kb.b().CreateShuffleVector(vs[v], vs[v + 1], hi)));
      nextOwner.push_back(std::move(own));
    }
    vs = std::move(next);
    owner = std::move(nextOwner);
  }
  // Lanes back in sum order.
  llvm::SmallVector<int, 16> order(width);
  for (int l = 0; l < width; ++l)
    order[owner[0][l]] = l;
  return kb.b().CreateShuffleVector(vs[0], order);
}

// C[rows, cols] of A * B^T with both operands contiguous along k: vector
// dot products over k (fixed lane order, fixed tree reduction), then the
// scalar k tail in order. A full tile (rows * cols = vector width, no k
// tail) reduces all its sums at once and stores rows as vectors.
void emitDotTile(KernelBuilder &kb, const MatMulShape &s, Value *row0, int rows,
                 Value *col0, int cols) {
  int64_t steps = s.steps();
  int wk = kb.widthFor(steps);
  int64_t kVec = wk > 1 ? steps / wk * wk : 0;
  auto aIdx = [&](int r, Value *k) {
    return kb.add(kb.mul(kb.add(row0, r), steps), k);
  };
  auto bIdx = [&](int c, Value *k) {
    return kb.add(kb.mul(kb.add(col0, c), steps), k);
  };
  // width elements (words) of operand i from idx, and acc += a (x) b.
  auto load = [&](int i, Value *idx, int width) {
    if (s.pairs)
      return kb.loadPairs(kb.operand(i), idx, width);
    return kb.computeOperand(kb.load(kb.operand(i), idx, width), i);
  };
  auto madd = [&](Value *a, Value *b, Value *acc) {
    return s.pairs ? kb.dotBfloat16Pairs(acc, a, b) : kb.fma(a, b, acc);
  };
  std::vector<Value *> sums(rows * cols, kb.f32(0.0f));
  if (kVec > 0) {
    std::vector<Value *> init(rows * cols, kb.splat(wk, 0.0f));
    std::vector<Value *> acc =
        kb.loopCarried(kb.i64(0), kb.i64(kVec), wk, init,
                       [&](Value *k, const std::vector<Value *> &cur) {
                         std::vector<Value *> a, next(cur.size());
                         for (int r = 0; r < rows; ++r)
                           a.push_back(load(0, aIdx(r, k), wk));
                         for (int c = 0; c < cols; ++c) {
                           Value *bv = load(1, bIdx(c, k), wk);
                           for (int r = 0; r < rows; ++r)
                             next[r * cols + c] =
                                 madd(a[r], bv, cur[r * cols + c]);
                         }
                         return next;
                       });
    if (rows * cols == wk && kVec == steps && (wk & (wk - 1)) == 0) {
      Value *all = transposeReduce(kb, acc, wk);
      for (int r = 0; r < rows; ++r) {
        llvm::SmallVector<int, 16> lanes;
        for (int c = 0; c < cols; ++c)
          lanes.push_back(r * cols + c);
        Value *row = kb.b().CreateShuffleVector(all, lanes);
        kb.store(kb.result(0), kb.add(kb.mul(kb.add(row0, r), s.n), col0),
                 finish(s, row, col0, cols));
      }
      return;
    }
    for (size_t i = 0; i < acc.size(); ++i)
      sums[i] = kb.reduceAdd(acc[i]);
  }
  if (kVec < steps)
    sums = kb.loopCarried(kb.i64(kVec), kb.i64(steps), 1, sums,
                          [&](Value *k, const std::vector<Value *> &cur) {
                            std::vector<Value *> a, next(cur.size());
                            for (int r = 0; r < rows; ++r)
                              a.push_back(load(0, aIdx(r, k), 1));
                            for (int c = 0; c < cols; ++c) {
                              Value *bv = load(1, bIdx(c, k), 1);
                              for (int r = 0; r < rows; ++r)
                                next[r * cols + c] =
                                    madd(a[r], bv, cur[r * cols + c]);
                            }
                            return next;
                          });
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      Value *col = kb.add(col0, c);
      kb.storeF32(kb.result(0), kb.add(kb.mul(kb.add(row0, r), s.n), col),
                  finish(s, sums[r * cols + c], col, 1));
    }
}

// C = A * B^T (the dense input gradient dY * W^T): B's rows are contiguous
// along k, so dot products beat strided gathers. Threads own column tiles
// (B's rows, the big operand: a weight matrix), each read once while all of
// A's rows pass over it.
void emitMatMulDot(KernelBuilder &kb, const MatMulShape &s) {
  const int colsPerTile = 4;
  int64_t tiles = (s.n + colsPerTile - 1) / colsPerTile;
  int64_t fullTiles = s.n / colsPerTile;
  auto [begin, end] = kb.partition(tiles);
  auto columns = [&](Value *col0, int cols) {
    rowBlocks(kb, kb.i64(0), kb.i64(s.m), {4, 1}, [&](Value *row0, int rows) {
      emitDotTile(kb, s, row0, rows, col0, cols);
    });
  };
  kb.loop(begin, kb.min(end, kb.i64(fullTiles)), 1,
          [&](Value *t) { columns(kb.mul(t, colsPerTile), colsPerTile); });
  // The partial tile (the last), by the thread whose share holds it: not by
  // a thread with an empty share, whose begin and end are both `tiles`.
  if (fullTiles < tiles)
    kb.ifThen(kb.b().CreateAnd(kb.b().CreateICmpSLE(begin, kb.i64(fullTiles)),
                               kb.b().CreateICmpSGT(end, kb.i64(fullTiles))),
              [&] {
                columns(kb.i64(fullTiles * colsPerTile),
                        static_cast<int>(s.n - fullTiles * colsPerTile));
              });
}

} // namespace

namespace {

MatMulShape matmulShape(KernelBuilder &kb) {
  // A's f32 shape, unpacked where it holds bfloat16 pairs.
  std::optional<ir::TensorType> unpacked = ir::unpackedBfloat16Pairs(
      kb.operandType(0), ir::bfloat16PairAxis(kb.op().kind, kb.attrs(), 0));
  const std::vector<int64_t> a =
      unpacked ? unpacked->shape : kb.operandType(0).shape;
  const std::vector<int64_t> &c = kb.resultType(0).shape;
  MatMulShape s;
  s.pairs = kb.operandType(0).dtype == ir::DType::BF16;
  s.ta = kb.attrs().getInt(ir::AttrName::TransposeA) != 0;
  s.tb = kb.attrs().getInt(ir::AttrName::TransposeB) != 0;
  // With k_groups, C is [G, M, N]: a partial product per group.
  s.m = c[c.size() - 2];
  s.n = c[c.size() - 1];
  s.k = s.ta ? a[0] : a[1];
  return s;
}

void emitMatMulOf(KernelBuilder &kb, const MatMulShape &s) {
  int64_t tileCols = int64_t(vectorsPerTile(kb)) * kb.vectorWidth();
  if (int64_t groups = kb.attrs().getInt(ir::AttrName::KGroups, 0))
    emitMatMulKGroups(kb, s, groups);
  else if (s.tb && !s.ta)
    emitMatMulDot(kb, s);
  else if (!s.ta && !s.tb && s.steps() * s.n * 4 >= kPanelsFromBytes &&
           s.n >= 2 * tileCols)
    emitMatMulPanels(kb, s);
  else
    emitMatMulAxpy(kb, s);
}

} // namespace

void emitMatMul(KernelBuilder &kb) { emitMatMulOf(kb, matmulShape(kb)); }

// act(op(a) op(b) + bias), either stage optional: the matmul, then
// bias_add's add and the activation op's arithmetic on each finished sum, so
// the result is bit for bit that of the separate ops.
void emitMatMulFused(KernelBuilder &kb) {
  MatMulShape s = matmulShape(kb);
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  bool bias = st.has(ir::FusedStage::BiasAdd);
  ir::ActivationKind act = epilogueActivation(kb, st);
  s.epilogue = [&kb, bias, act](Value *sum, Value *col, int width) {
    if (bias)
      sum = kb.b().CreateFAdd(sum, kb.load(kb.operand(2), col, width));
    return activationValue(kb, act, 0, sum, width);
  };
  emitMatMulOf(kb, s);
}

// The partial products of a matmul with k_groups added in group order (as
// group_sum), then matmul_fused's epilogue on each sum: the bits of
// group_sum, bias_add and the activation op in turn. Partitioned over rows.
namespace {
// body(i, c, width) over this thread's rows of `rows` rows of `cols`
// elements: i the element, c its column, in vectors along each row.
void forEachRowVector(KernelBuilder &kb, int64_t rows, int64_t cols,
                      const std::function<void(Value *, Value *, int)> &body) {
  int w = kb.widthFor(cols);
  auto [begin, end] = kb.partition(rows);
  kb.loop(begin, end, 1, [&](Value *r) {
    Value *rowStart = kb.mul(r, cols);
    kb.vectorLoop(kb.i64(0), kb.i64(cols), w, [&](Value *c, int width) {
      body(kb.add(rowStart, c), c, width);
    });
  });
}
} // namespace

void emitGroupSumFused(KernelBuilder &kb) {
  const ir::TensorType &t = kb.operandType(0);
  int64_t groups = t.shape[0], n = t.numElements() / groups;
  int64_t cols = t.shape.back();
  ir::FusedStageSet st = ir::checkedFusedStages(kb.op().kind, kb.attrs());
  bool bias = st.has(ir::FusedStage::BiasAdd);
  ir::ActivationKind act = epilogueActivation(kb, st);
  forEachRowVector(kb, n / cols, cols, [&](Value *i, Value *c, int width) {
    Value *sum = kb.load(kb.operand(0), i, width);
    for (int64_t g = 1; g < groups; ++g)
      sum = kb.b().CreateFAdd(sum,
                              kb.load(kb.operand(0), kb.add(i, g * n), width));
    if (bias)
      sum = kb.b().CreateFAdd(sum, kb.load(kb.operand(1), c, width));
    kb.store(kb.result(0), i, activationValue(kb, act, 0, sum, width));
  });
}

// y[r, c] = x[r, c] + b[c], partitioned over rows r of the flattened x.
void emitBiasAdd(KernelBuilder &kb) {
  int64_t channels = kb.operandType(1).shape[0];
  int64_t rows = kb.operandType(0).numElements() / channels;
  forEachRowVector(kb, rows, channels, [&](Value *i, Value *c, int width) {
    kb.store(kb.result(0), i,
             kb.b().CreateFAdd(kb.load(kb.operand(0), i, width),
                               kb.load(kb.operand(1), c, width)));
  });
}

// db[c] = sum over rows r of dy[r, c]. Threads own chunks of channels and
// sum every row for them: rows r = 0, 1, 2, 3 (mod 4) go to four partial
// sums (independent dependency chains), combined as (s0 + s1) + (s2 + s3).
// The order depends only on the shape, never on the thread count.
int64_t biasGradChunks(const KernelBuilder &kb, int64_t channels) {
  int w = kb.widthFor(channels);
  return (channels + w - 1) / w;
}

std::pair<Value *, Value *> batchGroupItems(KernelBuilder &kb, Value *g,
                                            int64_t batch, int64_t groups) {
  int64_t size = ir::batchGroupSize(batch, groups);
  Value *n0 = kb.min(kb.mul(g, size), kb.i64(batch));
  return {n0, kb.min(kb.add(n0, kb.i64(size)), kb.i64(batch))};
}

void forEachBatchGroup(KernelBuilder &kb, int64_t batch, int64_t chunks,
                       const std::function<void(int64_t, int64_t, int64_t,
                                                Value *, Value *)> &body) {
  int64_t groups = kb.attrs().getInt(ir::AttrName::BatchGroups, 1);
  int64_t size = ir::batchGroupSize(batch, groups);
  auto [begin, end] = kb.partition(groups * chunks);
  for (int64_t g = 0; g < groups; ++g) {
    Value *lo = kb.max(kb.b().CreateSub(begin, kb.i64(g * chunks)), kb.i64(0));
    Value *hi =
        kb.min(kb.b().CreateSub(end, kb.i64(g * chunks)), kb.i64(chunks));
    int64_t n0 = std::min(g * size, batch), n1 = std::min(n0 + size, batch);
    kb.ifThen(kb.b().CreateICmpSLT(lo, hi), [&] { body(g, n0, n1, lo, hi); });
  }
}

void emitBiasGrad(KernelBuilder &kb) {
  const ir::TensorType &dy = kb.operandType(0);
  int64_t channels = dy.shape.back();
  int64_t batch = dy.rank() > 1 ? dy.shape[0] : 1;
  int64_t rowsPerItem = dy.numElements() / channels / batch;
  llvm::Type *f32 = kb.b().getFloatTy();
  forEachBatchGroup(
      kb, batch, biasGradChunks(kb, channels),
      [&](int64_t g, int64_t n0, int64_t n1, Value *cb, Value *ce) {
        emitBiasGradChunks(
            kb,
            kb.elementPtr(kb.operand(0), kb.i64(n0 * rowsPerItem * channels),
                          f32),
            kb.elementPtr(kb.result(0), kb.i64(g * channels), f32),
            (n1 - n0) * rowsPerItem, channels, cb, ce);
      });
}

void emitBiasGradChunks(KernelBuilder &kb, Value *dy, Value *db, int64_t rows,
                        int64_t channels, Value *chunkBegin, Value *chunkEnd) {
  int w = kb.widthFor(channels);
  Value *colBegin = kb.mul(chunkBegin, w);
  Value *colEnd = kb.min(kb.mul(chunkEnd, w), kb.i64(channels));
  const int lanes = 4;
  int64_t fullRows = rows / lanes * lanes;
  kb.vectorLoop(colBegin, colEnd, w, [&](Value *c, int width) {
    std::vector<Value *> init(lanes, kb.splat(width, 0.0f));
    std::vector<Value *> part = kb.loopCarried(
        kb.i64(0), kb.i64(fullRows), lanes, init,
        [&](Value *r, const std::vector<Value *> &cur) {
          std::vector<Value *> next;
          for (int l = 0; l < lanes; ++l) {
            Value *i = kb.add(kb.mul(kb.add(r, l), channels), c);
            next.push_back(kb.b().CreateFAdd(cur[l], kb.load(dy, i, width)));
          }
          return next;
        });
    part = kb.loopCarried(kb.i64(fullRows), kb.i64(rows), 1, part,
                          [&](Value *r, const std::vector<Value *> &cur) {
                            std::vector<Value *> next = cur;
                            Value *i = kb.add(kb.mul(r, channels), c);
                            next[0] = kb.b().CreateFAdd(cur[0],
                                                        kb.load(dy, i, width));
                            return next;
                          });
    Value *sum = kb.b().CreateFAdd(kb.b().CreateFAdd(part[0], part[1]),
                                   kb.b().CreateFAdd(part[2], part[3]));
    kb.store(db, c, sum);
  });
}

} // namespace cnnc::codegen
