// The augmentation ops (random_flip, random_rotation, random_zoom,
// random_translation, random_contrast, random_brightness, random_crop) and
// rescale, NHWC; docs/dsl.md ("Augmentation") and docs/ir.md define them.
//
// Random draws are counter-based, like dropout's mask: image n's draw j is
//   key  = mix64(mix64(mix64(seed) ^ salt) ^ step)        (per call)
//   bits = mix64(key + (4 n + j + 1) * 0x9e3779b97f4a7c15)
//   u    = (bits >> 11) * 2^-53                           (uniform [0, 1))
// so they depend on (seed, layer, step, image) only: the same for any
// thread count and across resumes. Coordinates and blends are computed in
// double, rounded to float once.
#include "codegen/KernelParts.h"
#include "codegen/Kernels.h"
#include "ir/AttrEnums.h"
#include "support/Random.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cnnc::codegen {

using llvm::Value;

namespace {

struct Dims {
  int64_t n, h, w, c;
};

Dims dimsOf(const std::vector<int64_t> &s) { return {s[0], s[1], s[2], s[3]}; }

// Double-precision helpers.
struct F64 {
  KernelBuilder &kb;
  llvm::IRBuilder<> &b;
  explicit F64(KernelBuilder &k) : kb(k), b(k.b()) {}

  Value *c(double v) { return llvm::ConstantFP::get(b.getDoubleTy(), v); }
  Value *add(Value *x, Value *y) { return b.CreateFAdd(x, y); }
  Value *sub(Value *x, Value *y) { return b.CreateFSub(x, y); }
  Value *mul(Value *x, Value *y) { return b.CreateFMul(x, y); }
  Value *of(Value *i64) { return b.CreateSIToFP(i64, b.getDoubleTy()); }
  Value *toI64(Value *d) { return b.CreateFPToSI(d, b.getInt64Ty()); }
  Value *ext(Value *f) { return b.CreateFPExt(f, b.getDoubleTy()); }
  Value *trunc(Value *d) { return b.CreateFPTrunc(d, b.getFloatTy()); }
  Value *call(llvm::Intrinsic::ID id, Value *x) { return kb.unary(id, x); }
  Value *floor(Value *x) { return call(llvm::Intrinsic::floor, x); }
  // min(max(x, lo), hi), as numpy.clip.
  Value *clip(Value *x, double lo, double hi) {
    Value *m = b.CreateIntrinsic(llvm::Intrinsic::maxnum, {b.getDoubleTy()},
                                 {x, c(lo)});
    return b.CreateIntrinsic(llvm::Intrinsic::minnum, {b.getDoubleTy()},
                             {m, c(hi)});
  }
  // lo + u * (hi - lo), as Keras's uniform(minval, maxval).
  Value *between(Value *u, double lo, double hi) {
    return add(c(lo), mul(u, c(hi - lo)));
  }
};

// The per-call key of the draws (the dropout op's, docs/ir.md).
Value *drawKey(KernelBuilder &kb, Value *stepPtr) {
  auto &b = kb.b();
  auto seed = static_cast<uint64_t>(kb.attrs().getInt(ir::AttrName::Seed));
  auto salt = static_cast<uint64_t>(kb.attrs().getInt(ir::AttrName::Salt));
  uint64_t streamKey = support::mix64(support::mix64(seed) ^ salt);
  Value *step = b.CreateSExt(kb.loadI32(stepPtr, kb.i64(0)), b.getInt64Ty());
  return mix64(kb, b.CreateXor(kb.i64(static_cast<int64_t>(streamKey)), step));
}

// Image n's draw j (0..3), uniform in [0, 1).
Value *uniform(KernelBuilder &kb, Value *key, Value *n, int j) {
  auto &b = kb.b();
  Value *counter = b.CreateAdd(b.CreateMul(n, kb.i64(4)), kb.i64(j + 1));
  Value *bits = mix64(
      kb,
      b.CreateAdd(key, b.CreateMul(counter, kb.i64(static_cast<int64_t>(
                                                support::kSplitMixGamma)))));
  Value *top = b.CreateLShr(bits, kb.i64(11));
  return b.CreateFMul(b.CreateUIToFP(top, b.getDoubleTy()),
                      llvm::ConstantFP::get(b.getDoubleTy(), 0x1.0p-53));
}

using Fill = ir::FillMode;

// The verifier checked the attribute.
Fill fillOf(const ir::Attrs &a) {
  return ir::attrEnumOf<Fill>(a).value_or(Fill::Reflect);
}

// Integer tap indices along an axis of `size` pixels, mapped into the
// image by the fill mode; `valid` is false for constant-mode taps outside.
struct Tap {
  Value *index, *valid;
};

// i: integer indices (a scalar or vector); splat(c): the constant c in i's
// type.
template <typename Splat>
Tap fixIndex(KernelBuilder &kb, Fill fill, Value *i, int64_t size,
             const Splat &splat) {
  auto &b = kb.b();
  Value *zero = splat(0), *last = splat(size - 1);
  auto clamp = [&](Value *v) {
    v = b.CreateSelect(b.CreateICmpSLT(v, zero), zero, v);
    return b.CreateSelect(b.CreateICmpSGT(v, last), last, v);
  };
  auto mod = [&](Value *v, int64_t m) { // non-negative remainder
    Value *r = b.CreateSRem(v, splat(m));
    return b.CreateSelect(b.CreateICmpSLT(r, zero), b.CreateAdd(r, splat(m)),
                          r);
  };
  Value *all = llvm::ConstantInt::getTrue(
      llvm::CmpInst::makeCmpResultType(i->getType()));
  switch (fill) {
  case Fill::Nearest:
    return {clamp(i), all};
  case Fill::Wrap:
    return {mod(i, size), all};
  case Fill::Reflect: {
    // (d c b a | a b c d | d c b a): period 2 size, mirrored halves.
    Value *r = mod(i, 2 * size);
    Value *mirrored = b.CreateSub(splat(2 * size - 1), r);
    return {b.CreateSelect(b.CreateICmpSGE(r, splat(size)), mirrored, r), all};
  }
  case Fill::Constant: {
    Value *inside =
        b.CreateAnd(b.CreateICmpSGE(i, zero), b.CreateICmpSLE(i, last));
    return {clamp(i), inside};
  }
  }
  return {clamp(i), all};
}

// The affine map of image n: source (xs, ys) = (a0 x + a1 y + a2,
// b0 x + b1 y + b2) for output pixel (x = column, y = row), Keras's
// transform convention.
struct Affine {
  Value *a0, *a1, *a2, *b0, *b1, *b2;
};

Affine affineOf(KernelBuilder &kb, const Dims &d, Value *key, Value *n) {
  F64 f(kb);
  const ir::Attrs &a = kb.attrs();
  double cx = (static_cast<double>(d.w) - 1) / 2;
  double cy = (static_cast<double>(d.h) - 1) / 2;
  switch (kb.op().kind) {
  case ir::OpKind::RandomRotation: {
    Value *turns =
        f.between(uniform(kb, key, n, 0), a.getFloat(ir::AttrName::Lower),
                  a.getFloat(ir::AttrName::Upper));
    Value *theta = f.mul(turns, f.c(2 * std::numbers::pi));
    Value *cs = f.call(llvm::Intrinsic::cos, theta);
    Value *sn = f.call(llvm::Intrinsic::sin, theta);
    // Keras's _compute_affine_matrix about the centre (cx, cy).
    return {cs,
            f.sub(f.c(0), sn),
            f.add(f.sub(f.c(cx), f.mul(f.c(cx), cs)), f.mul(f.c(cy), sn)),
            sn,
            cs,
            f.sub(f.sub(f.c(cy), f.mul(f.c(cx), sn)), f.mul(f.c(cy), cs))};
  }
  case ir::OpKind::RandomZoom: {
    Value *zy = f.between(uniform(kb, key, n, 0),
                          1 + a.getFloat(ir::AttrName::HeightLower),
                          1 + a.getFloat(ir::AttrName::HeightUpper));
    Value *zx = a.getInt(ir::AttrName::KeepAspect)
                    ? zy
                    : f.between(uniform(kb, key, n, 1),
                                1 + a.getFloat(ir::AttrName::WidthLower),
                                1 + a.getFloat(ir::AttrName::WidthUpper));
    return {zx,     f.c(0), f.mul(f.c(cx), f.sub(f.c(1), zx)),
            f.c(0), zy,     f.mul(f.c(cy), f.sub(f.c(1), zy))};
  }
  default: { // RandomTranslation
    Value *dy = f.mul(f.between(uniform(kb, key, n, 0),
                                a.getFloat(ir::AttrName::HeightLower),
                                a.getFloat(ir::AttrName::HeightUpper)),
                      f.c(static_cast<double>(d.h)));
    Value *dx = f.mul(f.between(uniform(kb, key, n, 1),
                                a.getFloat(ir::AttrName::WidthLower),
                                a.getFloat(ir::AttrName::WidthUpper)),
                      f.c(static_cast<double>(d.w)));
    return {f.c(1), f.c(0), f.sub(f.c(0), dx),
            f.c(0), f.c(1), f.sub(f.c(0), dy)};
  }
  }
}

} // namespace

// random_rotation, random_zoom, random_translation: y[n, y, x, c] = the
// input extended by fill_mode, sampled at the image's affine map of (x, y)
// (bilinear: the four taps around it, weights (1-fy|fy)(1-fx|fx), summed
// in row-major tap order; nearest: the tap at the coordinates rounded half
// to even). The map is derived in double once per image and rounded to
// float; coordinates are fma(a0, x, fma(a1, y, a2)) in float (as Keras
// computes on float32 images) and blends are float. Vectorized along x:
// full vectors of float lanes, the row's remainder as one masked vector;
// tap offsets are i32 when the tensor allows, so gathers take 16 lanes.
void emitRandomAffine(KernelBuilder &kb) {
  Dims d = dimsOf(kb.operandType(0).shape);
  auto &b = kb.b();
  F64 f(kb);
  const ir::Attrs &a = kb.attrs();
  Fill fill = fillOf(a);
  bool nearest = ir::attrEnumOf<ir::ResampleInterpolation>(a) ==
                 ir::ResampleInterpolation::Nearest;
  auto fillValue = static_cast<float>(a.getFloat(ir::AttrName::FillValue));
  Value *key = drawKey(kb, kb.operand(1));
  Value *x = kb.operand(0), *y = kb.result(0);
  int lanes = std::max(kb.vectorWidth(), 4);
  bool narrow = d.n * d.h * d.w * d.c <= INT32_MAX;
  llvm::IntegerType *indexTy = narrow ? b.getInt32Ty() : b.getInt64Ty();
  llvm::Type *indexVecTy = llvm::FixedVectorType::get(indexTy, lanes);
  llvm::Type *floatVecTy = kb.floatType(lanes);
  auto si = [&](int64_t c) {
    return b.CreateVectorSplat(lanes, llvm::ConstantInt::get(indexTy, c));
  };
  auto sf = [&](Value *scalar) { return b.CreateVectorSplat(lanes, scalar); };
  auto fma = [&](Value *p, Value *q, Value *r) {
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {p->getType()}, {p, q, r});
  };
  llvm::SmallVector<llvm::Constant *, 16> laneIds;
  for (int l = 0; l < lanes; ++l)
    laneIds.push_back(llvm::ConstantFP::get(b.getFloatTy(), l));
  Value *laneOffsets = llvm::ConstantVector::get(laneIds);

  // Threads share the images: the map (a sine and cosine for rotation)
  // is derived once per image, not per row.
  auto [begin, end] = kb.partition(d.n);
  kb.loop(begin, end, 1, [&](Value *n) {
    Affine m = affineOf(kb, d, key, n);
    auto single = [&](Value *v) { return f.trunc(v); };
    Value *a0 = sf(single(m.a0)), *b0 = sf(single(m.b0));
    Value *a1 = single(m.a1), *a2 = single(m.a2);
    Value *b1 = single(m.b1), *b2 = single(m.b2);
    Value *imageBase =
        sf(b.CreateIntCast(kb.mul(n, d.h * d.w * d.c), indexTy, true));
    kb.loop(0, d.h, 1, [&](Value *iy) {
      Value *oy = b.CreateSIToFP(iy, b.getFloatTy());
      Value *rowXs = sf(fma(a1, oy, a2)), *rowYs = sf(fma(b1, oy, b2));
      Value *rowOut = kb.mul(kb.add(kb.mul(n, d.h), iy), d.w * d.c);
      // Output columns ox .. ox + lanes - 1, of which the first `active`
      // are in the row.
      auto columns = [&](Value *ox, int64_t active) {
        Value *oxf =
            b.CreateFAdd(sf(b.CreateSIToFP(ox, b.getFloatTy())), laneOffsets);
        Value *xs = fma(a0, oxf, rowXs), *ys = fma(b0, oxf, rowYs);
        auto toIndex = [&](Value *v) { return b.CreateFPToSI(v, indexVecTy); };
        // The taps: (row, column, weight or nullptr for 1).
        std::vector<std::tuple<Tap, Tap, Value *>> taps;
        if (nearest) {
          Value *ry = kb.unary(llvm::Intrinsic::roundeven, ys);
          Value *rx = kb.unary(llvm::Intrinsic::roundeven, xs);
          taps.emplace_back(fixIndex(kb, fill, toIndex(ry), d.h, si),
                            fixIndex(kb, fill, toIndex(rx), d.w, si), nullptr);
        } else {
          Value *y0 = kb.unary(llvm::Intrinsic::floor, ys);
          Value *x0 = kb.unary(llvm::Intrinsic::floor, xs);
          Value *wy1 = b.CreateFSub(ys, y0), *wx1 = b.CreateFSub(xs, x0);
          Value *one = kb.splat(lanes, 1.0f);
          Value *wy0 = b.CreateFSub(one, wy1), *wx0 = b.CreateFSub(one, wx1);
          Value *iy0 = toIndex(y0), *ix0 = toIndex(x0);
          Value *iy1 = b.CreateAdd(iy0, si(1)), *ix1 = b.CreateAdd(ix0, si(1));
          Tap ty[2] = {fixIndex(kb, fill, iy0, d.h, si),
                       fixIndex(kb, fill, iy1, d.h, si)};
          Tap tx[2] = {fixIndex(kb, fill, ix0, d.w, si),
                       fixIndex(kb, fill, ix1, d.w, si)};
          Value *wy[2] = {wy0, wy1}, *wx[2] = {wx0, wx1};
          for (int r = 0; r < 2; ++r)
            for (int c = 0; c < 2; ++c)
              taps.emplace_back(ty[r], tx[c], b.CreateFMul(wy[r], wx[c]));
        }
        // Each tap's element offset of channel 0 and whether it is inside.
        std::vector<std::pair<Value *, Value *>> at;
        for (auto &[ty, tx, wt] : taps)
          at.emplace_back(
              b.CreateAdd(
                  imageBase,
                  b.CreateMul(
                      b.CreateAdd(b.CreateMul(ty.index, si(d.w)), tx.index),
                      si(d.c))),
              b.CreateAnd(ty.valid, tx.valid));
        Value *allLanes = b.CreateVectorSplat(lanes, b.getTrue());
        Value *out = kb.add(rowOut, kb.mul(ox, d.c));
        auto channel = [&](Value *ch) {
          Value *sum = nullptr;
          for (size_t t = 0; t < taps.size(); ++t) {
            Value *idx = at[t].first;
            if (ch)
              idx = b.CreateAdd(idx, sf(b.CreateIntCast(ch, indexTy, true)));
            Value *ptrs = b.CreateGEP(b.getFloatTy(), x, idx);
            Value *v = b.CreateMaskedGather(floatVecTy, ptrs, llvm::Align(4),
                                            allLanes);
            v = b.CreateSelect(at[t].second, v, kb.splat(lanes, fillValue));
            Value *wt = std::get<2>(taps[t]);
            Value *term = wt ? b.CreateFMul(wt, v) : v;
            sum = sum ? b.CreateFAdd(sum, term) : term;
          }
          if (d.c == 1 && active == lanes) {
            kb.store(y, out, sum);
            return;
          }
          if (d.c == 1) {
            llvm::SmallVector<llvm::Constant *, 16> mask;
            for (int l = 0; l < lanes; ++l)
              mask.push_back(b.getInt1(l < active));
            b.CreateMaskedStore(sum, kb.elementPtr(y, out), llvm::Align(4),
                                llvm::ConstantVector::get(mask));
            return;
          }
          // Channels interleave: lane l goes to (x + l) * C + ch.
          for (int64_t l = 0; l < active; ++l)
            kb.storeF32(y, kb.add(kb.add(out, l * d.c), ch),
                        b.CreateExtractElement(sum, l));
        };
        if (d.c == 1)
          channel(nullptr);
        else
          kb.loop(0, d.c, 1, [&](Value *ch) { channel(ch); });
      };
      int64_t full = d.w / lanes * lanes;
      if (full > 0)
        kb.loop(kb.i64(0), kb.i64(full), lanes,
                [&](Value *ox) { columns(ox, lanes); });
      if (d.w > full)
        columns(kb.i64(full), d.w - full);
    });
  });
}

// random_flip: image n is flipped when its draw u <= 0.5 (Keras's test);
// horizontal_and_vertical flips both axes on that one draw.
void emitRandomFlip(KernelBuilder &kb) {
  Dims d = dimsOf(kb.operandType(0).shape);
  auto &b = kb.b();
  auto mode = ir::attrEnumOf<ir::FlipMode>(kb.attrs());
  bool horizontal = mode != ir::FlipMode::Vertical,
       vertical = mode != ir::FlipMode::Horizontal;
  Value *key = drawKey(kb, kb.operand(1));
  auto [begin, end] = kb.partition(d.n * d.h);
  kb.loop(begin, end, 1, [&](Value *row) {
    Value *n = b.CreateSDiv(row, kb.i64(d.h));
    Value *oy = b.CreateSRem(row, kb.i64(d.h));
    Value *flip = b.CreateFCmpOLE(uniform(kb, key, n, 0),
                                  llvm::ConstantFP::get(b.getDoubleTy(), 0.5));
    Value *sy = vertical
                    ? b.CreateSelect(flip, b.CreateSub(kb.i64(d.h - 1), oy), oy)
                    : oy;
    Value *srcRow = kb.mul(kb.add(kb.mul(n, d.h), sy), d.w * d.c);
    Value *dstRow = kb.mul(row, d.w * d.c);
    kb.loop(0, d.w, 1, [&](Value *ox) {
      Value *sx =
          horizontal
              ? b.CreateSelect(flip, b.CreateSub(kb.i64(d.w - 1), ox), ox)
              : ox;
      Value *from = kb.add(srcRow, kb.mul(sx, d.c));
      Value *to = kb.add(dstRow, kb.mul(ox, d.c));
      kb.vectorLoop(kb.i64(0), kb.i64(d.c), [&](Value *ch, int width) {
        kb.store(kb.result(0), kb.add(to, ch),
                 kb.load(kb.operand(0), kb.add(from, ch), width));
      });
    });
  });
}

// random_contrast: per image and channel, mean = the channel's average
// over H x W (summed in row-major order, in double), then
// y = clip((x - mean) * factor + mean, value_low, value_high) with factor
// uniform in [1 - lower, 1 + upper]. Threads share the images.
void emitRandomContrast(KernelBuilder &kb) {
  Dims d = dimsOf(kb.operandType(0).shape);
  F64 f(kb);
  const ir::Attrs &a = kb.attrs();
  double lo = a.getFloat(ir::AttrName::ValueLow),
         hi = a.getFloat(ir::AttrName::ValueHigh);
  Value *key = drawKey(kb, kb.operand(1));
  int64_t pixels = d.h * d.w;
  auto [begin, end] = kb.partition(d.n);
  kb.loop(begin, end, 1, [&](Value *n) {
    Value *factor =
        f.between(uniform(kb, key, n, 0), 1 - a.getFloat(ir::AttrName::Lower),
                  1 + a.getFloat(ir::AttrName::Upper));
    Value *base = kb.mul(n, pixels * d.c);
    kb.loop(0, d.c, 1, [&](Value *ch) {
      Value *first = kb.add(base, ch);
      Value *sum = kb.loopCarried(
          kb.i64(0), kb.i64(pixels), 1, {f.c(0)},
          [&](Value *p, const std::vector<Value *> &acc) {
            Value *v =
                f.ext(kb.loadF32(kb.operand(0), kb.add(first, kb.mul(p, d.c))));
            return std::vector<Value *>{f.add(acc[0], v)};
          })[0];
      Value *mean = f.mul(sum, f.c(1.0 / static_cast<double>(pixels)));
      kb.loop(0, pixels, 1, [&](Value *p) {
        Value *at = kb.add(first, kb.mul(p, d.c));
        Value *v = f.ext(kb.loadF32(kb.operand(0), at));
        Value *out = f.add(f.mul(f.sub(v, mean), factor), mean);
        kb.storeF32(kb.result(0), at, f.trunc(f.clip(out, lo, hi)));
      });
    });
  });
}

// random_brightness: y = clip(x + delta, value_low, value_high) with delta
// uniform in [lower, upper] times (value_high - value_low), one per image.
void emitRandomBrightness(KernelBuilder &kb) {
  Dims d = dimsOf(kb.operandType(0).shape);
  auto &b = kb.b();
  F64 f(kb);
  const ir::Attrs &a = kb.attrs();
  double lo = a.getFloat(ir::AttrName::ValueLow),
         hi = a.getFloat(ir::AttrName::ValueHigh);
  Value *key = drawKey(kb, kb.operand(1));
  int64_t rowFloats = d.w * d.c;
  auto [begin, end] = kb.partition(d.n * d.h);
  kb.loop(begin, end, 1, [&](Value *row) {
    Value *n = b.CreateSDiv(row, kb.i64(d.h));
    Value *delta =
        f.mul(f.between(uniform(kb, key, n, 0), a.getFloat(ir::AttrName::Lower),
                        a.getFloat(ir::AttrName::Upper)),
              f.c(hi - lo));
    Value *first = kb.mul(row, rowFloats);
    kb.loop(0, rowFloats, 1, [&](Value *i) {
      Value *at = kb.add(first, i);
      Value *v = f.add(f.ext(kb.loadF32(kb.operand(0), at)), delta);
      kb.storeF32(kb.result(0), at, f.trunc(f.clip(v, lo, hi)));
    });
  });
}

// random_crop to (height, width). Training, on an input larger in both
// axes: one window per batch at (u0 (H - h + 1), u1 (W - w + 1)) rounded
// down (image 0's draws 0 and 1). Otherwise (inference, or an input not
// larger): Keras's center window of the target's aspect ratio, resized
// bilinearly with half-pixel centres when it is not (height, width).
void emitRandomCrop(KernelBuilder &kb) {
  Dims d = dimsOf(kb.operandType(0).shape);
  auto &b = kb.b();
  F64 f(kb);
  const ir::Attrs &a = kb.attrs();
  int64_t oh = a.getInt(ir::AttrName::Height),
          ow = a.getInt(ir::AttrName::Width);
  bool random = a.getInt(ir::AttrName::Training) && d.h > oh && d.w > ow;
  Value *x = kb.operand(0), *y = kb.result(0);
  auto [begin, end] = kb.partition(d.n * oh);
  if (random) {
    Value *key = drawKey(kb, kb.operand(1));
    Value *top = f.toI64(f.floor(
        f.mul(uniform(kb, key, kb.i64(0), 0), f.c(double(d.h - oh + 1)))));
    Value *left = f.toI64(f.floor(
        f.mul(uniform(kb, key, kb.i64(0), 1), f.c(double(d.w - ow + 1)))));
    kb.loop(begin, end, 1, [&](Value *row) {
      Value *n = b.CreateSDiv(row, kb.i64(oh));
      Value *iy = kb.add(b.CreateSRem(row, kb.i64(oh)), top);
      Value *from =
          kb.mul(kb.add(kb.mul(kb.add(kb.mul(n, d.h), iy), d.w), left), d.c);
      Value *to = kb.mul(row, ow * d.c);
      kb.vectorLoop(kb.i64(0), kb.i64(ow * d.c), [&](Value *i, int width) {
        kb.store(y, kb.add(to, i), kb.load(x, kb.add(from, i), width));
      });
    });
    return;
  }
  // Keras RandomCrop.get_random_transformation's inference window.
  int64_t ch = std::clamp<int64_t>(
      static_cast<int64_t>(double(d.w * oh) / double(ow)), 1, d.h);
  int64_t cw = std::clamp<int64_t>(
      static_cast<int64_t>(double(d.h * ow) / double(oh)), 1, d.w);
  int64_t top = static_cast<int64_t>(double(d.h - ch) / 2);
  int64_t left = static_cast<int64_t>(double(d.w - cw) / 2);
  double sy = double(ch) / double(oh), sx = double(cw) / double(ow);
  kb.loop(begin, end, 1, [&](Value *row) {
    Value *n = b.CreateSDiv(row, kb.i64(oh));
    Value *oy = b.CreateSRem(row, kb.i64(oh));
    // Source row in the window: (oy + 0.5) sy - 0.5, clamped to it.
    Value *ys =
        f.clip(f.sub(f.mul(f.add(f.of(oy), f.c(0.5)), f.c(sy)), f.c(0.5)), 0,
               double(ch - 1));
    Value *y0 = f.floor(ys), *wy = f.sub(ys, y0);
    Value *iy0 = f.toI64(y0);
    Value *iy1 = kb.min(kb.add(iy0, 1), kb.i64(ch - 1));
    Value *imageRow0 = kb.add(kb.mul(n, d.h), kb.add(iy0, top));
    Value *imageRow1 = kb.add(kb.mul(n, d.h), kb.add(iy1, top));
    kb.loop(0, ow, 1, [&](Value *ox) {
      Value *xs =
          f.clip(f.sub(f.mul(f.add(f.of(ox), f.c(0.5)), f.c(sx)), f.c(0.5)), 0,
                 double(cw - 1));
      Value *x0 = f.floor(xs), *wx = f.sub(xs, x0);
      Value *ix0 = kb.add(f.toI64(x0), left);
      Value *ix1 = kb.add(kb.min(kb.add(f.toI64(x0), 1), kb.i64(cw - 1)), left);
      auto pixel = [&](Value *r, Value *c) {
        return kb.mul(kb.add(kb.mul(r, d.w), c), d.c);
      };
      Value *p00 = pixel(imageRow0, ix0), *p01 = pixel(imageRow0, ix1);
      Value *p10 = pixel(imageRow1, ix0), *p11 = pixel(imageRow1, ix1);
      Value *to = kb.mul(kb.add(kb.mul(row, ow), ox), d.c);
      kb.loop(0, d.c, 1, [&](Value *c) {
        auto v = [&](Value *p) { return f.ext(kb.loadF32(x, kb.add(p, c))); };
        // TensorFlow's lerps: top + (bottom - top) * wy.
        Value *t = f.add(v(p00), f.mul(f.sub(v(p01), v(p00)), wx));
        Value *u = f.add(v(p10), f.mul(f.sub(v(p11), v(p10)), wx));
        kb.storeF32(y, kb.add(to, c),
                    f.trunc(f.add(t, f.mul(f.sub(u, t), wy))));
      });
    });
  });
}

// rescale: y = x * scale + offset in float, as Keras's Rescaling.
void emitRescale(KernelBuilder &kb) {
  auto &b = kb.b();
  float scale = static_cast<float>(kb.attrs().getFloat(ir::AttrName::Scale));
  float offset = static_cast<float>(kb.attrs().getFloat(ir::AttrName::Offset));
  auto [begin, end] = kb.partition(kb.resultType(0).numElements());
  kb.vectorLoop(begin, end, [&](Value *i, int w) {
    Value *v = b.CreateFMul(kb.load(kb.operand(0), i, w), kb.splat(w, scale));
    kb.store(kb.result(0), i, b.CreateFAdd(v, kb.splat(w, offset)));
  });
}

} // namespace cnnc::codegen
