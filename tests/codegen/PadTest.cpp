// pad2d and pad2d_grad against the reference interpreter on random shapes
// and paddings, at 1, 2 and 3 threads (bit-identical). Both only move data,
// so the comparison is exact.
#include "KernelTestUtil.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <random>

namespace cnnc::testing {
namespace {

using ir::OpKind;

struct PadCase {
  std::vector<int64_t> x;   // N, H, W, C
  std::vector<int64_t> pad; // top, left, bottom, right
};

std::vector<int64_t> padded(const PadCase &p) {
  return {p.x[0], p.x[1] + p.pad[0] + p.pad[2], p.x[2] + p.pad[1] + p.pad[3],
          p.x[3]};
}

std::vector<PadCase> randomCases(std::mt19937 &rng, int count) {
  // Fixed edge cases first: no padding, one side only, channels that are not
  // a multiple of any vector width, a single pixel.
  std::vector<PadCase> cases = {{{1, 1, 1, 1}, {1, 1, 1, 1}},
                                {{2, 3, 4, 5}, {0, 0, 0, 0}},
                                {{1, 4, 3, 17}, {0, 2, 0, 0}},
                                {{3, 2, 5, 3}, {0, 0, 3, 0}},
                                {{1, 5, 5, 32}, {2, 1, 0, 3}}};
  auto below = [&](int64_t n) { return static_cast<int64_t>(rng() % n); };
  for (int k = 0; k < count; ++k) {
    PadCase p;
    p.x = {1 + below(3), 1 + below(7), 1 + below(7), 1 + below(20)};
    for (int i = 0; i < 4; ++i)
      p.pad.push_back(below(4));
    cases.push_back(p);
  }
  return cases;
}

std::string describe(const PadCase &p) {
  return fmt::format("x={} pad={}", fmt::join(p.x, "x"), fmt::join(p.pad, ","));
}

TEST(PadKernels, Pad2DMatchesReference) {
  std::mt19937 rng(31);
  for (const PadCase &p : randomCases(rng, 20)) {
    std::vector<int64_t> ys = padded(p);
    int64_t n = p.x[0] * p.x[1] * p.x[2] * p.x[3];
    auto x = randomFloats(rng, n);
    std::string what = describe(p);
    std::vector<HostTensor> operands = {HostTensor::floats(p.x, x)};
    ir::Attrs attrs = {{ir::AttrName::Padding, p.pad}};
    auto run = runChecked(OpKind::Pad2D, operands, attrs, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    std::vector<float> want =
        toFloat(interpret1(OpKind::Pad2D, operands, attrs));
    ASSERT_EQ(want.size(), size_t(ys[0] * ys[1] * ys[2] * ys[3])) << what;
    EXPECT_EQ(run.results[0].f, want) << what;
  }
}

// The gradient crops: dx[b, i, j, c] = dy[b, i + top, j + left, c].
TEST(PadKernels, Pad2DGradCrops) {
  std::mt19937 rng(32);
  for (const PadCase &p : randomCases(rng, 20)) {
    std::vector<int64_t> ys = padded(p);
    auto dy = randomFloats(rng, ys[0] * ys[1] * ys[2] * ys[3]);
    std::string what = describe(p);
    std::vector<HostTensor> operands = {HostTensor::floats(ys, dy)};
    ir::Attrs attrs = {{ir::AttrName::Padding, p.pad}};
    auto run = runChecked(OpKind::Pad2DGrad, operands, attrs, what);
    ASSERT_EQ(run.results.size(), 1u) << what;
    std::vector<float> want =
        toFloat(interpret1(OpKind::Pad2DGrad, operands, attrs));
    ASSERT_EQ(want.size(), size_t(p.x[0] * p.x[1] * p.x[2] * p.x[3])) << what;
    EXPECT_EQ(run.results[0].f, want) << what;
  }
}

TEST(PadKernels, VerifierRejectsBadPadding) {
  ir::Graph g("bad");
  ir::ValueId x = g.addInput("x", ir::f32({1, 2, 2, 1}));
  ir::ValueId flat = g.addInput("flat", ir::f32({4}));
  auto message = [&](OpKind kind, ir::ValueId v, std::vector<int64_t> pad) {
    auto r = g.create1(kind, {v}, {{ir::AttrName::Padding, pad}});
    return r.ok() ? g.type(*r).str() : std::string(r.status().message());
  };
  EXPECT_EQ(message(OpKind::Pad2D, x, {1, 2, 3, 4}), "f32[1,6,8,1]");
  EXPECT_EQ(message(OpKind::Pad2D, x, {1, 2, 3}),
            "pad2d: attribute 'padding' must be [top, left, bottom, right]");
  EXPECT_EQ(message(OpKind::Pad2D, x, {0, -1, 0, 0}),
            "pad2d: padding must be between 0 and 2^31-1");
  EXPECT_EQ(message(OpKind::Pad2D, flat, {0, 0, 0, 0}),
            "pad2d: input must have rank 4, got f32[4]");
  EXPECT_EQ(message(OpKind::Pad2DGrad, x, {1, 0, 1, 0}),
            "pad2d_grad: padding [1, 0, 1, 0] leaves nothing of f32[1,2,2,1]");
  EXPECT_EQ(message(OpKind::Pad2DGrad, x, {1, 0, 0, 1}), "f32[1,1,1,1]");
}

} // namespace
} // namespace cnnc::testing
