// pad2d and its gradient (pad2d_grad), NHWC. A padded row is contiguous
// (OW * C floats), so each output row is zeros, a vectorized copy of one
// input row, zeros. Both kernels only move data: bit-exact at any thread
// count.
#include "codegen/Kernels.h"

namespace cnnc::codegen {

using llvm::Value;

namespace {

// The padding [top, left, bottom, right] and the unpadded shape (N,H,W,C).
struct PadGeometry {
  int64_t top, left, n, h, w, c, oh, ow;
};

PadGeometry padGeometry(KernelBuilder &kb, const std::vector<int64_t> &x) {
  std::vector<int64_t> p = kb.attrs().getInts(ir::AttrName::Padding);
  return {p[0],
          p[1],
          x[0],
          x[1],
          x[2],
          x[3],
          x[1] + p[0] + p[2],
          x[2] + p[1] + p[3]};
}

// dst[dstAt + i] = src[srcAt + i] for i in [0, count).
void copyRow(KernelBuilder &kb, Value *src, Value *srcAt, Value *dst,
             Value *dstAt, int64_t count) {
  kb.vectorLoop(kb.i64(0), kb.i64(count), [&](Value *i, int width) {
    kb.store(dst, kb.add(dstAt, i), kb.load(src, kb.add(srcAt, i), width));
  });
}

} // namespace

// y[n, i, j, c] = x[n, i - top, j - left, c] inside, 0 around; threads
// share the output rows (n, i).
void emitPad2D(KernelBuilder &kb) {
  PadGeometry g = padGeometry(kb, kb.operandType(0).shape);
  auto &b = kb.b();
  int64_t rowFloats = g.ow * g.c, inRowFloats = g.w * g.c;
  int64_t leftFloats = g.left * g.c;
  int64_t rightFloats = rowFloats - leftFloats - inRowFloats;
  auto [begin, end] = kb.partition(g.n * g.oh);
  kb.loop(begin, end, 1, [&](Value *row) {
    Value *img = b.CreateSDiv(row, kb.i64(g.oh));
    Value *ih = b.CreateSub(b.CreateSRem(row, kb.i64(g.oh)), kb.i64(g.top));
    Value *out = kb.mul(row, rowFloats);
    Value *inside = b.CreateAnd(b.CreateICmpSGE(ih, kb.i64(0)),
                                b.CreateICmpSLT(ih, kb.i64(g.h)));
    kb.ifThenElse(
        inside,
        [&] {
          kb.zero(kb.result(0), out, kb.i64(leftFloats));
          Value *in = kb.mul(kb.add(kb.mul(img, g.h), ih), inRowFloats);
          copyRow(kb, kb.operand(0), in, kb.result(0), kb.add(out, leftFloats),
                  inRowFloats);
          kb.zero(kb.result(0), kb.add(out, leftFloats + inRowFloats),
                  kb.i64(rightFloats));
        },
        [&] { kb.zero(kb.result(0), out, kb.i64(rowFloats)); });
  });
}

// dx[n, i, j, c] = dy[n, i + top, j + left, c]: the padding's gradient is
// dropped. Threads share the rows (n, i) of dx.
void emitPad2DGrad(KernelBuilder &kb) {
  PadGeometry g = padGeometry(kb, kb.resultType(0).shape);
  auto &b = kb.b();
  int64_t rowFloats = g.w * g.c;
  auto [begin, end] = kb.partition(g.n * g.h);
  kb.loop(begin, end, 1, [&](Value *row) {
    Value *img = b.CreateSDiv(row, kb.i64(g.h));
    Value *i = b.CreateSRem(row, kb.i64(g.h));
    Value *from =
        kb.add(kb.mul(kb.add(kb.add(kb.mul(img, g.oh), i), g.top), g.ow * g.c),
               g.left * g.c);
    copyRow(kb, kb.operand(0), from, kb.result(0), kb.mul(row, rowFloats),
            rowFloats);
  });
}

} // namespace cnnc::codegen
