// softmax, softmax_cross_entropy (+ grad) and count_correct against float64
// references and finite differences, at 1, 2 and 3 threads (bit-identical).
#include "DenseReference.h"

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
      auto run =
          op.runAllThreadCounts({HostTensor::floats({s.n, s.c}, x)}, what);
      ASSERT_EQ(run.results.size(), 1u) << what;
      std::vector<double> want;
      softmaxCrossEntropyRef(toDouble(x), std::vector<int32_t>(s.n, -1), s.n,
                             s.c, &want);
      expectProbsNear(run.results[0].f, want, what);
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
      std::vector<double> probs;
      double want =
          softmaxCrossEntropyRef(toDouble(x), labels, s.n, s.c, &probs);
      float loss = run.results[0].f[0];
      ASSERT_TRUE(std::isfinite(loss)) << what;
      EXPECT_NEAR(loss, want, 1e-6 * std::fabs(want) + 1e-6) << what;
      expectProbsNear(run.results[1].f, probs, what);
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
  std::vector<double> probs;
  double want = softmaxCrossEntropyRef(toDouble(x), labels, n, c, &probs);
  // Only rows 0 and 5 count.
  std::vector<double> xd = toDouble(x);
  double direct = 0;
  for (int r : {0, 5}) {
    std::vector<double> row(xd.begin() + r * c, xd.begin() + (r + 1) * c);
    direct += softmaxCrossEntropyRef(row, {labels[r]}, 1, c);
  }
  EXPECT_NEAR(want, direct / n, 1e-12);
  EXPECT_NEAR(fwd.results[0].f[0], want, 1e-6);

  auto grad = runChecked(OpKind::SoftmaxCrossEntropyGrad,
                         lossOperands(n, c, fwd.results[1].f, labels), {});
  ASSERT_EQ(grad.results.size(), 1u);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < c; ++j) {
      double onehot = labels[r] == j ? 1 : 0;
      EXPECT_NEAR(grad.results[0].f[r * c + j],
                  (fwd.results[1].f[r * c + j] - onehot) / n, 1e-8)
          << r << "," << j;
    }

  auto correct = runChecked(OpKind::CountCorrect,
                            lossOperands(n, c, fwd.results[1].f, labels), {});
  ASSERT_EQ(correct.results.size(), 1u);
  float wantCorrect = 0;
  for (int r : {0, 5}) {
    auto row = fwd.results[1].f.begin() + r * c;
    wantCorrect += std::max_element(row, row + c) - row == labels[r];
  }
  EXPECT_EQ(correct.results[0].f[0], wantCorrect);
}

// The gradient kernel applied to the forward's probabilities matches central
// differences of the float64 mean loss with respect to the logits.
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
      return softmaxCrossEntropyRef(v, labels, s.n, s.c);
    };
    for (size_t i = 0; i < xd.size(); ++i) {
      double fd = centralDifference(loss, xd, i, 1e-4);
      EXPECT_NEAR(grad.results[0].f[i], fd, 1e-7 + 1e-5 * std::fabs(fd))
          << what << " at " << i;
    }
  }
}

// (probs - onehot) / N on arbitrary inputs and odd row lengths: one
// subtraction and one division, so within an ulp or two of float64.
TEST(LossKernels, SoftmaxCrossEntropyGradMatchesReference) {
  std::mt19937 rng(45);
  for (Shape s : kShapes) {
    auto p = randomFloats(rng, s.n * s.c, 0, 1);
    auto labels = randomLabels(rng, s.n, s.c);
    std::string what = std::to_string(s.n) + "x" + std::to_string(s.c);
    auto run = runChecked(OpKind::SoftmaxCrossEntropyGrad,
                          lossOperands(s.n, s.c, p, labels), {}, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    for (int64_t r = 0; r < s.n; ++r)
      for (int64_t j = 0; j < s.c; ++j) {
        double want = (double(p[r * s.c + j]) - (labels[r] == j)) / s.n;
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
    EXPECT_EQ(run.results[0].f[0], want) << what << " (" << ties << " ties)";
    if (s.n >= 32) {
      EXPECT_GT(ties, 0) << what;
    }
  }
}

} // namespace
} // namespace cnnc::testing
