// matmul, bias_add and bias_grad against the reference interpreter running
// the same op and against finite differences of its forward ops; every run
// is also checked bit-identical at 1, 2 and 3 threads.
#include "KernelTestUtil.h"

#include <fmt/format.h>

namespace cnnc::testing {
namespace {

using ir::OpKind;

struct MatMulCase {
  int64_t m, n, k; // C[m,n], contraction k
  bool ta, tb;
};

std::vector<float> absolute(std::vector<float> v) {
  for (float &e : v)
    e = std::fabs(e);
  return v;
}

// Runs C = op(A) op(B) on random values and compares it with the
// interpreter, each element's error scaled by sum_k |A(i,k) B(k,j)| (fp32
// dot-product bound; the interpreter's matmul of |A| and |B|).
void checkMatMul(std::mt19937 &rng, const MatMulCase &c) {
  std::vector<int64_t> as =
      c.ta ? std::vector<int64_t>{c.k, c.m} : std::vector<int64_t>{c.m, c.k};
  std::vector<int64_t> bs =
      c.tb ? std::vector<int64_t>{c.n, c.k} : std::vector<int64_t>{c.k, c.n};
  auto a = randomFloats(rng, c.m * c.k), b = randomFloats(rng, c.k * c.n);
  std::string what =
      fmt::format("m={} n={} k={} ta={} tb={}", c.m, c.n, c.k, c.ta, c.tb);
  ir::Attrs attrs = {{ir::AttrName::TransposeA, int64_t(c.ta)},
                     {ir::AttrName::TransposeB, int64_t(c.tb)}};
  std::vector<HostTensor> operands = {HostTensor::floats(as, a),
                                      HostTensor::floats(bs, b)};
  auto run = runChecked(OpKind::MatMul, operands, attrs, what);
  ASSERT_EQ(run.results.size(), 1u) << what;
  std::vector<double> want = interpret1(OpKind::MatMul, operands, attrs);
  std::vector<double> absSum = interpret1(OpKind::MatMul,
                                          {HostTensor::floats(as, absolute(a)),
                                           HostTensor::floats(bs, absolute(b))},
                                          attrs);
  EXPECT_LT(maxScaledError(run.results[0].f, want, absSum), 1e-6) << what;
}

// Forward x[N,K] W[K,M], the input gradient dY[N,M] W^T and the weight
// gradient X^T dY (plus both transposes, which no rule emits) over odd
// sizes. Each kernel takes ~15 ms to compile, so each variant runs a quarter
// of the size grid, chosen so that every listed size appears in it.
TEST(DenseKernels, MatMulMatchesReferenceOnOddShapes) {
  std::mt19937 rng(11);
  const int64_t batches[] = {1, 3, 32}, ins[] = {1, 7, 33, 100},
                outs[] = {1, 10, 17, 128};
  int cases = 0;
  for (int variant = 0; variant < 4; ++variant)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 4; ++l) {
          if ((i + j + l + variant) % 4 != 0)
            continue;
          int64_t batch = batches[i], in = ins[j], out = outs[l];
          MatMulCase c;
          switch (variant) {
          case 0: // forward
            c = {batch, out, in, false, false};
            break;
          case 1: // dX = dY W^T
            c = {batch, in, out, false, true};
            break;
          case 2: // dW = X^T dY
            c = {in, out, batch, true, false};
            break;
          default:
            c = {out, in, batch, true, true};
          }
          checkMatMul(rng, c);
          ++cases;
        }
  EXPECT_EQ(cases, 48);
}

// The tutorial's dense layers and their gradients.
TEST(DenseKernels, MatMulTutorialShapes) {
  std::mt19937 rng(12);
  for (MatMulCase c : {MatMulCase{32, 128, 1600, false, false},
                       MatMulCase{32, 1600, 128, false, true},
                       MatMulCase{1600, 128, 32, true, false},
                       MatMulCase{32, 10, 128, false, false},
                       MatMulCase{32, 128, 10, false, true},
                       MatMulCase{128, 10, 32, true, false}})
    checkMatMul(rng, c);
}

// Every kernel computes C(i,j) as one float32 fma chain over k ascending,
// from zero, whichever way it splits the work: row blocks of A for a small
// B; panels of B's columns, packed a block of k at a time with the partial
// sums kept in C between blocks, for a big one. Bit for bit against that
// chain on shapes of both kinds: partial panels and blocks of k, columns
// after the last full panel, one to three threads (runChecked).
TEST(DenseKernels, MatMulIsOneFmaChainPerElement) {
  std::mt19937 rng(13);
  for (MatMulCase c :
       {MatMulCase{5, 130, 1000, false, false}, // 2 panels + 2 columns
        MatMulCase{33, 257, 301, false, false},
        MatMulCase{64, 512, 800, false, false},
        MatMulCase{32, 128, 1600, false, false}, // the tutorial's
        MatMulCase{3, 1024, 60, false, false},   // row blocks
        MatMulCase{7, 33, 19, false, false}}) {
    auto a = randomFloats(rng, c.m * c.k), b = randomFloats(rng, c.k * c.n);
    std::string what = fmt::format("m={} n={} k={}", c.m, c.n, c.k);
    auto run = runChecked(
        OpKind::MatMul,
        {HostTensor::floats({c.m, c.k}, a), HostTensor::floats({c.k, c.n}, b)},
        {}, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    const std::vector<float> &got = run.results[0].f;
    int64_t differ = 0;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        float want = 0.0f;
        for (int64_t k = 0; k < c.k; ++k)
          want = std::fma(a[i * c.k + k], b[k * c.n + j], want);
        differ += got[i * c.n + j] != want;
      }
    EXPECT_EQ(differ, 0) << what;
  }
}

// For L(X, W) = sum(R * (X W)), dL/dX = R W^T and dL/dW = X^T R: the
// backward matmuls must match central differences of the interpreter's
// forward matmul.
TEST(DenseKernels, MatMulGradientsMatchFiniteDifferences) {
  std::mt19937 rng(13);
  for (auto [n, k, m] : {std::tuple<int64_t, int64_t, int64_t>{3, 7, 10},
                         {5, 33, 17},
                         {1, 4, 1}}) {
    auto x = randomFloats(rng, n * k), w = randomFloats(rng, k * m),
         r = randomFloats(rng, n * m);
    std::vector<double> xd = toDouble(x), wd = toDouble(w), rd = toDouble(r);
    auto loss = [&](const std::vector<double> &xv,
                    const std::vector<double> &wv) {
      auto y = interpretRef1(
          OpKind::MatMul, {refOperand({n, k}, xv), refOperand({k, m}, wv)}, {});
      double s = 0;
      for (size_t i = 0; i < y.size(); ++i)
        s += y[i] * rd[i];
      return s;
    };
    auto dx = runChecked(
        OpKind::MatMul,
        {HostTensor::floats({n, m}, r), HostTensor::floats({k, m}, w)},
        {{ir::AttrName::TransposeB, int64_t(1)}}, "dX");
    auto dw = runChecked(
        OpKind::MatMul,
        {HostTensor::floats({n, k}, x), HostTensor::floats({n, m}, r)},
        {{ir::AttrName::TransposeA, int64_t(1)}}, "dW");
    ASSERT_EQ(dx.results.size(), 1u);
    ASSERT_EQ(dw.results.size(), 1u);
    const double h = 1e-3;
    for (size_t i = 0; i < xd.size(); ++i) {
      double fd = centralDifference(
          [&](const std::vector<double> &v) { return loss(v, wd); }, xd, i, h);
      EXPECT_NEAR(dx.results[0].f[i], fd, 1e-5 * (1 + std::fabs(fd)))
          << "dX[" << i << "]";
    }
    for (size_t i = 0; i < wd.size(); ++i) {
      double fd = centralDifference(
          [&](const std::vector<double> &v) { return loss(xd, v); }, wd, i, h);
      EXPECT_NEAR(dw.results[0].f[i], fd, 1e-5 * (1 + std::fabs(fd)))
          << "dW[" << i << "]";
    }
  }
}

// Leading dimensions and channel counts, including NHWC conv outputs.
const std::vector<std::vector<int64_t>> kBiasShapes = {
    {1, 1},           {3, 10},      {32, 128},     {7, 17},      {2, 33},
    {32, 26, 26, 32}, {3, 5, 7, 9}, {2, 3, 3, 64}, {1, 1, 1, 1}, {4, 5, 100}};

TEST(DenseKernels, BiasAddMatchesReference) {
  std::mt19937 rng(14);
  for (const auto &shape : kBiasShapes) {
    int64_t c = shape.back();
    ir::TensorType t = ir::f32(shape);
    auto x = randomFloats(rng, t.numElements()), b = randomFloats(rng, c);
    std::string what = ir::shapeStr(shape);
    std::vector<HostTensor> operands = {HostTensor::floats(shape, x),
                                        HostTensor::floats({c}, b)};
    auto run = runChecked(OpKind::BiasAdd, operands, {}, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    // One rounding of an exact double sum: must be exact.
    std::vector<double> want = interpret1(OpKind::BiasAdd, operands, {});
    ASSERT_EQ(want.size(), run.results[0].f.size()) << what;
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(run.results[0].f[i], static_cast<float>(want[i]))
          << what << " at " << i;
  }
}

TEST(DenseKernels, BiasGradMatchesReference) {
  std::mt19937 rng(15);
  for (const auto &shape : kBiasShapes) {
    int64_t c = shape.back();
    ir::TensorType t = ir::f32(shape);
    auto dy = randomFloats(rng, t.numElements());
    std::string what = ir::shapeStr(shape);
    auto run =
        runChecked(OpKind::BiasGrad, {HostTensor::floats(shape, dy)}, {}, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    ASSERT_EQ(run.results[0].f.size(), size_t(c));
    std::vector<double> want =
        interpret1(OpKind::BiasGrad, {HostTensor::floats(shape, dy)}, {});
    std::vector<double> absSum = interpret1(
        OpKind::BiasGrad, {HostTensor::floats(shape, absolute(dy))}, {});
    EXPECT_LT(maxScaledError(run.results[0].f, want, absSum), 1e-6) << what;
  }
}

// L(b) = sum(R * bias_add(x, b)) has dL/db = bias_grad(R): central
// differences of the interpreter's bias_add.
TEST(DenseKernels, BiasGradMatchesFiniteDifferences) {
  std::mt19937 rng(16);
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{3, 5, 7}, std::vector<int64_t>{4, 17}}) {
    int64_t c = shape.back();
    int64_t n = ir::f32(shape).numElements();
    auto x = randomFloats(rng, n), r = randomFloats(rng, n),
         b = randomFloats(rng, c);
    auto loss = [&](const std::vector<double> &bv) {
      std::vector<double> y = interpretRef1(
          OpKind::BiasAdd,
          {refOperand(shape, toDouble(x)), refOperand({c}, bv)}, {});
      double s = 0;
      for (size_t i = 0; i < y.size(); ++i)
        s += r[i] * y[i];
      return s;
    };
    auto run = runChecked(OpKind::BiasGrad, {HostTensor::floats(shape, r)}, {});
    ASSERT_EQ(run.results.size(), 1u);
    std::vector<double> bd = toDouble(b);
    for (int64_t j = 0; j < c; ++j) {
      double fd = centralDifference(loss, bd, j, 1e-3);
      EXPECT_NEAR(run.results[0].f[j], fd, 1e-5 * (1 + std::fabs(fd)))
          << "db[" << j << "]";
    }
  }
}

} // namespace
} // namespace cnnc::testing
