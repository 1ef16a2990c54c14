// A training batch normalization's sums by batch group (batch_norm_sums,
// batch_norm_grad_sums; passes/BatchGroups.h): each group's sums must be
// those of its slice of the batch (an empty group's zeros), the same bits
// on every thread count, and near the interpreter's; batch_norm and
// batch_norm_grad that add them up must give the interpreter's results and
// those of the ungrouped ops that read all of x.

#include "codegen/GraphRunner.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace cnnc::testing {
namespace {

using ir::AttrName;
using ir::OpKind;
using ir::ValueId;

constexpr double kEpsilon = 1e-3;

// The ids of one grouped normalization, forward and backward, beside the
// ungrouped ops on the same operands.
struct NormGraph {
  ValueId sums, gradSums;
  std::vector<ValueId> fwd, bwd, fwdAlone, bwdAlone;
};

NormGraph build(Builder &b, std::mt19937 &rng, std::vector<int64_t> xs,
                int64_t groups) {
  int64_t c = xs.back(), n = ir::f32(xs).numElements();
  // An offset mean: the sums subtract row 0's value (a shift).
  std::vector<float> xData = randomFloats(rng, n, 2.0f, 4.0f);
  ValueId x = b.input(xs, xData);
  ValueId gamma = b.input({c}, randomFloats(rng, c, 0.5f, 1.5f));
  ValueId beta = b.input({c}, randomFloats(rng, c));
  ValueId dy = b.input(xs, randomFloats(rng, n));
  ir::Attrs eps{{AttrName::Epsilon, kEpsilon}};
  ir::Attrs grouped = eps;
  grouped.set(AttrName::BatchGroups, groups);
  NormGraph ng;
  ng.sums =
      b.op1(OpKind::BatchNormSums, {x}, {{AttrName::BatchGroups, groups}});
  ng.fwd = b.op(OpKind::BatchNorm, {x, gamma, beta, ng.sums}, grouped);
  ng.fwdAlone = b.op(OpKind::BatchNorm, {x, gamma, beta}, eps);
  if (ng.fwd.size() != 3 || ng.fwdAlone.size() != 3)
    return ng;
  ValueId mean = ng.fwd[1], var = ng.fwd[2];
  ng.gradSums = b.op1(OpKind::BatchNormGradSums, {x, mean, var, dy}, grouped);
  ng.bwd = b.op(OpKind::BatchNormGrad, {x, mean, var, dy, gamma, ng.gradSums},
                grouped);
  ng.bwdAlone = b.op(OpKind::BatchNormGrad, {x, mean, var, dy, gamma}, eps);
  return ng;
}

void checkNormGroups(std::mt19937 &rng, const std::vector<int64_t> &xs,
                     int64_t groups) {
  std::string what = fmt::format("x {} groups {}", ir::f32(xs).str(), groups);
  Builder b;
  NormGraph ng = build(b, rng, xs, groups);
  ASSERT_EQ(ng.bwd.size(), 3u) << what;
  ASSERT_EQ(ng.bwdAlone.size(), 3u) << what;
  Runs runs = b.run();
  ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;

  int64_t c = xs.back(), batch = xs[0];
  int64_t size = ir::batchGroupSize(batch, groups);
  for (ValueId s : {ng.sums, ng.gradSums}) {
    const std::vector<double> &sums = runs[0].d.at(s);
    ASSERT_EQ(sums.size(), static_cast<size_t>(groups * 2 * c)) << what;
    // The double sums of each group in another order than the
    // interpreter's; the gradient's also from statistics that the JIT
    // rounded to f32 and the interpreter did not.
    EXPECT_LT(maxRelError(sums, runs.ref.at(s)), s == ng.sums ? 1e-9 : 1e-5)
        << what << " sums " << s << " against the interpreter";
    for (int64_t g = 0; g < groups; ++g)
      if (g * size >= batch) {
        auto at = sums.begin() + g * 2 * c;
        EXPECT_TRUE(
            std::all_of(at, at + 2 * c, [](double v) { return v == 0.0; }))
            << what << ": empty group " << g << " is not zeros";
      }
    for (size_t t = 1; t < runs.size(); ++t)
      EXPECT_EQ(std::memcmp(runs[t].d.at(s).data(), sums.data(),
                            sums.size() * sizeof(double)),
                0)
          << what << " sums " << s << " threads=" << kGraphThreads[t]
          << " differ from 1 thread";
  }
  std::vector<ValueId> results = ng.fwd;
  results.insert(results.end(), ng.bwd.begin(), ng.bwd.end());
  std::vector<ValueId> alone = ng.fwdAlone;
  alone.insert(alone.end(), ng.bwdAlone.begin(), ng.bwdAlone.end());
  for (size_t r = 0; r < results.size(); ++r) {
    std::string result = fmt::format("{} result {}", what, r);
    const std::vector<float> &got = runs[0].f.at(results[r]);
    EXPECT_LT(maxRelError(got, runs.ref.at(results[r])), 2e-5)
        << result << " against the interpreter";
    // The ungrouped op sums in another order, in double: the f32 results
    // agree to a rounding.
    EXPECT_LT(maxRelError(got, runs[0].f.at(alone[r])), 2e-6)
        << result << " against the op that sums all of x";
    for (size_t t = 1; t < runs.size(); ++t)
      EXPECT_EQ(std::memcmp(runs[t].f.at(results[r]).data(), got.data(),
                            got.size() * sizeof(float)),
                0)
          << result << " threads=" << kGraphThreads[t]
          << " differs from 1 thread";
  }
}

// Batches that split evenly and not, an empty last group (5 images in 4
// groups of 2), more channels than one block of the kernels (300), rows
// that are not a multiple of 4 per group, a rank-2 input (a dense layer's).
TEST(BatchNormGroups, SumsByGroupAddUpToTheStatistics) {
  std::mt19937 rng(29);
  const std::vector<std::vector<int64_t>> shapes = {
      {5, 3, 3, 7}, {6, 4, 4, 19}, {4, 2, 3, 300}, {9, 33}, {2, 5, 5, 16}};
  for (const auto &xs : shapes)
    for (int64_t groups = 2; groups <= std::min<int64_t>(4, xs[0]); ++groups)
      checkNormGroups(rng, xs, groups);
}

TEST(BatchNormGroups, ShapeRulesCheckTheSums) {
  ir::Graph g("norm");
  ValueId x = g.addInput("x", ir::f32({3, 4, 4, 5}));
  ValueId gamma = g.addInput("gamma", ir::f32({5}));
  ValueId beta = g.addInput("beta", ir::f32({5}));
  ir::Attrs grouped{{AttrName::BatchGroups, int64_t{3}},
                    {AttrName::Epsilon, kEpsilon}};
  auto sums = g.create1(OpKind::BatchNormSums, {x}, grouped);
  ASSERT_TRUE(sums.ok()) << sums.status();
  EXPECT_EQ(g.type(*sums), ir::f64({3, 2, 5}));
  auto fwd = g.create(OpKind::BatchNorm, {x, gamma, beta, *sums}, grouped);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  auto fails = [&](OpKind k, std::vector<ValueId> operands, ir::Attrs attrs,
                   const std::string &message) {
    auto r = g.create(k, std::move(operands), std::move(attrs));
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_NE(r.status().message().find(message), std::string::npos)
        << r.status();
  };
  for (int64_t bad : {1, 4})
    fails(OpKind::BatchNormSums, {x},
          {{AttrName::BatchGroups, bad}, {AttrName::Epsilon, kEpsilon}},
          "batch_groups");
  fails(OpKind::BatchNormSums, {x}, {}, "batch_groups");
  // The sums of another grouping, another channel count, or f32.
  ValueId two = g.addInput("two", ir::f64({2, 2, 5}));
  ValueId six = g.addInput("six", ir::f64({3, 2, 6}));
  ValueId f32s = g.addInput("f32s", ir::f32({3, 2, 5}));
  for (ValueId s : {two, six, f32s})
    fails(OpKind::BatchNorm, {x, gamma, beta, s}, grouped,
          "sums per batch group must be f64[3,2,5]");
  fails(OpKind::BatchNorm, {x, gamma, beta}, grouped, "batch_groups");
  fails(OpKind::BatchNormInference, {x, (*fwd)[1], (*fwd)[2], *sums}, grouped,
        "takes no batch_groups");
  ValueId dy = g.addInput("dy", ir::f32({3, 4, 4, 5}));
  auto gradSums = g.create1(OpKind::BatchNormGradSums,
                            {x, (*fwd)[1], (*fwd)[2], dy}, grouped);
  ASSERT_TRUE(gradSums.ok()) << gradSums.status();
  EXPECT_EQ(g.type(*gradSums), ir::f64({3, 2, 5}));
  ValueId dyOther = g.addInput("dyOther", ir::f32({3, 4, 4, 6}));
  fails(OpKind::BatchNormGradSums, {x, (*fwd)[1], (*fwd)[2], dyOther}, grouped,
        "output gradient");
}

} // namespace
} // namespace cnnc::testing
