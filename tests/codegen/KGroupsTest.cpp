// A matmul with k_groups (ir/ShapeRules.h; passes/KGroups.h): each group's
// partial product must be the plain matmul of its slice of the contraction,
// bit for bit, on every thread count (an empty group's is zeros);
// group_sum_fused must be group_sum, bias_add and the activation op in turn,
// bit for bit; and both must be near the interpreter's.

#include "codegen/GraphRunner.h"
#include "codegen/KernelTestUtil.h"
#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace cnnc::testing {
namespace {

using ir::OpKind;
using ir::ValueId;

bool bitEqual(const std::vector<float> &a, const float *b) {
  return std::memcmp(a.data(), b, a.size() * 4) == 0;
}

// Rows [k0, k1) of a row-major [k, n] matrix, and columns [k0, k1) of a
// row-major [m, k] one.
std::vector<float> rowSlice(const std::vector<float> &w, int64_t n, int64_t k0,
                            int64_t k1) {
  return {w.begin() + k0 * n, w.begin() + k1 * n};
}
std::vector<float> colSlice(const std::vector<float> &x, int64_t m, int64_t k,
                            int64_t k0, int64_t k1) {
  std::vector<float> out;
  for (int64_t i = 0; i < m; ++i)
    out.insert(out.end(), x.begin() + i * k + k0, x.begin() + i * k + k1);
  return out;
}

void checkKGroups(std::mt19937 &rng, int64_t m, int64_t k, int64_t n,
                  int64_t groups, const std::string &act, bool pairs) {
  std::string what = fmt::format("m={} k={} n={} groups={} {}{}", m, k, n,
                                 groups, act, pairs ? " pairs" : "");
  auto x = randomFloats(rng, m * k), w = randomFloats(rng, k * n),
       bias = randomFloats(rng, n);
  Builder b;
  ValueId xv = b.input({m, k}, x), wv = b.input({k, n}, w),
          bv = b.input({n}, bias);
  // x and w as bfloat16 pairs along k, as the dtype-policy pass packs them.
  ir::Attrs mm;
  auto pack = [&](ValueId v, int64_t axis) {
    return pairs ? b.op1(OpKind::PackBfloat16Pairs, {v},
                         {{ir::AttrName::Axes, std::vector<int64_t>{axis}}})
                 : v;
  };
  if (pairs)
    mm.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
  ir::Attrs grouped = mm;
  grouped.set(ir::AttrName::KGroups, groups);
  ValueId partial = b.op1(OpKind::MatMul, {pack(xv, 1), pack(wv, 0)}, grouped);
  ASSERT_GE(partial, 0) << what;
  ASSERT_EQ(b.g.type(partial), ir::f32({groups, m, n})) << what;
  ir::Attrs fusedAttrs{{ir::AttrName::Activation, act}};
  ir::setFusedStages(fusedAttrs,
                     {ir::FusedStage::BiasAdd, ir::FusedStage::Activation});
  ValueId fused = b.op1(OpKind::GroupSumFused, {partial, bv}, fusedAttrs);
  // The same by the unfused ops.
  ValueId sum = b.op1(OpKind::GroupSum, {partial});
  ValueId biased = b.op1(OpKind::BiasAdd, {sum, bv});
  ValueId activated =
      b.op1(OpKind::Activation, {biased}, {{ir::AttrName::Kind, act}});
  // Each nonempty group's slice through the plain matmul (groups of words
  // with pairs).
  int64_t size = pairs ? 2 * ir::kGroupSize((k + 1) / 2, groups)
                       : ir::kGroupSize(k, groups);
  std::vector<ValueId> alone(groups, -1);
  for (int64_t g = 0; g < groups; ++g) {
    int64_t k0 = std::min(g * size, k), k1 = std::min(k0 + size, k);
    if (k0 < k1)
      alone[g] =
          b.op1(OpKind::MatMul,
                {pack(b.input({m, k1 - k0}, colSlice(x, m, k, k0, k1)), 1),
                 pack(b.input({k1 - k0, n}, rowSlice(w, n, k0, k1)), 0)},
                mm);
  }
  Runs runs = b.run();
  ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;
  size_t per = static_cast<size_t>(m * n);
  for (size_t t = 0; t < runs.size(); ++t) {
    std::string where = fmt::format("{} threads={}", what, kGraphThreads[t]);
    const std::vector<float> &p = runs[t].f.at(partial);
    for (int64_t g = 0; g < groups; ++g) {
      const float *pg = p.data() + per * g;
      if (alone[g] < 0)
        EXPECT_EQ(std::count(pg, pg + per, 0.0f),
                  static_cast<std::ptrdiff_t>(per))
            << where << ": empty group " << g << " is not zeros";
      else
        EXPECT_TRUE(bitEqual(runs[t].f.at(alone[g]), pg))
            << where << ": group " << g << " differs from its slice";
    }
    EXPECT_TRUE(bitEqual(runs[t].f.at(activated), runs[t].f.at(fused).data()))
        << where << ": group_sum_fused differs from its ops";
    EXPECT_TRUE(bitEqual(runs[0].f.at(fused), runs[t].f.at(fused).data()))
        << where << " differs from 1 thread";
  }
  // bfloat16 products: the interpreter rounds the same operands, its sums
  // are exact.
  double tolerance = pairs ? 1e-4 : 5e-5;
  EXPECT_LT(maxRelError(runs[0].f.at(partial), runs.ref.at(partial)), tolerance)
      << what << " partials against the interpreter";
  EXPECT_LT(maxRelError(runs[0].f.at(fused), runs.ref.at(fused)), tolerance)
      << what << " group_sum_fused against the interpreter";
}

// Columns in full panels of 64 and not (a panel and a rest, a rest alone),
// contractions that split evenly and not, a group left empty (k = 5 in 4
// groups of 2; of pairs, 3 words in 4 groups of 1), odd contractions of
// pairs (a padded last word), one row and odd rows; mnist's dense layer at
// batch 32; each in float32 and on bfloat16 pairs along k.
TEST(KGroups, EachGroupIsTheMatMulOfItsSliceOfK) {
  std::mt19937 rng(73);
  struct Case {
    int64_t m, k, n, groups;
    const char *act;
  };
  const Case cases[] = {{3, 5, 7, 4, "relu"},       {1, 33, 130, 2, "linear"},
                        {7, 100, 64, 3, "relu"},    {6, 257, 200, 2, "tanh"},
                        {32, 1600, 128, 2, "relu"}, {13, 70, 17, 2, "sigmoid"},
                        {5, 64, 1029, 3, "linear"}};
  for (const Case &c : cases)
    for (bool pairs : {false, true})
      checkKGroups(rng, c.m, c.k, c.n, c.groups, c.act, pairs);
}

TEST(KGroups, ShapeRulesCheckTheGroups) {
  ir::Graph g("kgroups");
  ValueId x = g.addInput("x", ir::f32({4, 6}));
  ValueId w = g.addInput("w", ir::f32({6, 5}));
  auto p = g.create1(OpKind::MatMul, {x, w}, {{ir::AttrName::KGroups, 3}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(g.type(*p), ir::f32({3, 4, 5}));
  for (int64_t bad : {0, 1, 7}) {
    auto r = g.create1(OpKind::MatMul, {x, w}, {{ir::AttrName::KGroups, bad}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("k_groups"), std::string::npos)
        << r.status();
  }
  ValueId wt = g.addInput("wt", ir::f32({5, 6}));
  EXPECT_FALSE(
      g.create1(OpKind::MatMul, {x, wt},
                {{ir::AttrName::KGroups, 2}, {ir::AttrName::TransposeB, 1}})
          .ok())
      << "a transposed operand";
  ValueId bias = g.addInput("b", ir::f32({5}));
  ir::Attrs fused{{ir::AttrName::Activation, std::string("relu")},
                  {ir::AttrName::KGroups, 2}};
  ir::setFusedStages(fused,
                     {ir::FusedStage::BiasAdd, ir::FusedStage::Activation});
  EXPECT_FALSE(g.create1(OpKind::MatMulFused, {x, w, bias}, fused).ok())
      << "matmul_fused takes no k_groups";
  fused.erase(ir::AttrName::KGroups);
  auto s = g.create1(OpKind::GroupSumFused, {*p, bias}, fused);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(g.type(*s), ir::f32({4, 5}));
  EXPECT_FALSE(g.create1(OpKind::GroupSumFused, {*p}, fused).ok())
      << "bias_add without its bias";
  ValueId wrongBias = g.addInput("b6", ir::f32({6}));
  EXPECT_FALSE(g.create1(OpKind::GroupSumFused, {*p, wrongBias}, fused).ok())
      << "a bias of the wrong size";
}

} // namespace
} // namespace cnnc::testing
