// bfloat16 pairs (ir/Types.h): pack_bfloat16_pairs against the reference
// interpreter bit for bit (denormals flushed where the CPU has
// AVX512_BF16), and convolutions that read packed operands
// (vdpbf16ps on AVX512_BF16, its two-FMA form elsewhere) against the
// interpreter's sums of the same bfloat16 products, on odd channel counts
// (padded pairs), strides and padding; every thread count bit-identical.
#include "GraphRunner.h"
#include "codegen/Compiler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

namespace cnnc::testing {
namespace {

using ir::OpKind;
using ir::ValueId;

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The bfloat16 values of packed words, two per word, low half first.
std::vector<float> unpackWords(const std::vector<int32_t> &words,
                               int64_t values) {
  std::vector<float> out;
  for (int64_t k = 0; k < values; ++k) {
    uint32_t w = static_cast<uint32_t>(words[k / 2]);
    uint32_t half = k % 2 ? w >> 16 : w & 0xffffu;
    uint32_t u = half << 16;
    float f;
    std::memcpy(&f, &u, 4);
    out.push_back(f);
  }
  return out;
}

// Random values in [-1, 1) with ties, signed zeros and tiny values mixed in.
std::vector<float> packValues(std::mt19937 &rng, int64_t n) {
  std::vector<float> v = randomFloats(rng, n);
  const uint32_t special[] = {0x3f808000u, 0xbe818000u, 0x00000000u,
                              0x80000000u, 0x3f7fffffu, 0x00012345u};
  for (int64_t i = 0; i < n; i += 3) {
    uint32_t u = special[(i / 3) % std::size(special)];
    std::memcpy(&v[i], &u, 4);
  }
  return v;
}

// v on the first thread count within float32 rounding of the interpreter
// (which sums the same bfloat16 products exactly), and bit for bit the
// same on every other thread count. Long sums (`tolerance`) round more.
void expectNearReference(const Runs &runs, ValueId v, const std::string &what,
                         double tolerance = 2e-5) {
  ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;
  EXPECT_LT(maxRelError(runs[0].f.at(v), runs.ref[v]), tolerance) << what;
  for (size_t t = 1; t < runs.size(); ++t)
    EXPECT_EQ(0, std::memcmp(runs[t].f.at(v).data(), runs[0].f.at(v).data(),
                             runs[0].f.at(v).size() * 4))
        << what << ": " << kGraphThreads[t] << " threads differ from 1 thread";
}

// x packed into bfloat16 pairs along `axis`.
ValueId packed(Builder &b, ValueId x, int64_t axis) {
  return b.op1(OpKind::PackBfloat16Pairs, {x},
               {{ir::AttrName::Axes, std::vector<int64_t>{axis}}});
}

// The packings `build` makes of `xs` on every thread count equal the
// interpreter's bit for bit (the bfloat16 halves of each word).
void expectPacksAsTheReference(
    const std::function<
        std::vector<ValueId>(Builder &, const std::vector<float> &)> &build,
    std::vector<float> xs, const std::string &what) {
  Builder b;
  std::vector<ValueId> ps = build(b, xs);
  Runs runs = b.run();
  ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;
  Runs flushedRuns;
  std::vector<ValueId> qs = ps;
  bool flush = codegen::hostHasBfloat16Dot();
  if (flush) {
    // vcvtneps2bf16 reads denormals as zeros of their sign (vdpbf16ps
    // would anyway): the interpreter's packing of x so flushed.
    for (float &v : xs)
      if (std::fpclassify(v) == FP_SUBNORMAL)
        v = std::copysign(0.0f, v);
    Builder flushed;
    qs = build(flushed, xs);
    flushedRuns = flushed.run();
  }
  const Runs &reference = flush ? flushedRuns : runs;
  for (size_t r = 0; r < ps.size(); ++r) {
    const std::vector<double> &want = reference.ref[qs[r]];
    int64_t values = b.g.type(ps[r]).numElements();
    for (size_t t = 0; t < runs.size(); ++t) {
      std::vector<float> got = unpackWords(runs[t].i.at(ps[r]), values);
      ASSERT_EQ(got.size(), want.size()) << what;
      for (size_t k = 0; k < got.size(); ++k)
        ASSERT_EQ(bitsOf(got[k]), bitsOf(static_cast<float>(want[k])))
            << what << ", result " << r << ", value " << k << " with "
            << kGraphThreads[t] << " threads: " << got[k] << " against "
            << want[k];
    }
  }
}

struct ConvShape {
  Window g;
  int64_t o; // filters
};

// body(window, filters, description) for each shape, every other one with
// `same` padding.
void forEachConvShape(const std::vector<ConvShape> &shapes,
                      const std::function<void(const Window &, int64_t,
                                               const std::string &)> &body) {
  for (size_t s = 0; s < shapes.size(); ++s) {
    Window g = shapes[s].g;
    if (s % 2 == 1)
      g.same();
    body(g, shapes[s].o, fmt::format("{} filters {}", g.str(), shapes[s].o));
  }
}

TEST(Bfloat16Pairs, PackMatchesTheReferenceBitForBit) {
  std::mt19937 rng(51);
  struct Case {
    std::vector<int64_t> shape;
    std::vector<int64_t> axes;
  };
  // Last axis even (adjacent floats) and odd (padded), middle and first
  // axes with rows of several lengths; the first and last axes from one
  // op (either order) with odd and even batches and channels (an even
  // row converts each value once for both layouts, an odd batch's last
  // pair has no second image).
  for (const Case &c : std::vector<Case>{{{3, 5, 7, 8}, {3}},
                                         {{2, 4, 3, 1}, {3}},
                                         {{2, 3, 5, 7}, {3}},
                                         {{3, 3, 5, 19}, {2}},
                                         {{1, 2, 4, 33}, {2}},
                                         {{7, 37}, {1}},
                                         {{9, 20}, {0}},
                                         {{5}, {0}},
                                         {{4, 3, 5, 8}, {3, 0}},
                                         {{5, 2, 3, 7}, {0, 3}},
                                         {{3, 4, 2, 1}, {3, 0}},
                                         {{9, 37}, {0, 1}},
                                         {{6, 40}, {1, 0}},
                                         {{1, 17}, {0, 1}},
                                         {{5, 3, 16}, {0, 2}},
                                         {{3, 2, 2, 34}, {3, 0}}}) {
    std::string what = fmt::format("f32{} axes {}", ir::shapeStr(c.shape),
                                   ir::shapeStr(c.axes));
    int64_t n = ir::f32(c.shape).numElements();
    expectPacksAsTheReference(
        [&](Builder &b, const std::vector<float> &values) {
          ValueId x = b.input(c.shape, values);
          std::vector<ValueId> ps = b.op(OpKind::PackBfloat16Pairs, {x},
                                         {{ir::AttrName::Axes, c.axes}});
          EXPECT_EQ(ps.size(), c.axes.size()) << what;
          for (size_t r = 0; r < ps.size() && r < c.axes.size(); ++r)
            EXPECT_EQ(b.g.type(ps[r]),
                      ir::packedBfloat16Pairs(ir::f32(c.shape), c.axes[r]));
          return ps;
        },
        packValues(rng, n), what);
  }
}

// pack_bfloat16_column_pairs: each pixel of a one-channel image with its
// right neighbour, zero past the row, on rows of one to 33 columns (a
// vector, a vector and a tail, rows split between threads).
TEST(Bfloat16Pairs, ColumnPairsMatchTheReferenceBitForBit) {
  std::mt19937 rng(57);
  for (const std::vector<int64_t> &shape :
       std::vector<std::vector<int64_t>>{{2, 5, 7, 1},
                                         {3, 4, 1, 1},
                                         {1, 3, 16, 1},
                                         {2, 2, 33, 1},
                                         {1, 1, 17, 1},
                                         {5, 3, 28, 1}}) {
    std::string what = fmt::format("f32{}", ir::shapeStr(shape));
    expectPacksAsTheReference(
        [&](Builder &b, const std::vector<float> &values) {
          ValueId x = b.input(shape, values);
          ValueId p = b.op1(OpKind::PackBfloat16ColumnPairs, {x});
          EXPECT_EQ(b.g.type(p), ir::bf16({shape[0], shape[1], shape[2], 1, 2}))
              << what;
          return std::vector<ValueId>{p};
        },
        packValues(rng, ir::f32(shape).numElements()), what);
  }
}

// conv2d and conv2d_fused (bias + relu, and + max pool) on packed operands:
// the interpreter sums the same bfloat16 products exactly, so the kernels
// are within float32 rounding of it; a pair summed in the wrong lane, a
// padded channel read as a value or a missed pair is off by ~0.01 or more.
TEST(Bfloat16Pairs, ConvolutionsOnPairsMatchTheInterpreter) {
  std::mt19937 rng(52);
  struct Shape {
    Window g;
    int64_t o;
    bool pool;
  };
  std::vector<Shape> shapes = {{{2, 9, 7, 1, 3, 3, 1, 1}, 8, false},
                               {{3, 8, 9, 5, 3, 3, 1, 1}, 19, false},
                               {{2, 11, 10, 16, 5, 5, 2, 2}, 9, false},
                               {{1, 7, 7, 3, 2, 3, 2, 1}, 32, false},
                               {{2, 12, 12, 32, 3, 3, 1, 1}, 64, true},
                               {{3, 10, 11, 7, 3, 3, 1, 1}, 17, true},
                               // A kernel the gather packs (> 192 KiB).
                               {{1, 6, 5, 130, 3, 3, 1, 1}, 96, false}};
  for (size_t s = 0; s < shapes.size(); ++s) {
    Window g = shapes[s].g;
    if (s % 2 == 1)
      g.same();
    int64_t o = shapes[s].o;
    std::string what = fmt::format("{} filters {}", g.str(), o);
    Builder b;
    std::vector<int64_t> ks{g.kh, g.kw, g.c, o};
    ValueId x = b.input(g.xShape(),
                        randomFloats(rng, ir::f32(g.xShape()).numElements()));
    ValueId k = b.input(ks, randomFloats(rng, ir::f32(ks).numElements()));
    ValueId bias = b.input({o}, randomFloats(rng, o));
    ValueId xp = packed(b, x, 3), kp = packed(b, k, 2);
    ir::Attrs attrs{{ir::AttrName::Strides, g.strides()},
                    {ir::AttrName::Padding, g.padding()},
                    {ir::AttrName::ComputeDtype, std::string("bfloat16")}};
    ValueId plain = b.op1(OpKind::Conv2D, {xp, kp}, attrs);
    ir::Attrs fused = attrs;
    std::vector<std::string> stages{"bias_add", "activation"};
    if (shapes[s].pool) {
      stages.push_back("max_pool2d");
      fused.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
    }
    fused.set(ir::AttrName::Epilogue, stages);
    fused.set(ir::AttrName::Activation, std::string("relu"));
    ValueId y = b.op1(OpKind::Conv2DFused, {xp, kp, bias}, fused);
    ASSERT_GE(plain, 0) << what;
    ASSERT_GE(y, 0) << what;
    Runs runs = b.run();
    expectNearReference(runs, plain, what + ", conv2d");
    expectNearReference(runs, y, what + ", fused");
  }
}

// A one-channel convolution as the dtype-policy pass rewrites it: the
// image's column pairs, the kernel packed along its columns, taps two
// columns apart. Within float32 rounding of the interpreter's convolution
// of the same bfloat16 values unpaired (the identity the rewrite rests on:
// a pair summed with the wrong column, a dropped odd tap or a zero weight
// in the wrong half is off by ~0.01), and of its own reading of the paired
// op; with strides, row padding and right padding, odd kernel widths, and
// the fused form with a pool.
TEST(Bfloat16Pairs, ColumnPairConvolutionsMatchUnpairedOnes) {
  std::mt19937 rng(58);
  struct Shape {
    Window g;
    int64_t o;
    bool pool;
  };
  std::vector<Shape> shapes = {
      {{2, 9, 10, 1, 3, 3, 1, 1, 0, 0, 0, 0}, 8, false},
      {{3, 11, 9, 1, 3, 5, 1, 1, 2, 0, 1, 3}, 19, false},
      {{2, 10, 13, 1, 5, 3, 2, 2, 1, 0, 2, 2}, 32, false},
      {{1, 7, 8, 1, 1, 7, 1, 2, 0, 0, 0, 1}, 5, false},
      {{2, 12, 12, 1, 3, 3, 1, 1, 0, 0, 0, 0}, 32, true},
      {{3, 28, 28, 1, 3, 3, 1, 1, 0, 0, 0, 0}, 17, true}};
  for (const Shape &sh : shapes) {
    const Window &g = sh.g;
    int64_t o = sh.o;
    std::string what = fmt::format("{} filters {}", g.str(), o);
    Builder b;
    std::vector<int64_t> ks{g.kh, g.kw, 1, o};
    ValueId x = b.input(g.xShape(),
                        randomFloats(rng, ir::f32(g.xShape()).numElements()));
    ValueId k = b.input(ks, randomFloats(rng, ir::f32(ks).numElements()));
    ValueId bias = b.input({o}, randomFloats(rng, o));
    ir::Attrs plain{{ir::AttrName::Strides, g.strides()},
                    {ir::AttrName::Padding, g.padding()}};
    ValueId want = b.op1(OpKind::Conv2D,
                         {b.op1(OpKind::RoundToBfloat16, {x}),
                          b.op1(OpKind::RoundToBfloat16, {k})},
                         plain);
    ir::Attrs attrs = plain;
    attrs.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
    attrs.set(ir::AttrName::Dilations, std::vector<int64_t>{1, 2});
    ValueId xc = b.op1(OpKind::PackBfloat16ColumnPairs, {x});
    ValueId kc = packed(b, k, 1);
    ValueId y = b.op1(OpKind::Conv2D, {xc, kc}, attrs);
    ASSERT_GE(y, 0) << what;
    EXPECT_EQ(b.g.type(y), b.g.type(want)) << what;
    ir::Attrs fused = attrs, fusedWant = plain;
    std::vector<std::string> stages{"bias_add", "activation"};
    if (sh.pool) {
      stages.push_back("max_pool2d");
      for (ir::Attrs *a : {&fused, &fusedWant})
        a->set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
    }
    for (ir::Attrs *a : {&fused, &fusedWant}) {
      a->set(ir::AttrName::Epilogue, stages);
      a->set(ir::AttrName::Activation, std::string("relu"));
    }
    ValueId yf = b.op1(OpKind::Conv2DFused, {xc, kc, bias}, fused);
    ValueId wantFused = b.op1(OpKind::Conv2DFused,
                              {b.op1(OpKind::RoundToBfloat16, {x}),
                               b.op1(OpKind::RoundToBfloat16, {k}), bias},
                              fusedWant);
    ASSERT_GE(yf, 0) << what;
    Runs runs = b.run();
    expectNearReference(runs, y, what + ", conv2d");
    expectNearReference(runs, yf, what + ", fused");
    ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;
    EXPECT_LT(maxRelError(runs[0].f.at(y), runs.ref[want]), 2e-5)
        << what << ": the paired convolution against the unpaired one";
    EXPECT_LT(maxRelError(runs[0].f.at(yf), runs.ref[wantFused]), 2e-5)
        << what << ": fused, against the unpaired one";
  }
}

// The gradient with respect to the input from a transposed kernel, with
// dy and the transposed kernel packed along dy's channels: unpadded
// convolutions scatter, padded ones gather; odd channel counts pad a pair.
TEST(Bfloat16Pairs, BackwardDataOnPairsMatchesTheInterpreter) {
  std::mt19937 rng(53);
  forEachConvShape(
      {{{2, 9, 7, 4, 3, 3, 1, 1}, 7},
       {{3, 8, 9, 5, 3, 3, 1, 1}, 19},
       {{2, 11, 10, 16, 5, 5, 2, 2}, 32},
       {{2, 12, 12, 32, 3, 3, 1, 1}, 64},
       {{1, 7, 8, 3, 2, 3, 2, 1}, 9},
       {{1, 6, 7, 100, 3, 3, 1, 1}, 130}},
      [&](const Window &g, int64_t o, const std::string &what) {
        Builder b;
        std::vector<int64_t> ks{g.kh, g.kw, g.c, o}, ys{g.n, g.oh(), g.ow(), o};
        ValueId dy = b.input(ys, randomFloats(rng, ir::f32(ys).numElements()));
        ValueId k = b.input(ks, randomFloats(rng, ir::f32(ks).numElements()));
        ValueId wt = b.op1(OpKind::Conv2DKernelTranspose, {k});
        ir::Attrs attrs{{ir::AttrName::Strides, g.strides()},
                        {ir::AttrName::Padding, g.padding()},
                        {ir::AttrName::InputShape, g.xShape()},
                        {ir::AttrName::ComputeDtype, std::string("bfloat16")}};
        ValueId dx = b.op1(OpKind::Conv2DBackwardDataTransposed,
                           {packed(b, dy, 3), packed(b, wt, 2)}, attrs);
        ASSERT_GE(dx, 0) << what;
        EXPECT_EQ(b.g.type(dx), ir::f32(g.xShape())) << what;
        expectNearReference(b.run(), dx, what);
      });
}

// The gradient with respect to the kernel from x and dy packed along the
// batch (pairs of images): odd batches pad an image, one-tap items (many
// channels) and all-tap items (one or few channels, no padding), several
// passes over the batch (large images), strides and padding.
TEST(Bfloat16Pairs, BackwardFilterOnPairsMatchesTheInterpreter) {
  std::mt19937 rng(55);
  forEachConvShape(
      {{{3, 9, 7, 4, 3, 3, 1, 1}, 7},
       {{4, 8, 9, 5, 3, 3, 1, 1}, 19},
       {{5, 11, 10, 1, 3, 3, 1, 1}, 32},
       {{2, 12, 12, 32, 3, 3, 1, 1}, 64},
       {{1, 7, 8, 3, 2, 3, 2, 1}, 9},
       {{7, 40, 40, 8, 3, 3, 1, 1}, 16},
       {{5, 11, 10, 16, 5, 5, 2, 2}, 24}},
      [&](const Window &g, int64_t o, const std::string &what) {
        Builder b;
        std::vector<int64_t> ys{g.n, g.oh(), g.ow(), o};
        ValueId x = b.input(
            g.xShape(), randomFloats(rng, ir::f32(g.xShape()).numElements()));
        ValueId dy = b.input(ys, randomFloats(rng, ir::f32(ys).numElements()));
        ir::Attrs attrs{
            {ir::AttrName::Strides, g.strides()},
            {ir::AttrName::Padding, g.padding()},
            {ir::AttrName::KernelSize, std::vector<int64_t>{g.kh, g.kw}},
            {ir::AttrName::ComputeDtype, std::string("bfloat16")}};
        ValueId dw = b.op1(OpKind::Conv2DBackwardFilter,
                           {packed(b, x, 0), packed(b, dy, 0)}, attrs);
        ASSERT_GE(dw, 0) << what;
        EXPECT_EQ(b.g.type(dw), ir::f32({g.kh, g.kw, g.c, o})) << what;
        // Sums of up to 11,200 products (7 images of 40 x 40 pixels).
        expectNearReference(b.run(), dw, what, 1e-4);
      });
}

// The first layer's filter gradient, which computes dy from a max pool's
// argmax and gradient in registers, on x packed along the batch: two
// images' dy rounded and paired per vdpbf16ps; all-tap items (1 or 3
// channels) and one-tap items, pools that leave rows and columns
// uncovered, a mask operand or a scale; the bias gradient from the same
// pooled operands.
TEST(Bfloat16Pairs, BackwardFilterFromArgmaxOnPairsMatchesTheInterpreter) {
  std::mt19937 rng(56);
  struct Shape {
    Window g;
    int64_t o;
    std::vector<int64_t> pool;
  };
  std::vector<Shape> shapes = {{{2, 11, 10, 1, 3, 3, 1, 1}, 32, {2, 2}},
                               {{4, 28, 28, 1, 3, 3, 1, 1}, 32, {2, 2}},
                               {{2, 9, 7, 3, 3, 3, 1, 1}, 5, {3, 2}},
                               {{2, 10, 9, 5, 5, 5, 2, 1}, 7, {2, 3}},
                               {{4, 13, 13, 32, 3, 3, 1, 1}, 64, {2, 2}},
                               {{2, 5, 8, 3, 3, 3, 1, 1}, 17, {3, 2}}};
  for (size_t s = 0; s < shapes.size(); ++s) {
    Window g = shapes[s].g;
    if (s == 3)
      g.same();
    int64_t o = shapes[s].o;
    const std::vector<int64_t> &ps = shapes[s].pool;
    int variant = static_cast<int>(s % 3); // 1: a mask, 2: a scale
    std::string what = fmt::format("{} filters {} pool {}x{} variant {}",
                                   g.str(), o, ps[0], ps[1], variant);
    std::vector<int64_t> pooled{g.n, g.oh() / ps[0], g.ow() / ps[1], o};
    int64_t pn = ir::f32(pooled).numElements();
    Builder b;
    ValueId x = b.input(g.xShape(),
                        randomFloats(rng, ir::f32(g.xShape()).numElements()));
    ValueId argmax = b.g.addInput("argmax", ir::i32(pooled));
    std::vector<int32_t> am(pn);
    for (int32_t &v : am)
      v = static_cast<int32_t>(rng() % (ps[0] * ps[1] + 1)) - 1;
    b.intInputs[argmax] = am;
    std::vector<ValueId> operands{
        b.op1(OpKind::PackBfloat16Pairs, {x},
              {{ir::AttrName::Axes, std::vector<int64_t>{int64_t{0}}}}),
        argmax, b.input(pooled, randomFloats(rng, pn))};
    ir::Attrs attrs{
        {ir::AttrName::Strides, g.strides()},
        {ir::AttrName::Padding, g.padding()},
        {ir::AttrName::KernelSize, std::vector<int64_t>{g.kh, g.kw}},
        {ir::AttrName::PoolSize, ps},
        {ir::AttrName::Prologue,
         std::vector<std::string>{"max_pool2d_argmax_grad"}},
        {ir::AttrName::Epilogue, std::vector<std::string>{"bias_grad"}},
        {ir::AttrName::ComputeDtype, std::string("bfloat16")}};
    if (variant == 1)
      operands.push_back(b.input(pooled, randomFloats(rng, pn, 0, 2)));
    if (variant == 2)
      attrs.set(ir::AttrName::Scale, 1 / 0.7);
    auto r = b.op(OpKind::Conv2DBackwardFilterFused, operands, attrs);
    ASSERT_EQ(r.size(), 2u) << what;
    EXPECT_EQ(b.g.type(r[0]), ir::f32({g.kh, g.kw, g.c, o})) << what;
    Runs runs = b.run();
    expectNearReference(runs, r[0], what + ", dw");
    expectNearReference(runs, r[1], what + ", db");
  }
}

// Matmuls on operands packed along the contraction axis (transposed ones
// along their first): the axpy kernel (plain and transpose_a, broadcasting
// A's words) and the dot kernel (transpose_b, vectors of words along k,
// then a scalar tail of words), odd k padded.
TEST(Bfloat16Pairs, MatmulsOnPairsMatchTheInterpreter) {
  std::mt19937 rng(54);
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{7, 19, 33},
                         {32, 128, 10},
                         {5, 1601, 3},
                         {13, 3, 17},
                         {32, 64, 128},
                         {9, 2051, 140}}) { // B of 574 KB: packed panels
    for (int variant = 0; variant < 4; ++variant) {
      bool ta = variant == 1, tb = variant == 2, fused = variant == 3;
      std::string what = fmt::format("{}x{} by {}x{}{}", m, k, k, n,
                                     ta      ? " transpose_a"
                                     : tb    ? " transpose_b"
                                     : fused ? " fused"
                                             : "");
      Builder b;
      std::vector<int64_t> as =
          ta ? std::vector<int64_t>{k, m} : std::vector<int64_t>{m, k};
      std::vector<int64_t> bs =
          tb ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n};
      ValueId x = b.input(as, randomFloats(rng, m * k));
      ValueId w = b.input(bs, randomFloats(rng, k * n));
      ValueId bias = b.input({n}, randomFloats(rng, n));
      ir::Attrs attrs{{ir::AttrName::ComputeDtype, std::string("bfloat16")}};
      if (ta)
        attrs.set(ir::AttrName::TransposeA, int64_t{1});
      if (tb)
        attrs.set(ir::AttrName::TransposeB, int64_t{1});
      ValueId xp = packed(b, x, ta ? 0 : 1), wp = packed(b, w, tb ? 1 : 0);
      ValueId y;
      if (fused) {
        attrs.set(ir::AttrName::Epilogue,
                  std::vector<std::string>{"bias_add", "activation"});
        attrs.set(ir::AttrName::Activation, std::string("relu"));
        y = b.op1(OpKind::MatMulFused, {xp, wp, bias}, attrs);
      } else {
        y = b.op1(OpKind::MatMul, {xp, wp}, attrs);
      }
      ASSERT_GE(y, 0) << what;
      EXPECT_EQ(b.g.type(y), ir::f32({m, n})) << what;
      expectNearReference(b.run(), y, what);
    }
  }
}

// The verifier takes pairs only where a kernel reads them.
TEST(Bfloat16Pairs, ShapeRulesRejectPairsWhereNoKernelReadsThem) {
  ir::Graph g("pairs");
  ValueId x = g.addInput("x", ir::bf16({2, 6, 6, 2, 2}));
  ValueId k = g.addInput("k", ir::bf16({3, 3, 2, 4, 2}));
  ValueId kf = g.addInput("kf", ir::f32({3, 3, 4, 4}));
  ValueId ko = g.addInput("ko", ir::bf16({3, 3, 4, 2, 2}));
  ir::Attrs attrs{{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
                  {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}};
  ir::Attrs bf16 = attrs;
  bf16.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
  auto ok = g.create1(OpKind::Conv2D, {x, k}, bf16);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(g.type(*ok), ir::f32({2, 4, 4, 4}));
  auto noDtype = g.create1(OpKind::Conv2D, {x, k}, attrs);
  EXPECT_FALSE(noDtype.ok());
  EXPECT_NE(noDtype.status().message().find("compute_dtype"), std::string::npos)
      << noDtype.status();
  auto mixed = g.create1(OpKind::Conv2D, {x, kf}, bf16);
  EXPECT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("must both be pairs"),
            std::string::npos)
      << mixed.status();
  // Pairs along the wrong axis of the kernel: 4 input channels, not 8.
  auto wrong = g.create1(OpKind::Conv2D, {x, ko}, bf16);
  EXPECT_FALSE(wrong.ok()) << "kernel pairs along the output channels";
  ir::Attrs data = bf16;
  data.set(ir::AttrName::InputShape, std::vector<int64_t>{2, 6, 6, 4});
  ValueId dy = g.addInput("dy", ir::f32({2, 4, 4, 4}));
  auto backward = g.create1(OpKind::Conv2DBackwardData, {dy, k}, data);
  EXPECT_FALSE(backward.ok());
  ValueId f = g.addInput("f", ir::f32({2, 3}));
  auto badAxis =
      g.create1(OpKind::PackBfloat16Pairs, {f},
                {{ir::AttrName::Axes, std::vector<int64_t>{int64_t{2}}}});
  EXPECT_FALSE(badAxis.ok());
  // transpose_a with transpose_b: no kernel reads pairs there.
  ValueId ma = g.addInput("ma", ir::bf16({4, 3, 2}));
  ValueId mb = g.addInput("mb", ir::bf16({5, 4, 2}));
  ir::Attrs both = bf16;
  both.set(ir::AttrName::TransposeA, int64_t{1});
  both.set(ir::AttrName::TransposeB, int64_t{1});
  EXPECT_FALSE(g.create1(OpKind::MatMul, {ma, mb}, both).ok());
  ir::Attrs plainMatmul{{ir::AttrName::ComputeDtype, std::string("bfloat16")},
                        {ir::AttrName::TransposeA, int64_t{1}}};
  auto tpa = g.create1(OpKind::MatMul, {ma, ko}, plainMatmul);
  EXPECT_FALSE(tpa.ok()) << "a rank-5 kernel in a matmul";
  // The filter gradient reads pairs of images, both operands; its fused
  // forms read no pairs (their stages need dy in float32).
  ir::Attrs filter = bf16;
  filter.set(ir::AttrName::KernelSize, std::vector<int64_t>{3, 3});
  ValueId xb = g.addInput("xb", ir::bf16({1, 6, 6, 4, 2}));
  ValueId dyb = g.addInput("dyb", ir::bf16({1, 4, 4, 4, 2}));
  auto dw = g.create1(OpKind::Conv2DBackwardFilter, {xb, dyb}, filter);
  ASSERT_TRUE(dw.ok()) << dw.status();
  EXPECT_EQ(g.type(*dw), ir::f32({3, 3, 4, 4}));
  EXPECT_FALSE(g.create1(OpKind::Conv2DBackwardFilter, {xb, dy}, filter).ok())
      << "x in pairs, dy in float32";
  EXPECT_FALSE(g.create1(OpKind::Conv2DBackwardFilter, {x, k}, filter).ok())
      << "pairs along the channels";
  ir::Attrs fusedFilter = filter;
  fusedFilter.set(ir::AttrName::Epilogue,
                  std::vector<std::string>{"bias_grad"});
  EXPECT_FALSE(
      g.create(OpKind::Conv2DBackwardFilterFused, {xb, dyb}, fusedFilter).ok())
      << "the fused form on pairs";
  // From a pool's argmax, x alone is packed, and the batch must be even
  // (an odd one's padded image has no dy).
  ir::Attrs pooledFilter = filter;
  pooledFilter.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
  pooledFilter.set(ir::AttrName::Prologue,
                   std::vector<std::string>{"max_pool2d_argmax_grad"});
  ValueId am2 = g.addInput("am2", ir::i32({2, 2, 2, 4}));
  ValueId g2 = g.addInput("g2", ir::f32({2, 2, 2, 4}));
  auto fromArgmax =
      g.create(OpKind::Conv2DBackwardFilterFused, {xb, am2, g2}, pooledFilter);
  EXPECT_TRUE(fromArgmax.ok()) << fromArgmax.status();
  ValueId am3 = g.addInput("am3", ir::i32({1, 2, 2, 4}));
  ValueId g3 = g.addInput("g3", ir::f32({1, 2, 2, 4}));
  EXPECT_FALSE(
      g.create(OpKind::Conv2DBackwardFilterFused, {xb, am3, g3}, pooledFilter)
          .ok())
      << "an odd batch";
  auto twice =
      g.create1(OpKind::PackBfloat16Pairs, {x},
                {{ir::AttrName::Axes, std::vector<int64_t>{int64_t{0}}}});
  EXPECT_FALSE(twice.ok()) << "packing bf16 again";
}

} // namespace
} // namespace cnnc::testing
