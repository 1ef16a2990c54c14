// Global average pooling and its gradient, NHWC, vectorized over the
// contiguous channel axis. Each output is summed by one thread in a fixed
// order, so results are bit-identical for any thread count.
#include "codegen/Kernels.h"

namespace cnnc::codegen {

using llvm::Value;

// y[n, c] = (sum over pixels p of x[n, p, c]) / (H * W). Work items are
// (image, chunk of channels); pixels p = 0, 1, 2, 3 (mod 4) go to four
// partial sums, combined as (s0 + s1) + (s2 + s3).
void emitGlobalAvgPool2D(KernelBuilder &kb) {
  const std::vector<int64_t> &x = kb.operandType(0).shape;
  int64_t n = x[0], pixels = x[1] * x[2], c = x[3];
  int w = kb.widthFor(c);
  int64_t chunks = (c + w - 1) / w;
  auto &b = kb.b();
  auto [begin, end] = kb.partition(n * chunks);
  const int lanes = 4;
  int64_t fullPixels = pixels / lanes * lanes;
  kb.loop(begin, end, 1, [&](Value *item) {
    Value *img = b.CreateSDiv(item, kb.i64(chunks));
    Value *colBegin = kb.mul(b.CreateSRem(item, kb.i64(chunks)), w);
    Value *colEnd = kb.min(kb.add(colBegin, w), kb.i64(c));
    Value *base = kb.mul(img, pixels * c);
    kb.vectorLoop(colBegin, colEnd, w, [&](Value *col, int width) {
      Value *at = kb.add(base, col);
      auto load = [&](Value *p) {
        return kb.load(kb.operand(0), kb.add(at, kb.mul(p, c)), width);
      };
      std::vector<Value *> part = kb.loopCarried(
          kb.i64(0), kb.i64(fullPixels), lanes,
          std::vector<Value *>(lanes, kb.splat(width, 0.0f)),
          [&](Value *p, const std::vector<Value *> &cur) {
            std::vector<Value *> next;
            for (int l = 0; l < lanes; ++l)
              next.push_back(b.CreateFAdd(cur[l], load(kb.add(p, l))));
            return next;
          });
      part = kb.loopCarried(kb.i64(fullPixels), kb.i64(pixels), 1, part,
                            [&](Value *p, const std::vector<Value *> &cur) {
                              std::vector<Value *> next = cur;
                              next[0] = b.CreateFAdd(cur[0], load(p));
                              return next;
                            });
      Value *sum = b.CreateFAdd(b.CreateFAdd(part[0], part[1]),
                                b.CreateFAdd(part[2], part[3]));
      Value *mean =
          b.CreateFDiv(sum, kb.splat(width, static_cast<float>(pixels)));
      kb.store(kb.result(0), kb.add(kb.mul(img, c), col), mean);
    });
  });
}

// dx[n, p, c] = dy[n, c] / (H * W), partitioned over the rows (n, p).
void emitGlobalAvgPool2DGrad(KernelBuilder &kb) {
  const std::vector<int64_t> &x = kb.resultType(0).shape;
  int64_t pixels = x[1] * x[2], c = x[3];
  int w = kb.widthFor(c);
  auto &b = kb.b();
  auto [begin, end] = kb.partition(x[0] * pixels);
  kb.loop(begin, end, 1, [&](Value *row) {
    Value *img = b.CreateSDiv(row, kb.i64(pixels));
    kb.vectorLoop(kb.i64(0), kb.i64(c), w, [&](Value *col, int width) {
      Value *dy = kb.load(kb.operand(0), kb.add(kb.mul(img, c), col), width);
      Value *dx = b.CreateFDiv(dy, kb.splat(width, static_cast<float>(pixels)));
      kb.store(kb.result(0), kb.add(kb.mul(row, c), col), dx);
    });
  });
}

} // namespace cnnc::codegen
