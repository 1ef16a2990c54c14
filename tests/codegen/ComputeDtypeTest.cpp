// compute_dtype = "bfloat16" (ir/AttrEnums.def, set by the dtype-policy
// pass) on every contraction kernel: each must equal the float32 kernel run
// on its operands rounded to bfloat16, bit for bit, on every thread count —
// the products of bfloat16 values are exact in float32, so rounding the
// operands as they are loaded is the whole difference — and must differ
// from the float32 kernel on the raw operands (the attribute is honoured).
// The rounding reference here is independent of the kernels' bit trick: the
// nearer of the two neighbouring bfloat16 values, ties to the even one.
#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cstring>

namespace cnnc::testing {
namespace {

using ir::OpKind;

const std::vector<int> kThreads = {1, 2, 3};

float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t toBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float roundToBfloat16(float x) {
  if (std::isnan(x))
    return x;
  uint32_t down = toBits(x) & 0xffff0000u;
  uint32_t up = down + 0x10000u; // the next bfloat16 away from zero
  double dx = x, dd = fromBits(down), du = fromBits(up);
  double errDown = std::fabs(dx - dd), errUp = std::fabs(du - dx);
  if (std::isinf(du)) // past the largest finite value
    return errDown <= errUp ? fromBits(down) : fromBits(up);
  if (errDown != errUp)
    return errDown < errUp ? fromBits(down) : fromBits(up);
  return (down >> 16) % 2 == 0 ? fromBits(down) : fromBits(up);
}

TEST(ComputeDtype, RoundingReferenceTiesToEven) {
  EXPECT_EQ(toBits(roundToBfloat16(fromBits(0x3f808000u))), 0x3f800000u);
  EXPECT_EQ(toBits(roundToBfloat16(fromBits(0x3f818000u))), 0x3f820000u);
  EXPECT_EQ(toBits(roundToBfloat16(fromBits(0x3f808001u))), 0x3f810000u);
  EXPECT_EQ(toBits(roundToBfloat16(fromBits(0xbf807fffu))), 0xbf800000u);
  EXPECT_EQ(roundToBfloat16(1.0f), 1.0f);
}

// Random values in [-1, 1) with exact ties and other edge cases mixed in.
std::vector<float> operandValues(std::mt19937 &rng, int64_t n) {
  std::vector<float> v = randomFloats(rng, n);
  const float special[] = {fromBits(0x3f808000u),
                           fromBits(0xbe818000u),
                           0.0f,
                           -0.0f,
                           fromBits(0x00012345u), // a denormal
                           3.0e38f,
                           fromBits(0x3f7fffffu)};
  for (int64_t i = 0; i < n; i += 5)
    v[i] = special[(i / 5) % std::size(special)] * (i % 2 ? 1e-38f : 1.0f);
  // Keep sums finite: no two huge values meet in one contraction.
  for (int64_t i = 0; i < n; ++i)
    if (std::fabs(v[i]) > 2)
      v[i] = 2.5f;
  return v;
}

std::vector<float> rounded(const std::vector<float> &v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = roundToBfloat16(v[i]);
  return out;
}

struct Case {
  std::string what;
  OpCall call;
};

// For each case: [bf16 on raw operands, f32 on rounded operands, f32 on
// raw operands]; the first two must agree bit for bit, the last differ.
void checkCases(const std::vector<Case> &cases) {
  std::vector<OpCall> calls;
  for (const Case &c : cases) {
    OpCall bf16 = c.call;
    bf16.attrs.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
    // The two contracted operands; a fused op's bias stays float32.
    OpCall f32Rounded = c.call;
    for (size_t i = 0; i < 2; ++i)
      f32Rounded.operands[i].f = rounded(f32Rounded.operands[i].f);
    calls.push_back(bf16);
    calls.push_back(f32Rounded);
    calls.push_back(c.call);
  }
  auto got = runOps(calls, kThreads);
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto &bf16 = got[3 * k], &want = got[3 * k + 1],
               &f32 = got[3 * k + 2];
    for (size_t t = 0; t < kThreads.size(); ++t) {
      ASSERT_EQ(bf16[t].size(), want[t].size());
      EXPECT_EQ(0,
                std::memcmp(bf16[t].data(), want[t].data(), bf16[t].size() * 4))
          << cases[k].what << ", " << kThreads[t] << " threads";
    }
    EXPECT_NE(0, std::memcmp(bf16[0].data(), f32[0].data(), bf16[0].size() * 4))
        << cases[k].what << ": bfloat16 gave the float32 result";
  }
}

int64_t count(const std::vector<int64_t> &s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

HostTensor tensor(std::mt19937 &rng, std::vector<int64_t> shape) {
  int64_t n = count(shape);
  return HostTensor::floats(std::move(shape), operandValues(rng, n));
}

std::vector<Case> convCases(std::mt19937 &rng) {
  std::vector<Case> cases;
  // x [n, h, w, c], kernel kh x kw, o filters, stride, same padding.
  struct Shape {
    Window g;
    int64_t o;
  };
  std::vector<Shape> shapes = {{{2, 9, 7, 1, 3, 3, 1, 1}, 8},
                               {{3, 8, 9, 5, 3, 3, 1, 1}, 19},
                               {{2, 11, 10, 16, 5, 5, 2, 2}, 9},
                               {{1, 7, 7, 3, 2, 3, 2, 1}, 32}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    Window g = shapes[i].g;
    if (i % 2 == 1)
      g.same();
    int64_t o = shapes[i].o;
    std::vector<int64_t> ks{g.kh, g.kw, g.c, o}, ys{g.n, g.oh(), g.ow(), o};
    ir::Attrs attrs{{ir::AttrName::Strides, g.strides()},
                    {ir::AttrName::Padding, g.padding()}};
    cases.push_back(
        {"conv2d " + g.str(),
         {OpKind::Conv2D, {tensor(rng, g.xShape()), tensor(rng, ks)}, attrs}});
    ir::Attrs data = attrs;
    data.set(ir::AttrName::InputShape, g.xShape());
    cases.push_back({"conv2d_backward_data " + g.str(),
                     {OpKind::Conv2DBackwardData,
                      {tensor(rng, ys), tensor(rng, ks)},
                      data}});
    ir::Attrs filter = attrs;
    filter.set(ir::AttrName::KernelSize, std::vector<int64_t>{g.kh, g.kw});
    cases.push_back({"conv2d_backward_filter " + g.str(),
                     {OpKind::Conv2DBackwardFilter,
                      {tensor(rng, g.xShape()), tensor(rng, ys)},
                      filter}});
    ir::Attrs fused = attrs;
    fused.set(ir::AttrName::Epilogue,
              std::vector<std::string>{"bias_add", "activation"});
    fused.set(ir::AttrName::Activation, std::string("relu"));
    cases.push_back(
        {"conv2d_fused " + g.str(),
         {OpKind::Conv2DFused,
          {tensor(rng, g.xShape()), tensor(rng, ks), tensor(rng, {o})},
          fused}});
  }
  return cases;
}

TEST(ComputeDtype, ConvolutionsRoundTheirOperandsToBfloat16) {
  std::mt19937 rng(41);
  checkCases(convCases(rng));
}

TEST(ComputeDtype, MatmulsRoundTheirOperandsToBfloat16) {
  std::mt19937 rng(42);
  std::vector<Case> cases;
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{7, 19, 33},
                         {32, 128, 10},
                         {5, 9216, 3},
                         {13, 3, 17}}) {
    cases.push_back(
        {fmt::format("matmul {}x{} by {}x{}", m, k, k, n),
         {OpKind::MatMul, {tensor(rng, {m, k}), tensor(rng, {k, n})}, {}}});
    cases.push_back({fmt::format("matmul transpose_a {}x{}", k, m),
                     {OpKind::MatMul,
                      {tensor(rng, {k, m}), tensor(rng, {k, n})},
                      {{ir::AttrName::TransposeA, int64_t{1}}}}});
    cases.push_back({fmt::format("matmul transpose_b {}x{}", n, k),
                     {OpKind::MatMul,
                      {tensor(rng, {m, k}), tensor(rng, {n, k})},
                      {{ir::AttrName::TransposeB, int64_t{1}}}}});
    cases.push_back(
        {fmt::format("matmul_fused {}x{} by {}x{}", m, k, k, n),
         {OpKind::MatMulFused,
          {tensor(rng, {m, k}), tensor(rng, {k, n}), tensor(rng, {n})},
          {{ir::AttrName::Epilogue,
            std::vector<std::string>{"bias_add", "activation"}},
           {ir::AttrName::Activation, std::string("relu")}}}});
  }
  checkCases(cases);
}

// The reference interpreter honours compute_dtype as well: it multiplies
// the rounded operands and sums in float64, so each bfloat16 kernel is
// within float32 rounding of it, and far closer to it than to the float32
// reference of the same operands.
TEST(ComputeDtype, InterpreterRoundsAsTheKernelsDo) {
  std::mt19937 rng(43);
  std::vector<Case> cases = convCases(rng);
  cases.push_back(
      {"matmul 7x19 by 19x33",
       {OpKind::MatMul, {tensor(rng, {7, 19}), tensor(rng, {19, 33})}, {}}});
  cases.push_back({"matmul transpose_b 13x40",
                   {OpKind::MatMul,
                    {tensor(rng, {5, 40}), tensor(rng, {13, 40})},
                    {{ir::AttrName::TransposeB, int64_t{1}}}}});
  std::vector<OpCall> calls;
  for (Case &c : cases) {
    calls.push_back(c.call);
    calls.back().attrs.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
  }
  auto got = runOps(calls, {1});
  ASSERT_EQ(got.size(), calls.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    OpOutcome bf16 =
        interpret(calls[k].kind, calls[k].operands, calls[k].attrs);
    OpOutcome f32 = interpret(cases[k].call.kind, cases[k].call.operands,
                              cases[k].call.attrs);
    ASSERT_FALSE(bf16.results.empty() || f32.results.empty()) << cases[k].what;
    double near = maxRelError(got[k][0], bf16.results[0]);
    double far = maxRelError(got[k][0], f32.results[0]);
    EXPECT_LT(near, 2e-5) << cases[k].what;
    EXPECT_GT(far, 20 * near) << cases[k].what;
  }
}

} // namespace
} // namespace cnnc::testing
