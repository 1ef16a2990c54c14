// global_avg_pool2d and its gradient against the reference interpreter
// running the same op, on odd shapes and channel counts around the vector
// width, at 1, 2 and 3 threads (bit-identical).
#include "KernelTestUtil.h"

namespace cnnc::testing {
namespace {

using ir::OpKind;

struct Shape {
  int64_t n, h, w, c;
};

// Channel counts below, at and around the vector widths (4, 8, 16), one
// pixel, one image, odd sizes.
const Shape kShapes[] = {{1, 1, 1, 1},  {2, 3, 5, 3},    {3, 7, 7, 16},
                         {2, 5, 4, 17}, {1, 11, 13, 33}, {4, 2, 9, 64},
                         {5, 6, 6, 10}};

// The interpreter's global_avg_pool2d of x.
std::vector<double> gapRef(const Shape &s, const std::vector<float> &x) {
  return interpret1(OpKind::GlobalAvgPool2D,
                    {HostTensor::floats({s.n, s.h, s.w, s.c}, x)}, {});
}

TEST(GlobalPoolKernels, ForwardMatchesReference) {
  std::mt19937 rng(31);
  for (const Shape &s : kShapes) {
    std::string what = "shape " + std::to_string(s.n) + "x" +
                       std::to_string(s.h) + "x" + std::to_string(s.w) + "x" +
                       std::to_string(s.c);
    std::vector<float> x = randomFloats(rng, s.n * s.h * s.w * s.c, -3, 3);
    auto run =
        runChecked(OpKind::GlobalAvgPool2D,
                   {HostTensor::floats({s.n, s.h, s.w, s.c}, x)}, {}, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    EXPECT_EQ(run.results[0].type, ir::f32({s.n, s.c})) << what;
    EXPECT_LT(maxRelError(run.results[0].f, gapRef(s, x)), 2e-6) << what;
  }
}

// The gradient is the adjoint of the (linear) pooling:
// <gap(x), r> = <x, gap_grad(r)>, and each cell gets exactly r / (H * W),
// the interpreter's gradient rounded once.
TEST(GlobalPoolKernels, GradIsTheAdjoint) {
  std::mt19937 rng(32);
  for (const Shape &s : kShapes) {
    std::string what = "c=" + std::to_string(s.c);
    std::vector<float> x = randomFloats(rng, s.n * s.h * s.w * s.c);
    std::vector<float> r = randomFloats(rng, s.n * s.c);
    std::vector<HostTensor> operands = {HostTensor::floats({s.n, s.c}, r)};
    ir::Attrs attrs = {
        {ir::AttrName::InputShape, std::vector<int64_t>{s.n, s.h, s.w, s.c}}};
    auto run = runChecked(OpKind::GlobalAvgPool2DGrad, operands, attrs, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    std::vector<double> ref =
        interpret1(OpKind::GlobalAvgPool2DGrad, operands, attrs);
    const std::vector<float> &dx = run.results[0].f;
    std::vector<double> y = gapRef(s, x);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < y.size(); ++i)
      lhs += y[i] * r[i];
    for (size_t i = 0; i < dx.size(); ++i)
      rhs += double(x[i]) * dx[i];
    EXPECT_NEAR(lhs, rhs, 1e-5 * (1 + std::fabs(lhs))) << what;
    ASSERT_EQ(ref.size(), dx.size()) << what;
    for (size_t i = 0; i < dx.size(); ++i)
      ASSERT_EQ(dx[i], static_cast<float>(ref[i])) << what << " at " << i;
  }
}

TEST(GlobalPoolKernels, ShapeRulesRejectBadOperands) {
  ir::Graph g("bad");
  ir::ValueId flat = g.addInput("flat", ir::f32({2, 8}));
  auto r = g.create1(OpKind::GlobalAvgPool2D, {flat});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(std::string(r.status().message()),
            "global_avg_pool2d: input must have rank 4, got f32[2,8]");
  // The gradient's input_shape must agree with dy's batch and channels.
  auto grad =
      g.create1(OpKind::GlobalAvgPool2DGrad, {flat},
                {{ir::AttrName::InputShape, std::vector<int64_t>{2, 3, 3, 4}}});
  ASSERT_FALSE(grad.ok());
  EXPECT_NE(grad.status().message().find("does not match input_shape"),
            std::string::npos);
  EXPECT_FALSE(g.create1(OpKind::GlobalAvgPool2DGrad, {flat}).ok());
}

} // namespace
} // namespace cnnc::testing
