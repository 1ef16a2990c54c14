// softmax, softmax_cross_entropy (+ grad) and count_correct against the
// reference interpreter running the same op and finite differences of its
// loss, at 1, 2 and 3 threads (bit-identical).
#include "KernelTestUtil.h"

#include <climits>

namespace cnnc::testing {
namespace {

using ir::OpKind;

std::vector<int32_t> randomLabels(std::mt19937 &rng, int64_t n, int64_t c) {
  std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(c - 1));
  std::vector<int32_t> v(n);
  for (int32_t &l : v)
    l = d(rng);
  return v;
}

std::vector<HostTensor> lossOperands(int64_t n, int64_t c,
                                     std::vector<float> logits,
                                     std::vector<int32_t> labels) {
  return {HostTensor::floats({n, c}, std::move(logits)),
          HostTensor::ints({n}, std::move(labels))};
}

// The interpreter's softmax_cross_entropy of float64 logits[n,c]: {loss},
// probs.
OpOutcome crossEntropy(int64_t n, int64_t c, std::vector<double> logits,
                       const std::vector<int32_t> &labels) {
  return interpretRef(OpKind::SoftmaxCrossEntropy,
                      {refOperand({n, c}, std::move(logits)),
                       refOperand(HostTensor::ints({n}, labels))},
                      {});
}
double crossEntropyLoss(int64_t n, int64_t c, std::vector<double> logits,
                        const std::vector<int32_t> &labels) {
  OpOutcome o = crossEntropy(n, c, std::move(logits), labels);
  return o.results.empty() ? NAN : o.results[0][0];
}

// Probabilities within a few ulps of float64, relative to each value.
void expectProbsNear(const std::vector<float> &got,
                     const std::vector<double> &want, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " at " << i;
    EXPECT_NEAR(got[i], want[i], 1e-6 * want[i] + 1e-30) << what << " at " << i;
  }
}

struct Shape {
  int64_t n, c;
};
const Shape kShapes[] = {{1, 1},  {1, 10},  {3, 7},  {32, 10},
                         {5, 17}, {2, 100}, {7, 33}, {4, 2}};

TEST(LossKernels, SoftmaxMatchesReference) {
  std::mt19937 rng(41);
  for (Shape s : kShapes) {
    CompiledOp op(OpKind::Softmax, {HostTensor::floats({s.n, s.c}, {})}, {});
    for (float scale : {5.0f, 1e4f}) {
      auto x = randomFloats(rng, s.n * s.c, -scale, scale);
      std::string what = "softmax " + std::to_string(s.n) + "x" +
                         std::to_string(s.c) + " scale " +
                         std::to_string(scale);
      std::vector<HostTensor> operands = {HostTensor::floats({s.n, s.c}, x)};
      auto run = op.runAllThreadCounts(operands, what);
      ASSERT_EQ(run.results.size(), 1u) << what;
      expectProbsNear(run.results[0].f,
                      interpret1(OpKind::Softmax, operands, {}), what);
    }
  }
}

// Loss and probabilities, including logits far beyond exp's f32 range.
TEST(LossKernels, SoftmaxCrossEntropyMatchesReference) {
  std::mt19937 rng(42);
  for (Shape s : kShapes) {
    CompiledOp op(OpKind::SoftmaxCrossEntropy, lossOperands(s.n, s.c, {}, {}),
                  {});
    for (float scale : {3.0f, 100.0f, 1e4f, 1e30f}) {
      auto x = randomFloats(rng, s.n * s.c, -scale, scale);
      auto labels = randomLabels(rng, s.n, s.c);
      std::string what = "xent " + std::to_string(s.n) + "x" +
                         std::to_string(s.c) + " scale " +
                         std::to_string(scale);
      auto run = op.runAllThreadCounts(lossOperands(s.n, s.c, x, labels), what);
      ASSERT_EQ(run.results.size(), 2u) << what;
      OpOutcome ref = interpret(OpKind::SoftmaxCrossEntropy,
                                lossOperands(s.n, s.c, x, labels), {});
      ASSERT_EQ(ref.results.size(), 2u) << what;
      double want = ref.results[0][0];
      float loss = run.results[0].f[0];
      ASSERT_TRUE(std::isfinite(loss)) << what;
      EXPECT_NEAR(loss, want, 1e-6 * std::fabs(want) + 1e-6) << what;
      expectProbsNear(run.results[1].f, ref.results[1], what);
    }
  }
}

// Labels outside [0, C) add 0 to the loss (the mean is still over all N
// rows) and get no one-hot in the gradient.
TEST(LossKernels, SoftmaxCrossEntropyIgnoresInvalidLabels) {
  std::mt19937 rng(43);
  const int64_t n = 6, c = 10;
  auto x = randomFloats(rng, n * c, -3, 3);
  std::vector<int32_t> labels = {3, -1, 10, INT_MIN, INT_MAX, 9};
  auto fwd = runChecked(OpKind::SoftmaxCrossEntropy,
                        lossOperands(n, c, x, labels), {});
  ASSERT_EQ(fwd.results.size(), 2u);
  double want = crossEntropyLoss(n, c, toDouble(x), labels);
  // Only rows 0 and 5 count.
  std::vector<double> xd = toDouble(x);
  double direct = 0;
  for (int r : {0, 5}) {
    std::vector<double> row(xd.begin() + r * c, xd.begin() + (r + 1) * c);
    direct += crossEntropyLoss(1, c, row, {labels[r]});
  }
  EXPECT_NEAR(want, direct / n, 1e-12);
  EXPECT_NEAR(fwd.results[0].f[0], want, 1e-6);

  auto grad = runChecked(OpKind::SoftmaxCrossEntropyGrad,
                         lossOperands(n, c, fwd.results[1].f, labels), {});
  ASSERT_EQ(grad.results.size(), 1u);
  std::vector<double> wantGrad =
      interpret1(OpKind::SoftmaxCrossEntropyGrad,
                 lossOperands(n, c, fwd.results[1].f, labels), {});
  ASSERT_EQ(wantGrad.size(), size_t(n * c));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < c; ++j)
      EXPECT_NEAR(grad.results[0].f[r * c + j], wantGrad[r * c + j], 1e-8)
          << r << "," << j;

  auto correct = runChecked(OpKind::CountCorrect,
                            lossOperands(n, c, fwd.results[1].f, labels), {});
  ASSERT_EQ(correct.results.size(), 1u);
  std::vector<double> wantCorrect = interpret1(
      OpKind::CountCorrect, lossOperands(n, c, fwd.results[1].f, labels), {});
  ASSERT_EQ(wantCorrect.size(), 1u);
  EXPECT_EQ(correct.results[0].f[0], wantCorrect[0]);
}

// The gradient kernel applied to the forward's probabilities matches central
// differences of the interpreter's mean loss with respect to the logits.
TEST(LossKernels, SoftmaxCrossEntropyGradMatchesFiniteDifferences) {
  std::mt19937 rng(44);
  for (Shape s : {Shape{1, 1}, Shape{3, 10}, Shape{4, 17}, Shape{2, 33}}) {
    auto x = randomFloats(rng, s.n * s.c, -4, 4);
    auto labels = randomLabels(rng, s.n, s.c);
    std::string what = std::to_string(s.n) + "x" + std::to_string(s.c);
    auto fwd = runChecked(OpKind::SoftmaxCrossEntropy,
                          lossOperands(s.n, s.c, x, labels), {}, what);
    ASSERT_EQ(fwd.results.size(), 2u) << what;
    auto grad =
        runChecked(OpKind::SoftmaxCrossEntropyGrad,
                   lossOperands(s.n, s.c, fwd.results[1].f, labels), {}, what);
    ASSERT_EQ(grad.results.size(), 1u) << what;
    std::vector<double> xd = toDouble(x);
    auto loss = [&](const std::vector<double> &v) {
      return crossEntropyLoss(s.n, s.c, v, labels);
    };
    for (size_t i = 0; i < xd.size(); ++i) {
      double fd = centralDifference(loss, xd, i, 1e-4);
      EXPECT_NEAR(grad.results[0].f[i], fd, 1e-7 + 1e-5 * std::fabs(fd))
          << what << " at " << i;
    }
  }
}

// (probs - onehot) / N on arbitrary inputs and odd row lengths: one
// subtraction and one division, so within an ulp or two of the
// interpreter's.
TEST(LossKernels, SoftmaxCrossEntropyGradMatchesReference) {
  std::mt19937 rng(45);
  for (Shape s : kShapes) {
    auto p = randomFloats(rng, s.n * s.c, 0, 1);
    auto labels = randomLabels(rng, s.n, s.c);
    std::string what = std::to_string(s.n) + "x" + std::to_string(s.c);
    auto run = runChecked(OpKind::SoftmaxCrossEntropyGrad,
                          lossOperands(s.n, s.c, p, labels), {}, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    std::vector<double> ref = interpret1(OpKind::SoftmaxCrossEntropyGrad,
                                         lossOperands(s.n, s.c, p, labels), {});
    ASSERT_EQ(ref.size(), size_t(s.n * s.c)) << what;
    for (int64_t r = 0; r < s.n; ++r)
      for (int64_t j = 0; j < s.c; ++j) {
        double want = ref[r * s.c + j];
        EXPECT_NEAR(run.results[0].f[r * s.c + j], want,
                    2.5e-7 * std::fabs(want))
            << what << " at " << r << "," << j;
      }
  }
}

// Rows whose FIRST maximum is at the label count; ties are common here
// (values from a few levels), so a later equal maximum must not count.
TEST(LossKernels, CountCorrectUsesFirstArgmax) {
  std::mt19937 rng(46);
  for (Shape s : {Shape{1, 1}, Shape{3, 2}, Shape{32, 10}, Shape{100, 17},
                  Shape{7, 33}}) {
    std::uniform_int_distribution<int> level(0, 3);
    std::vector<float> p(s.n * s.c);
    for (float &v : p)
      v = 0.25f * level(rng);
    std::vector<int32_t> labels(s.n);
    int64_t ties = 0;
    float want = 0;
    for (int64_t r = 0; r < s.n; ++r) {
      int64_t first = 0, last = 0;
      for (int64_t j = 1; j < s.c; ++j) {
        float v = p[r * s.c + j], best = p[r * s.c + first];
        if (v > best)
          first = last = j;
        else if (v == best)
          last = j;
      }
      ties += first != last;
      // Label the first max, a later tied max, or a random class.
      switch (r % 3) {
      case 0:
        labels[r] = static_cast<int32_t>(first);
        break;
      case 1:
        labels[r] = static_cast<int32_t>(last);
        break;
      default:
        labels[r] = randomLabels(rng, 1, s.c)[0];
      }
      want += labels[r] == first;
    }
    std::string what = std::to_string(s.n) + "x" + std::to_string(s.c);
    auto run = runChecked(OpKind::CountCorrect,
                          lossOperands(s.n, s.c, p, labels), {}, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    std::vector<double> ref =
        interpret1(OpKind::CountCorrect, lossOperands(s.n, s.c, p, labels), {});
    ASSERT_EQ(ref.size(), 1u) << what;
    EXPECT_EQ(ref[0], want) << what;
    EXPECT_EQ(run.results[0].f[0], ref[0]) << what << " (" << ties << " ties)";
    if (s.n >= 32) {
      EXPECT_GT(ties, 0) << what;
    }
  }
}

} // namespace
} // namespace cnnc::testing
