// The fused ops' kernels (ir/Ops.def, made by passes/Fusion.cpp) against
// the unfused op compositions they replace, compiled in the same graph and
// run on 1, 2 and 3 threads: the fused kernels do the same float32
// arithmetic, so results must be bit-identical; and every fused result
// against the reference interpreter running the same graph in float64.
#include "GraphRunner.h"
#include "KernelTestUtil.h"
#include "common/FusedStageSets.h"
#include "ir/Activations.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

namespace cnnc::testing {
namespace {

using ir::FusedStage;
using ir::OpKind;
using ir::ValueId;

// a == b bit for bit (NaN payloads included), with the first difference.
void expectBitEqual(const std::vector<float> &a, const std::vector<float> &b,
                    const std::string &what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) {
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << " fused, "
                    << b[i] << " unfused";
      return;
    }
  }
}

// Fused vs unfused on every thread count, and every thread count equal to
// the first; and the fused result near the interpreter's. Sums of up to
// thousands of float32 products: a wrong or missing term would be off by
// ~0.1.
void expectSame(const Runs &runs, ValueId fused, ValueId unfused,
                const std::string &what) {
  ASSERT_EQ(runs.size(), kGraphThreads.size());
  for (size_t t = 0; t < runs.size(); ++t) {
    std::string where = fmt::format("{} threads={}", what, kGraphThreads[t]);
    expectBitEqual(runs[t].f.at(fused), runs[t].f.at(unfused), where);
    expectBitEqual(runs[t].f.at(fused), runs[0].f.at(fused), where);
  }
  EXPECT_LT(maxRelError(runs[0].f.at(fused), runs.ref.at(fused)), 5e-5)
      << what << " against the interpreter";
}

// An i32 result (argmax) equal to the interpreter's.
void expectSameInts(const Runs &runs, ValueId v, const std::string &what) {
  ASSERT_FALSE(runs.jit.empty());
  const std::vector<int32_t> &got = runs[0].i.at(v);
  EXPECT_EQ(std::vector<double>(got.begin(), got.end()), runs.ref.at(v))
      << what << " against the interpreter";
}

ir::Attrs convAttrs(const Window &w) {
  return {{ir::AttrName::Strides, w.strides()},
          {ir::AttrName::Padding, w.padding()}};
}

struct ConvCase {
  Window g;
  int64_t o;
};

// Odd sizes, strides 1 and 2, valid and same padding, channel counts below,
// at and above a vector; the tutorial's two layers.
std::vector<ConvCase> convCases() {
  std::vector<ConvCase> cases = {
      {{2, 9, 7, 3, 3, 3, 1, 1}, 5},    {{1, 11, 10, 1, 3, 3, 1, 1}, 32},
      {{3, 8, 9, 17, 2, 3, 2, 2}, 16},  {{2, 7, 12, 4, 3, 2, 1, 1}, 33},
      {{2, 10, 9, 5, 5, 5, 2, 1}, 7},   {{4, 28, 28, 1, 3, 3, 1, 1}, 32},
      {{4, 13, 13, 32, 3, 3, 1, 1}, 64}};
  cases[1].g.same();
  cases[4].g.same();
  return cases;
}

TEST(FusedKernels, ConvBiasActivationEqualsUnfused) {
  std::mt19937 rng(11);
  for (const ConvCase &c : convCases())
    for (std::string act :
         {"relu", "sigmoid", "tanh", "linear", "gelu", "swish", "softplus"}) {
      Builder b;
      ValueId x = b.input(c.g.xShape(),
                          randomFloats(rng, c.g.n * c.g.h * c.g.w * c.g.c));
      ValueId w = b.input({c.g.kh, c.g.kw, c.g.c, c.o},
                          randomFloats(rng, c.g.kh * c.g.kw * c.g.c * c.o));
      ValueId bias = b.input({c.o}, randomFloats(rng, c.o));
      ValueId y = b.op1(OpKind::Conv2D, {x, w}, convAttrs(c.g));
      y = b.op1(OpKind::BiasAdd, {y, bias});
      if (act != "linear")
        y = b.op1(OpKind::Activation, {y}, {{ir::AttrName::Kind, act}});
      ir::Attrs attrs = convAttrs(c.g);
      attrs.set(ir::AttrName::Activation, act);
      ValueId fused =
          b.op1(OpKind::Conv2DFused, {x, w, bias}, withStages(attrs, kBiasAct));
      expectSame(b.run(), fused, y, fmt::format("{} {}", c.g.str(), act));
    }
}

// conv -> bias -> act -> max_pool2d (2x2 and 3x2 windows, odd sizes whose
// last rows/columns no window covers), and in training the pool's and the
// relu's gradients (with dropout's mask multiply) against
// max_pool2d_argmax_grad. Inputs, weights and biases are multiples of 1/2
// so that windows hold ties; a relu leaves windows of zeros (argmax -1).
TEST(FusedKernels, ConvMaxPoolAndArgmaxGradEqualUnfused) {
  std::mt19937 rng(12);
  std::vector<std::vector<int64_t>> pools = {{2, 2}, {3, 2}};
  size_t k = 0;
  for (const ConvCase &c : convCases())
    for (std::string act : {"relu", "linear", "tanh"}) {
      std::vector<int64_t> ps = pools[k++ % pools.size()];
      if (c.g.oh() < ps[0] || c.g.ow() < ps[1])
        continue;
      // Halves: sums are exact, so equal windows taps are common.
      auto halves = [&](int64_t n) {
        std::vector<float> v = randomFloats(rng, n, -1, 1);
        for (float &e : v)
          e = std::round(e * 2) / 2;
        return v;
      };
      Builder b;
      ValueId x = b.input(c.g.xShape(), halves(c.g.n * c.g.h * c.g.w * c.g.c));
      ValueId w = b.input({c.g.kh, c.g.kw, c.g.c, c.o},
                          halves(c.g.kh * c.g.kw * c.g.c * c.o));
      ValueId bias = b.input({c.o}, halves(c.o));
      ValueId a = b.op1(OpKind::Conv2D, {x, w}, convAttrs(c.g));
      a = b.op1(OpKind::BiasAdd, {a, bias});
      if (act != "linear")
        a = b.op1(OpKind::Activation, {a}, {{ir::AttrName::Kind, act}});
      ir::Attrs poolAttrs = {
          {ir::AttrName::PoolSize, ps},
          {ir::AttrName::Strides, ps},
          {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}};
      ValueId p = b.op1(OpKind::MaxPool2D, {a}, poolAttrs);
      ir::Attrs attrs = convAttrs(c.g);
      attrs.set(ir::AttrName::Activation, act);
      attrs.set(ir::AttrName::PoolSize, ps);
      ValueId fusedPool = b.op1(OpKind::Conv2DFused, {x, w, bias},
                                withStages(attrs, kBiasActPool));
      std::string what =
          fmt::format("{} {} pool {}x{}", c.g.str(), act, ps[0], ps[1]);
      if (act == "tanh") { // no argmax form (its gradient needs tanh')
        expectSame(b.run(), fusedPool, p, what);
        continue;
      }
      auto fr = b.op(OpKind::Conv2DFused, {x, w, bias},
                     withStages(attrs, kBiasActPoolArgmax));
      int64_t pn = b.g.type(p).numElements();
      ValueId dy = b.input(b.g.type(p).shape, randomFloats(rng, pn));
      std::vector<float> maskv(pn);
      for (float &m : maskv)
        m = rng() % 4 == 0 ? 0.0f : 1.0f / 0.75f;
      ValueId mask = b.input(b.g.type(p).shape, maskv);
      ValueId g = b.op1(OpKind::Mul, {dy, mask});
      ValueId da = b.op1(OpKind::MaxPool2DGrad, {a, p, g}, poolAttrs);
      if (act == "relu")
        da =
            b.op1(OpKind::ActivationGrad, {a, da}, {{ir::AttrName::Kind, act}});
      ir::Attrs gradAttrs = {{ir::AttrName::PoolSize, ps},
                             {ir::AttrName::InputShape, b.g.type(a).shape}};
      ValueId fusedGrad =
          b.op1(OpKind::MaxPool2DArgmaxGrad, {fr[1], dy, mask}, gradAttrs);
      ValueId da2 = b.op1(OpKind::MaxPool2DGrad, {a, p, dy}, poolAttrs);
      if (act == "relu")
        da2 = b.op1(OpKind::ActivationGrad, {a, da2},
                    {{ir::AttrName::Kind, act}});
      ValueId fusedGrad2 =
          b.op1(OpKind::MaxPool2DArgmaxGrad, {fr[1], dy}, gradAttrs);
      auto runs = b.run();
      expectSame(runs, fusedPool, p, what + " pool");
      expectSame(runs, fr[0], p, what + " pool (argmax form)");
      expectSame(runs, fusedGrad, da, what + " gradient with mask");
      expectSame(runs, fusedGrad2, da2, what + " gradient");
      expectSameInts(runs, fr[1], what + " argmax");
      // Some windows must have had ties or no gradient for the test to
      // mean something.
      const std::vector<int32_t> &am = runs[0].i.at(fr[1]);
      EXPECT_TRUE(std::count(am.begin(), am.end(), -1) > 0 || act != "relu")
          << what;
    }
}

// The pool followed by dropout in the epilogue: dropout's output, and
// (argmax -1 where it drops, gradient scaled by 1/(1-rate)) the gradient of
// pool + relu + dropout's mask multiply.
TEST(FusedKernels, ConvMaxPoolDropoutEqualsUnfused) {
  std::mt19937 rng(16);
  for (const ConvCase &c : convCases())
    for (double rate : {0.25, 0.5}) {
      Builder b;
      ValueId x = b.input(c.g.xShape(),
                          randomFloats(rng, c.g.n * c.g.h * c.g.w * c.g.c));
      ValueId w = b.input({c.g.kh, c.g.kw, c.g.c, c.o},
                          randomFloats(rng, c.g.kh * c.g.kw * c.g.c * c.o));
      ValueId bias = b.input({c.o}, randomFloats(rng, c.o));
      ValueId step = b.g.addInput("step", ir::i32({}));
      ir::Attrs poolAttrs = {
          {ir::AttrName::PoolSize, std::vector<int64_t>{2, 2}},
          {ir::AttrName::Strides, std::vector<int64_t>{2, 2}},
          {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}};
      ir::Attrs dropAttrs = {{ir::AttrName::Rate, rate},
                             {ir::AttrName::Seed, int64_t(5)},
                             {ir::AttrName::Salt, int64_t(2)}};
      ValueId a = b.op1(OpKind::Conv2D, {x, w}, convAttrs(c.g));
      a = b.op1(OpKind::BiasAdd, {a, bias});
      a = b.op1(OpKind::Activation, {a}, {{ir::AttrName::Kind, "relu"}});
      ValueId p = b.op1(OpKind::MaxPool2D, {a}, poolAttrs);
      auto d = b.op(OpKind::Dropout, {p, step}, dropAttrs);
      ir::Attrs attrs = convAttrs(c.g);
      attrs.set(ir::AttrName::Activation, std::string("relu"));
      attrs.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
      for (const auto &[k, v] : dropAttrs.all())
        attrs.set(k, v);
      auto fr = b.op(OpKind::Conv2DFused, {x, w, bias, step},
                     withStages(attrs, kBiasActPoolArgmaxDropout));
      int64_t pn = b.g.type(p).numElements();
      ValueId dy = b.input(b.g.type(p).shape, randomFloats(rng, pn));
      ValueId g = b.op1(OpKind::Mul, {dy, d[1]});
      ValueId da = b.op1(OpKind::MaxPool2DGrad, {a, p, g}, poolAttrs);
      da = b.op1(OpKind::ActivationGrad, {a, da},
                 {{ir::AttrName::Kind, "relu"}});
      ValueId fusedGrad =
          b.op1(OpKind::MaxPool2DArgmaxGrad, {fr[1], dy},
                {{ir::AttrName::PoolSize, std::vector<int64_t>{2, 2}},
                 {ir::AttrName::InputShape, b.g.type(a).shape},
                 {ir::AttrName::Scale, 1 / (1 - rate)}});
      b.intInputs[step] = {3};
      Runs runs = b.run();
      std::string what = fmt::format("{} rate {}", c.g.str(), rate);
      expectSame(runs, fr[0], d[0], what + " dropout output");
      expectSame(runs, fusedGrad, da, what + " gradient");
      expectSameInts(runs, fr[1], what + " argmax");
      const std::vector<float> &mask = runs[0].f.at(d[1]);
      EXPECT_GT(std::count(mask.begin(), mask.end(), 0.0f), 0) << what;
    }
}

TEST(FusedKernels, BackwardFilterBiasEqualsUnfused) {
  std::mt19937 rng(13);
  for (const ConvCase &c : convCases()) {
    Builder b;
    ValueId x =
        b.input(c.g.xShape(), randomFloats(rng, c.g.n * c.g.h * c.g.w * c.g.c));
    std::vector<int64_t> ys{c.g.n, c.g.oh(), c.g.ow(), c.o};
    ValueId dy =
        b.input(ys, randomFloats(rng, c.g.n * c.g.oh() * c.g.ow() * c.o));
    ir::Attrs attrs = convAttrs(c.g);
    attrs.set(ir::AttrName::KernelSize, std::vector<int64_t>{c.g.kh, c.g.kw});
    ValueId dw = b.op1(OpKind::Conv2DBackwardFilter, {x, dy}, attrs);
    ValueId db = b.op1(OpKind::BiasGrad, {dy});
    auto fused = b.op(OpKind::Conv2DBackwardFilterFused, {x, dy},
                      withStages(attrs, kBiasGrad));
    auto runs = b.run();
    expectSame(runs, fused[0], dw, c.g.str() + " dw");
    expectSame(runs, fused[1], db, c.g.str() + " db");
  }
}

// conv2d_backward_filter_fused with both stages on case c with pool ps
// against max_pool2d_argmax_grad then the bias_grad stage alone; variant 1 adds
// a mask operand, variant 2 a scale.
void checkFilterBiasFromArgmax(std::mt19937 &rng, const ConvCase &c,
                               const std::vector<int64_t> &ps, int variant) {
  std::vector<int64_t> ys{c.g.n, c.g.oh(), c.g.ow(), c.o};
  if (ys[1] < ps[0] || ys[2] < ps[1])
    return;
  std::vector<int64_t> pooled{ys[0], ys[1] / ps[0], ys[2] / ps[1], c.o};
  int64_t pn = pooled[0] * pooled[1] * pooled[2] * pooled[3];
  Builder b;
  ValueId x =
      b.input(c.g.xShape(), randomFloats(rng, c.g.n * c.g.h * c.g.w * c.g.c));
  ValueId argmax = b.g.addInput("argmax", ir::i32(pooled));
  std::vector<int32_t> am(pn);
  for (int32_t &v : am)
    v = static_cast<int32_t>(rng() % (ps[0] * ps[1] + 1)) - 1;
  b.intInputs[argmax] = am;
  ValueId g = b.input(pooled, randomFloats(rng, pn));
  std::vector<ValueId> gradOperands{argmax, g};
  ir::Attrs gradAttrs = {{ir::AttrName::PoolSize, ps},
                         {ir::AttrName::InputShape, ys}};
  if (variant == 1)
    gradOperands.push_back(b.input(pooled, randomFloats(rng, pn, 0, 2)));
  if (variant == 2)
    gradAttrs.set(ir::AttrName::Scale, 1 / 0.7);
  ValueId dy = b.op1(OpKind::MaxPool2DArgmaxGrad, gradOperands, gradAttrs);
  ir::Attrs attrs = convAttrs(c.g);
  attrs.set(ir::AttrName::KernelSize, std::vector<int64_t>{c.g.kh, c.g.kw});
  auto unfused = b.op(OpKind::Conv2DBackwardFilterFused, {x, dy},
                      withStages(attrs, kBiasGrad));
  attrs.set(ir::AttrName::PoolSize, ps);
  if (variant == 2)
    attrs.set(ir::AttrName::Scale, 1 / 0.7);
  std::vector<ValueId> operands{x};
  operands.insert(operands.end(), gradOperands.begin(), gradOperands.end());
  auto fused = b.op(OpKind::Conv2DBackwardFilterFused, operands,
                    withStages(attrs, kArgmaxGradBiasGrad));
  auto runs = b.run();
  std::string what = fmt::format("{} o={} pool {}x{} variant {}", c.g.str(),
                                 c.o, ps[0], ps[1], variant);
  expectSame(runs, fused[0], unfused[0], what + " dw");
  expectSame(runs, fused[1], unfused[1], what + " db");
}

// The first layer's filter and bias gradients read straight from the pooled
// gradient and argmax, against max_pool2d_argmax_grad then
// conv2d_backward_filter_fused [bias_grad]: both filter paths (all taps of a 1-
// or 3-channel input in registers; one tap per item), pools that leave rows and
// columns uncovered, a row count that is not a multiple of 4 (bias_grad's
// tail), with a mask operand or a scale.
TEST(FusedKernels, BackwardFilterBiasFromArgmaxEqualsUnfused) {
  std::mt19937 rng(17);
  std::vector<std::vector<int64_t>> pools = {{2, 2}, {3, 2}, {2, 3}};
  std::vector<ConvCase> cases = convCases();
  // Pools covering every row and column, with 18 rows: the last two are
  // bias_grad's tail, and nonzero.
  cases.push_back({{1, 5, 8, 1, 3, 3, 1, 1}, 16});
  cases.push_back({{1, 5, 8, 3, 3, 3, 1, 1}, 17});
  size_t k = 0;
  for (const ConvCase &c : cases)
    for (int variant = 0; variant < 3; ++variant) {
      std::vector<int64_t> ps = pools[k++ % pools.size()];
      if (c.g.h == 5)
        ps = {3, 2};
      checkFilterBiasFromArgmax(rng, c, ps, variant);
    }
}

// The all-taps filter path with few accumulators, which interleaves its
// columns over 3 or 4 partial sums of 4-pixel blocks: pool widths that do
// not divide the block (3 with a 1x3 kernel, 8 with a 1x1 kernel), so a
// block's first column is not at a window's first tap.
TEST(FusedKernels, BackwardFilterBiasFromArgmaxPoolWidthsAcrossBlocks) {
  std::mt19937 rng(19);
  struct Case {
    ConvCase c;
    std::vector<int64_t> pool;
  };
  std::vector<Case> cases = {{{{2, 4, 26, 1, 1, 3, 1, 1}, 16}, {2, 3}},
                             {{{1, 3, 29, 1, 3, 1, 1, 1}, 17}, {1, 3}},
                             {{{3, 2, 35, 1, 1, 1, 1, 1}, 16}, {1, 8}},
                             {{{1, 5, 40, 1, 1, 1, 1, 1}, 33}, {2, 8}}};
  for (const Case &t : cases)
    for (int variant = 0; variant < 3; ++variant)
      checkFilterBiasFromArgmax(rng, t.c, t.pool, variant);
}

// conv2d_kernel_transpose against its definition, and backward data from
// the transposed kernel against the plain op (bit-identical) and the
// interpreter's plain conv2d_backward_data.
TEST(FusedKernels, BackwardDataTransposedEqualsUnfused) {
  std::mt19937 rng(14);
  for (const ConvCase &c : convCases()) {
    Builder b;
    std::vector<int64_t> ys{c.g.n, c.g.oh(), c.g.ow(), c.o};
    std::vector<float> dyv =
        randomFloats(rng, c.g.n * c.g.oh() * c.g.ow() * c.o);
    std::vector<float> wv = randomFloats(rng, c.g.kh * c.g.kw * c.g.c * c.o);
    ValueId dy = b.input(ys, dyv);
    ValueId w = b.input({c.g.kh, c.g.kw, c.g.c, c.o}, wv);
    ir::Attrs attrs = convAttrs(c.g);
    attrs.set(ir::AttrName::InputShape, c.g.xShape());
    ValueId dx = b.op1(OpKind::Conv2DBackwardData, {dy, w}, attrs);
    ValueId wt = b.op1(OpKind::Conv2DKernelTranspose, {w});
    ValueId fused =
        b.op1(OpKind::Conv2DBackwardDataTransposed, {dy, wt}, attrs);
    auto runs = b.run();
    expectSame(runs, fused, dx, c.g.str());
    const std::vector<float> &t = runs[0].f.at(wt);
    for (int64_t i = 0; i < c.g.kh; ++i)
      for (int64_t j = 0; j < c.g.kw; ++j)
        for (int64_t ci = 0; ci < c.g.c; ++ci)
          for (int64_t o = 0; o < c.o; ++o)
            ASSERT_EQ(t[((i * c.g.kw + c.g.kw - 1 - j) * c.o + o) * c.g.c + ci],
                      wv[((i * c.g.kw + j) * c.g.c + ci) * c.o + o])
                << c.g.str();
    EXPECT_EQ(toDouble(t), runs.ref.at(wt)) << c.g.str();
    EXPECT_LT(maxRelError(runs[0].f.at(fused), runs.ref.at(dx)), 1e-5)
        << c.g.str();
  }
}

TEST(FusedKernels, MatMulBiasActivationEqualsUnfused) {
  std::mt19937 rng(15);
  struct Case {
    int64_t m, k, n;
    bool ta, tb;
  };
  for (Case c : {Case{32, 1600, 128, false, false},
                 Case{7, 19, 10, false, false}, Case{5, 33, 17, false, true},
                 Case{13, 6, 40, true, false}, Case{1, 1, 1, false, false}})
    for (std::string act :
         {"relu", "sigmoid", "tanh", "linear", "gelu", "swish", "softplus"}) {
      Builder b;
      std::vector<int64_t> as = c.ta ? std::vector<int64_t>{c.k, c.m}
                                     : std::vector<int64_t>{c.m, c.k};
      std::vector<int64_t> bs = c.tb ? std::vector<int64_t>{c.n, c.k}
                                     : std::vector<int64_t>{c.k, c.n};
      ValueId a = b.input(as, randomFloats(rng, c.m * c.k));
      ValueId w = b.input(bs, randomFloats(rng, c.k * c.n));
      ValueId bias = b.input({c.n}, randomFloats(rng, c.n));
      ir::Attrs attrs = {{ir::AttrName::TransposeA, int64_t(c.ta)},
                         {ir::AttrName::TransposeB, int64_t(c.tb)}};
      ValueId y = b.op1(OpKind::MatMul, {a, w}, attrs);
      y = b.op1(OpKind::BiasAdd, {y, bias});
      if (act != "linear")
        y = b.op1(OpKind::Activation, {y}, {{ir::AttrName::Kind, act}});
      attrs.set(ir::AttrName::Activation, act);
      ValueId fused =
          b.op1(OpKind::MatMulFused, {a, w, bias}, withStages(attrs, kBiasAct));
      expectSame(b.run(), fused, y,
                 fmt::format("{}x{}x{} ta={} tb={} {}", c.m, c.k, c.n, c.ta,
                             c.tb, act));
    }
}

// One emitter per anchor covers every stage list its shape rule accepts,
// not only the lists passes/Fusion.cpp builds: each subset of conv2d's
// epilogue (relu, so that argmax may follow) against the unfused ops, bit
// for bit, and the argmax against the interpreter.
TEST(FusedKernels, EveryConvEpilogueEqualsUnfused) {
  std::mt19937 rng(21);
  const std::vector<FusedStage> all = {
      FusedStage::BiasAdd, FusedStage::Activation, FusedStage::MaxPool2D,
      FusedStage::Argmax, FusedStage::Dropout};
  std::vector<ConvCase> cases = convCases();
  for (size_t ci : {0, 2, 4}) {
    const ConvCase &c = cases[ci];
    for (unsigned bits = 0; bits < (1u << all.size()); ++bits) {
      ir::FusedStageSet st;
      for (size_t i = 0; i < all.size(); ++i)
        if (bits >> i & 1)
          st.add(all[i]);
      bool pool = st.has(FusedStage::MaxPool2D);
      if (!pool && (st.has(FusedStage::Argmax) || st.has(FusedStage::Dropout)))
        continue; // needs max_pool2d (the verifier says so)
      Builder b;
      ValueId x = b.input(c.g.xShape(),
                          randomFloats(rng, c.g.n * c.g.h * c.g.w * c.g.c));
      ValueId w = b.input({c.g.kh, c.g.kw, c.g.c, c.o},
                          randomFloats(rng, c.g.kh * c.g.kw * c.g.c * c.o));
      ValueId step = b.g.addInput("step", ir::i32({}));
      b.intInputs[step] = {4};
      ir::Attrs attrs = convAttrs(c.g);
      std::vector<ValueId> operands{x, w};
      ValueId y = b.op1(OpKind::Conv2D, {x, w}, convAttrs(c.g));
      if (st.has(FusedStage::BiasAdd)) {
        ValueId bias = b.input({c.o}, randomFloats(rng, c.o));
        operands.push_back(bias);
        y = b.op1(OpKind::BiasAdd, {y, bias});
      }
      if (st.has(FusedStage::Activation)) {
        attrs.set(ir::AttrName::Activation, std::string("relu"));
        y = b.op1(OpKind::Activation, {y}, {{ir::AttrName::Kind, "relu"}});
      }
      if (pool) {
        std::vector<int64_t> ps{2, 2};
        attrs.set(ir::AttrName::PoolSize, ps);
        y = b.op1(OpKind::MaxPool2D, {y},
                  {{ir::AttrName::PoolSize, ps},
                   {ir::AttrName::Strides, ps},
                   {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}});
      }
      if (st.has(FusedStage::Dropout)) {
        ir::Attrs drop = {{ir::AttrName::Rate, 0.4},
                          {ir::AttrName::Seed, int64_t(9)},
                          {ir::AttrName::Salt, int64_t(1)}};
        for (const auto &[k, v] : drop.all())
          attrs.set(k, v);
        operands.push_back(step);
        y = b.op(OpKind::Dropout, {y, step}, drop)[0];
      }
      auto fused = b.op(OpKind::Conv2DFused, operands, withStages(attrs, st));
      ASSERT_FALSE(fused.empty()) << c.g.str() << " stages " << bits;
      Runs runs = b.run();
      std::string what = fmt::format("{} stages {:05b}", c.g.str(), bits);
      expectSame(runs, fused[0], y, what);
      if (st.has(FusedStage::Argmax))
        expectSameInts(runs, fused[1], what + " argmax");
    }
  }
}

// matmul_fused with each subset of its epilogue.
TEST(FusedKernels, EveryMatMulEpilogueEqualsUnfused) {
  std::mt19937 rng(22);
  for (ir::FusedStageSet st :
       {ir::FusedStageSet{}, ir::FusedStageSet{FusedStage::BiasAdd},
        ir::FusedStageSet{FusedStage::Activation}, kBiasAct}) {
    Builder b;
    ValueId a = b.input({7, 19}, randomFloats(rng, 7 * 19));
    ValueId w = b.input({19, 33}, randomFloats(rng, 19 * 33));
    std::vector<ValueId> operands{a, w};
    ir::Attrs attrs;
    ValueId y = b.op1(OpKind::MatMul, {a, w});
    if (st.has(FusedStage::BiasAdd)) {
      ValueId bias = b.input({33}, randomFloats(rng, 33));
      operands.push_back(bias);
      y = b.op1(OpKind::BiasAdd, {y, bias});
    }
    if (st.has(FusedStage::Activation)) {
      attrs.set(ir::AttrName::Activation, std::string("sigmoid"));
      y = b.op1(OpKind::Activation, {y}, {{ir::AttrName::Kind, "sigmoid"}});
    }
    ValueId fused = b.op1(OpKind::MatMulFused, operands, withStages(attrs, st));
    expectSame(b.run(), fused, y,
               fmt::format("bias {} activation {}", st.has(FusedStage::BiasAdd),
                           st.has(FusedStage::Activation)));
  }
}

// batch_norm with the activation epilogue, for every activation the fused
// kernels take (no parameter), with and without batch groups: the same
// bits as batch_norm then activation, and its statistics unchanged.
TEST(FusedKernels, BatchNormActivationEqualsUnfused) {
  std::mt19937 rng(24);
  std::vector<std::string> kinds;
#define ACTIVATION(Enum, Name, Param, Default, GradFrom)                       \
  if (!ir::activationInfo(ir::ActivationKind::Enum).hasParam())                \
    kinds.push_back(Name);
#include "ir/Activations.def"
#undef ACTIVATION
  ASSERT_GE(kinds.size(), 3u);
  for (const std::string &kind : kinds)
    for (int64_t groups : {0, 2}) {
      Builder b;
      std::vector<int64_t> xs{5, 3, 4, 19};
      int64_t n = ir::f32(xs).numElements();
      ValueId x = b.input(xs, randomFloats(rng, n, -2.0f, 2.0f));
      ValueId gamma = b.input({19}, randomFloats(rng, 19, 0.5f, 1.5f));
      ValueId beta = b.input({19}, randomFloats(rng, 19));
      ir::Attrs attrs{{ir::AttrName::Epsilon, 1e-3}};
      std::vector<ValueId> operands{x, gamma, beta};
      if (groups > 0) {
        attrs.set(ir::AttrName::BatchGroups, groups);
        operands.push_back(b.op1(OpKind::BatchNormSums, {x},
                                 {{ir::AttrName::BatchGroups, groups}}));
      }
      std::vector<ValueId> plain = b.op(OpKind::BatchNorm, operands, attrs);
      ASSERT_EQ(plain.size(), 3u) << kind;
      ValueId y =
          b.op1(OpKind::Activation, {plain[0]}, {{ir::AttrName::Kind, kind}});
      attrs.set(ir::AttrName::Activation, kind);
      std::vector<ValueId> fused =
          b.op(OpKind::BatchNorm, operands,
               withStages(attrs, {FusedStage::Activation}));
      ASSERT_EQ(fused.size(), 3u) << kind;
      std::string what = fmt::format("{} groups {}", kind, groups);
      Runs runs = b.run();
      expectSame(runs, fused[0], y, what);
      expectSame(runs, fused[1], plain[1], what + " mean");
      expectSame(runs, fused[2], plain[2], what + " variance");
    }
}

// conv2d_backward_filter_fused without stages, and with the prologue but
// no bias gradient.
TEST(FusedKernels, FilterGradientStagesAreIndependent) {
  std::mt19937 rng(23);
  const ConvCase c = convCases()[0];
  std::vector<int64_t> ys{c.g.n, c.g.oh(), c.g.ow(), c.o};
  std::vector<int64_t> pooled{ys[0], ys[1] / 2, ys[2] / 2, c.o};
  int64_t pn = pooled[0] * pooled[1] * pooled[2] * pooled[3];
  Builder b;
  ValueId x =
      b.input(c.g.xShape(), randomFloats(rng, c.g.n * c.g.h * c.g.w * c.g.c));
  ValueId argmax = b.g.addInput("argmax", ir::i32(pooled));
  std::vector<int32_t> am(pn);
  for (int32_t &v : am)
    v = static_cast<int32_t>(rng() % 5) - 1;
  b.intInputs[argmax] = am;
  ValueId g = b.input(pooled, randomFloats(rng, pn));
  ValueId dy = b.op1(OpKind::MaxPool2DArgmaxGrad, {argmax, g},
                     {{ir::AttrName::PoolSize, std::vector<int64_t>{2, 2}},
                      {ir::AttrName::InputShape, ys}});
  ir::Attrs attrs = convAttrs(c.g);
  attrs.set(ir::AttrName::KernelSize, std::vector<int64_t>{c.g.kh, c.g.kw});
  ValueId dw = b.op1(OpKind::Conv2DBackwardFilter, {x, dy}, attrs);
  ValueId plain = b.op1(OpKind::Conv2DBackwardFilterFused, {x, dy}, attrs);
  attrs.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
  auto fromArgmax = b.op(OpKind::Conv2DBackwardFilterFused, {x, argmax, g},
                         withStages(attrs, {FusedStage::MaxPool2DArgmaxGrad}));
  ASSERT_EQ(fromArgmax.size(), 1u) << "no bias_grad: one result";
  Runs runs = b.run();
  expectSame(runs, plain, dw, c.g.str() + " no stages");
  expectSame(runs, fromArgmax[0], dw, c.g.str() + " prologue only");
}

// Shape rules reject what the emitters cannot do.
// max_pool2d_grad with the activation's gradient as epilogue, against
// activation_grad(x, max_pool2d_grad(x, y, dy)): windows that tile the
// image (with rows and columns no window covers) and overlapping, padded
// ones; x in halves so that windows hold ties.
TEST(FusedKernels, PoolGradActivationEqualsUnfused) {
  std::mt19937 rng(17);
  struct PoolCase {
    Window g;
    bool same = false;
  };
  std::vector<PoolCase> cases = {
      {{2, 9, 7, 5, 2, 2, 2, 2}},  {{1, 8, 11, 16, 3, 2, 3, 2}},
      {{3, 6, 6, 32, 2, 2, 2, 2}}, {{2, 9, 8, 3, 3, 3, 2, 2}, true},
      {{2, 7, 9, 17, 2, 2, 1, 1}}, {{1, 10, 9, 8, 3, 3, 2, 2}}};
  for (PoolCase &pc : cases) {
    if (pc.same)
      pc.g.same();
    const Window &g = pc.g;
    for (std::string act : {"relu", "sigmoid", "tanh", "linear", "softplus"}) {
      std::vector<float> xv = randomFloats(rng, g.n * g.h * g.w * g.c, -1, 1);
      for (float &e : xv)
        e = std::round(e * 2) / 2;
      Builder b;
      ValueId x = b.input(g.xShape(), xv);
      ir::Attrs poolAttrs = {
          {ir::AttrName::PoolSize, std::vector<int64_t>{g.kh, g.kw}},
          {ir::AttrName::Strides, g.strides()},
          {ir::AttrName::Padding, g.padding()}};
      ValueId y = b.op1(OpKind::MaxPool2D, {x}, poolAttrs);
      ValueId dy = b.input(b.g.type(y).shape,
                           randomFloats(rng, b.g.type(y).numElements()));
      ValueId dx = b.op1(OpKind::MaxPool2DGrad, {x, y, dy}, poolAttrs);
      dx = b.op1(OpKind::ActivationGrad, {x, dx}, {{ir::AttrName::Kind, act}});
      ir::Attrs attrs = poolAttrs;
      attrs.set(ir::AttrName::Activation, act);
      ValueId fused = b.op1(OpKind::MaxPool2DGradFused, {x, y, dy},
                            withStages(attrs, kActivationGrad));
      expectSame(b.run(), fused, dx, fmt::format("{} {}", g.str(), act));
    }
  }
}

TEST(FusedKernels, ShapeRulesRejectUnsupportedAttributes) {
  auto types = [](std::vector<ir::TensorType> in, ir::Attrs a, OpKind k) {
    return ir::inferResultTypes(k, in, a).status();
  };
  ir::Attrs conv = {{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
                    {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}},
                    {ir::AttrName::Activation, std::string("mish")}};
  std::vector<ir::TensorType> in = {ir::f32({1, 5, 5, 2}),
                                    ir::f32({3, 3, 2, 4}), ir::f32({4})};
  OpKind k = OpKind::Conv2DFused;
  EXPECT_FALSE(types(in, withStages(conv, kBiasAct), k).ok());
  conv.set(ir::AttrName::Activation, std::string("relu"));
  EXPECT_TRUE(types(in, withStages(conv, kBiasAct), k).ok());
  EXPECT_FALSE(
      types({in[0], in[1], ir::f32({3})}, withStages(conv, kBiasAct), k).ok());
  conv.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
  conv.set(ir::AttrName::Activation, std::string("tanh"));
  EXPECT_TRUE(types(in, withStages(conv, kBiasActPool), k).ok());
  EXPECT_FALSE(types(in, withStages(conv, kBiasActPoolArgmax), k).ok());
  conv.set(ir::AttrName::PoolSize,
           std::vector<int64_t>{4, 2}); // taller than 3 rows
  EXPECT_FALSE(types(in, withStages(conv, kBiasActPool), k).ok());

  // max_pool2d_grad_fused: the activation has no parameter.
  ir::Attrs pool = {{ir::AttrName::PoolSize, std::vector<int64_t>{2, 2}},
                    {ir::AttrName::Strides, std::vector<int64_t>{2, 2}},
                    {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}},
                    {ir::AttrName::Activation, std::string("relu")}};
  std::vector<ir::TensorType> grad = {
      ir::f32({1, 4, 4, 2}), ir::f32({1, 2, 2, 2}), ir::f32({1, 2, 2, 2})};
  k = OpKind::MaxPool2DGradFused;
  EXPECT_TRUE(types(grad, withStages(pool, kActivationGrad), k).ok());
  pool.set(ir::AttrName::Activation, std::string("leaky_relu"));
  EXPECT_FALSE(types(grad, withStages(pool, kActivationGrad), k).ok());
  pool.set(ir::AttrName::Activation, std::string("mish"));
  EXPECT_FALSE(types(grad, withStages(pool, kActivationGrad), k).ok());
  pool.set(ir::AttrName::Activation, std::string("relu"));
  EXPECT_FALSE(types({grad[0], grad[1], ir::f32({1, 2, 3, 2})},
                     withStages(pool, kActivationGrad), k)
                   .ok());
}

} // namespace
} // namespace cnnc::testing
