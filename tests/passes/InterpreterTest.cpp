// Hand-computed cases that pin the reference interpreter's forward
// semantics, so that the gradient checks built on it mean something.
#include "common/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cnnc::testing {
namespace {

using ir::OpKind;
using ir::ValueId;

// A one-op graph over the given operands; returns the interpreter after
// running it.
struct OneOp {
  ir::Graph g{"one"};
  std::vector<ValueId> operands, results;
  std::unique_ptr<Interpreter> interp;

  ValueId operand(ir::TensorType t, std::vector<double> data) {
    ValueId v = g.addInput(nameOf("in", operands.size()), std::move(t));
    operands.push_back(v);
    pending.push_back(std::move(data));
    return v;
  }
  void run(OpKind kind, ir::Attrs attrs) {
    results = g.create(kind, operands, std::move(attrs)).value();
    interp = std::make_unique<Interpreter>(g);
    for (size_t i = 0; i < operands.size(); ++i)
      (*interp)[operands[i]] = pending[i];
    absl::Status s = interp->run();
    ASSERT_TRUE(s.ok()) << s;
  }
  std::vector<double> &result(int i = 0) { return (*interp)[results[i]]; }

private:
  static std::string nameOf(const char *p, size_t i) {
    return p + std::to_string(i);
  }
  std::vector<std::vector<double>> pending;
};

ir::Attrs window(std::vector<int64_t> k, std::vector<int64_t> s,
                 std::vector<int64_t> pad,
                 ir::AttrName kname = ir::AttrName::PoolSize) {
  return {{kname, k}, {ir::AttrName::Strides, s}, {ir::AttrName::Padding, pad}};
}

TEST(Interpreter, Conv2DWithSamePadding) {
  // x 3x3 (1 channel) = 1..9, kernel 2x2 = [[1, 2], [3, 4]], padding
  // [0,0,1,1]: y[i,j] = x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 4 x[i+1,j+1].
  OneOp op;
  op.operand(ir::f32({1, 3, 3, 1}), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  op.operand(ir::f32({2, 2, 1, 1}), {1, 2, 3, 4});
  op.run(OpKind::Conv2D,
         {{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
          {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 1, 1}}});
  EXPECT_EQ(op.result(),
            (std::vector<double>{37, 47, 21, 67, 77, 33, 23, 26, 9}));
}

TEST(Interpreter, Conv2DStridedMultiChannel) {
  // 2 input channels, 2 output channels, 1x1 kernel, stride 2.
  OneOp op;
  std::vector<double> x(4 * 4 * 2);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<double>(i);
  op.operand(ir::f32({1, 4, 4, 2}), x);
  op.operand(ir::f32({1, 1, 2, 2}), {1, 10, 100, 1000}); // w[c][o]
  op.run(OpKind::Conv2D,
         {{ir::AttrName::Strides, std::vector<int64_t>{2, 2}},
          {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}});
  // Pixel (0,0): x = (0, 1); (0,2): (4, 5); (2,0): (16, 17); (2,2): (20, 21).
  EXPECT_EQ(op.result(), (std::vector<double>{100, 1000, 504, 5040, 1716, 17160,
                                              2120, 21200}));
}

TEST(Interpreter, MaxPoolIgnoresPadding) {
  OneOp op;
  op.operand(ir::f32({1, 3, 3, 1}), {-1, -2, -3, -4, -5, -6, -7, -8, -9});
  op.run(OpKind::MaxPool2D, window({2, 2}, {2, 2}, {0, 0, 1, 1}));
  EXPECT_EQ(op.result(), (std::vector<double>{-1, -3, -7, -9}));
}

TEST(Interpreter, AvgPoolDividesByCellsInsideTheImage) {
  OneOp op;
  op.operand(ir::f32({1, 3, 3, 1}), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  op.run(OpKind::AvgPool2D, window({2, 2}, {2, 2}, {0, 0, 1, 1}));
  EXPECT_EQ(op.result(), (std::vector<double>{3, 4.5, 7.5, 9}));
}

TEST(Interpreter, MaxPoolGradGoesToTheFirstMaximum) {
  OneOp op;
  op.operand(ir::f32({1, 2, 2, 1}), {5, 5, 1, 5});
  op.operand(ir::f32({1, 1, 1, 1}), {5});
  op.operand(ir::f32({1, 1, 1, 1}), {3});
  op.run(OpKind::MaxPool2DGrad, window({2, 2}, {2, 2}, {0, 0, 0, 0}));
  EXPECT_EQ(op.result(), (std::vector<double>{3, 0, 0, 0}));
}

TEST(Interpreter, MatMulTransposes) {
  // A = [[1,2],[3,4]], B = [[5,6],[7,8]].
  std::vector<double> a{1, 2, 3, 4}, b{5, 6, 7, 8};
  auto mm = [&](int64_t ta, int64_t tb) {
    OneOp op;
    op.operand(ir::f32({2, 2}), a);
    op.operand(ir::f32({2, 2}), b);
    op.run(OpKind::MatMul,
           {{ir::AttrName::TransposeA, ta}, {ir::AttrName::TransposeB, tb}});
    return op.result();
  };
  EXPECT_EQ(mm(0, 0), (std::vector<double>{19, 22, 43, 50}));
  EXPECT_EQ(mm(1, 0), (std::vector<double>{26, 30, 38, 44}));
  EXPECT_EQ(mm(0, 1), (std::vector<double>{17, 23, 39, 53}));
  EXPECT_EQ(mm(1, 1), (std::vector<double>{23, 31, 34, 46}));
}

TEST(Interpreter, SoftmaxCrossEntropyIsTheMeanNegativeLogLikelihood) {
  OneOp op;
  op.operand(ir::f32({2, 3}), {0, 0, 0, 1, 2, 3});
  op.operand(ir::i32({2}), {1, 2});
  op.run(OpKind::SoftmaxCrossEntropy, {});
  double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(op.result(0)[0], (std::log(3.0) + lse - 3) / 2, 1e-12);
  EXPECT_NEAR(op.result(1)[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(op.result(1)[5], std::exp(3 - lse), 1e-12);
}

TEST(Interpreter, CountCorrectTakesTheFirstMaximum) {
  OneOp op;
  op.operand(ir::f32({3, 2}), {0.5, 0.5, 0.2, 0.8, 0.9, 0.1});
  op.operand(ir::i32({3}), {0, 0, 0});
  op.run(OpKind::CountCorrect, {});
  EXPECT_EQ(op.result()[0], 2);
}

TEST(Interpreter, DropoutMaskIsScaledAndNearTheRate) {
  OneOp op;
  op.operand(ir::f32({10000}), std::vector<double>(10000, 3.0));
  op.operand(ir::i32({}), {7});
  op.run(OpKind::Dropout, {{ir::AttrName::Rate, 0.25},
                           {ir::AttrName::Seed, int64_t{1}},
                           {ir::AttrName::Salt, int64_t{2}}});
  int kept = 0;
  for (size_t i = 0; i < 10000; ++i) {
    double m = op.result(1)[i];
    ASSERT_TRUE(m == 0 || std::abs(m - 4.0 / 3) < 1e-12) << m;
    EXPECT_EQ(op.result(0)[i], 3.0 * m);
    kept += m != 0;
  }
  EXPECT_NEAR(kept, 7500, 200);
}

// docs/ir.md: a label outside [0, C) adds 0 to the loss but still counts
// in N; it has no one-hot in the gradient and is never correct.
TEST(Interpreter, IgnoresLabelsOutOfRange) {
  OneOp op;
  op.operand(ir::f32({2, 2}), {0, 0, 1, 3});
  op.operand(ir::i32({2}), {2, 1});
  op.run(OpKind::SoftmaxCrossEntropy, {});
  EXPECT_NEAR(op.result(0)[0], std::log1p(std::exp(-2.0)) / 2, 1e-12);
  OneOp grad;
  grad.operand(ir::f32({2, 2}), {0.5, 0.5, 0.25, 0.75});
  grad.operand(ir::i32({2}), {-1, 1});
  grad.run(OpKind::SoftmaxCrossEntropyGrad, {});
  EXPECT_EQ(grad.result(), (std::vector<double>{0.25, 0.25, 0.125, -0.125}));
  OneOp count;
  count.operand(ir::f32({2, 2}), {0.5, 0.5, 0.25, 0.75});
  count.operand(ir::i32({2}), {7, 1});
  count.run(OpKind::CountCorrect, {});
  EXPECT_EQ(count.result()[0], 1);
}

} // namespace
} // namespace cnnc::testing
