// Pieces the convolution emitters share (ConvKernels.cpp: forward and
// backward data; ConvFilterKernels.cpp: the filter gradient): channel
// slices, index arithmetic, accumulator sets and the convolution geometry.
#pragma once

#include "codegen/KernelBuilder.h"

#include <llvm/IR/Constants.h>

#include <algorithm>
#include <vector>

namespace cnnc::codegen::conv {

using llvm::Value;

// Independent chains that keep both pipes busy: 2 pipes x 4 cycles of FMA
// latency on Zen 4/5 and recent Intel cores. vdpbf16ps takes 6 cycles on
// Zen 5 (measured, a loop of independent chains: 8 reach 66 % of its rate,
// 12 reach 92 %, 14 reach 99 %), and its two-FMA form without AVX512_BF16
// chains two FMAs.
constexpr int64_t kMinChains = 8, kMinPairChains = 14;

// A contiguous piece of the channel axis held in one vector register; the
// last piece of an odd channel count is a narrower vector.
struct Slice {
  int64_t offset;
  int width;
};

// Vector registers of the host: 32 with AVX-512, 16 otherwise.
inline int numRegisters(const KernelBuilder &kb) {
  return kb.vectorWidth() >= 16 ? 32 : 16;
}

// Splits k channels into vector slices, grouped into chunks of at most
// maxSlices whose accumulators stay in registers together.
inline std::vector<std::vector<Slice>> sliceChunks(int64_t k, int width,
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

inline Value *zeros(KernelBuilder &kb, int width) {
  return kb.splat(width, 0.0f);
}

inline Value *sdiv(KernelBuilder &kb, Value *a, int64_t c) {
  return kb.b().CreateSDiv(a, kb.i64(c));
}
inline Value *srem(KernelBuilder &kb, Value *a, int64_t c) {
  return kb.b().CreateSRem(a, kb.i64(c));
}
inline Value *sub(KernelBuilder &kb, Value *a, Value *b) {
  return kb.b().CreateSub(a, b);
}

// ceil(max(v, 0) / s): the first output index whose tap is not before the
// image start, given v = padding - tap.
inline Value *ceilDivNonNeg(KernelBuilder &kb, Value *v, int64_t s) {
  return sdiv(kb, kb.add(kb.max(v, kb.i64(0)), s - 1), s);
}

// Sums `sets` groups of `per` partial accumulators pairwise, in a fixed
// tree order, into the first group.
inline void combineSets(KernelBuilder &kb, std::vector<Value *> &acc,
                        int64_t sets, int64_t per) {
  for (int64_t span = 1; span < sets; span *= 2)
    for (int64_t u = 0; u + span < sets; u += 2 * span)
      for (int64_t i = 0; i < per; ++i)
        acc[u * per + i] =
            kb.b().CreateFAdd(acc[u * per + i], acc[(u + span) * per + i]);
}

// loopCarried over [lo, hi) by `step`, or the body repeated in straight
// line when the bounds are constants and the trip count is at most
// maxUnroll (the first layer's 3-tap, 1-channel contractions, where loop
// overhead would outweigh the FMAs).
inline std::vector<Value *>
carriedRange(KernelBuilder &kb, Value *lo, Value *hi, int64_t step,
             std::vector<Value *> init, int64_t maxUnroll,
             const KernelBuilder::CarriedBody &body) {
  auto *l = llvm::dyn_cast<llvm::ConstantInt>(lo);
  auto *h = llvm::dyn_cast<llvm::ConstantInt>(hi);
  if (l && h) {
    int64_t a = l->getSExtValue(), e = h->getSExtValue();
    if (e <= a)
      return init;
    if ((e - a + step - 1) / step <= maxUnroll) {
      for (int64_t i = a; i < e; i += step)
        init = body(kb.i64(i), init);
      return init;
    }
  }
  return kb.loopCarried(lo, hi, step, std::move(init), body);
}

// Independent accumulator sets so that at least kMinChains FMA chains run
// (kMinPairChains vdpbf16ps chains with bfloat16 pairs), as far as
// `maxAccumulators` registers hold them: spilled sums cost more than the
// latency they hide.
inline int64_t setsFor(int64_t accumulators, bool pairs,
                       int64_t maxAccumulators) {
  int64_t chains = pairs ? kMinPairChains : kMinChains;
  int64_t fit = std::max<int64_t>(maxAccumulators / accumulators, 1);
  return std::clamp<int64_t>((chains + accumulators - 1) / accumulators, 1,
                             std::min<int64_t>(fit, 4));
}

struct ConvGeometry {
  int64_t n, h, w, c;     // input
  int64_t kh, kw, o;      // kernel [kh, kw, c, o]
  int64_t oh, ow;         // output spatial size
  int64_t sh, sw;         // strides
  int64_t pt, pl;         // padding before (bottom/right follow from oh, ow)
  int64_t dh = 1, dw = 1; // dilations (forward convolutions only)
};

inline ConvGeometry geometry(const ir::Attrs &a, const std::vector<int64_t> &x,
                             const std::vector<int64_t> &y, int64_t kh,
                             int64_t kw) {
  std::vector<int64_t> s = a.getInts(ir::AttrName::Strides),
                       p = a.getInts(ir::AttrName::Padding),
                       d = a.getInts(ir::AttrName::Dilations);
  if (d.size() != 2)
    d = {1, 1};
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
          .pl = p[1],
          .dh = d[0],
          .dw = d[1]};
}

} // namespace cnnc::codegen::conv
