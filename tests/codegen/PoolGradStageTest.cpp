// max_pool2d_argmax_grad_fused (passes/FoldPoolGrad.h): its
// pack_bfloat16_pairs stage must write the words pack_bfloat16_pairs
// writes from max_pool2d_argmax_grad's dx, bit for bit, and without it dx
// itself; its bias_grad stage sums dx as bias_grad does (to float
// rounding: in another order), the same bits on every thread count; and
// the shape rule's conditions.
#include "GraphRunner.h"
#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

#include <gtest/gtest.h>

namespace cnnc::testing {
namespace {

using ir::FusedStage;
using ir::OpKind;
using ir::ValueId;

struct Case {
  std::vector<int64_t> x, pool; // dx's shape, the windows
  int64_t groups;               // batch_groups (0: none)
  bool mask, scale;             // dropout's mask operand, the scale attribute
};

// Pooled sizes that drop a row or a column or none, windows of 2 and 3,
// channel counts of one pair, below a vector (a tail), a vector plus a pair,
// the tutorial's second layer; groups of one and several pairs.
std::vector<Case> cases() {
  return {{{4, 11, 11, 64}, {2, 2}, 2, false, true},
          {{2, 9, 7, 6}, {2, 2}, 0, true, false},
          {{6, 10, 12, 34}, {3, 2}, 3, false, false},
          {{4, 8, 9, 18}, {2, 3}, 2, true, true},
          {{8, 5, 6, 2}, {2, 2}, 4, false, true},
          {{2, 4, 4, 16}, {2, 2}, 0, false, false}};
}

TEST(PoolGradStage, WritesThePairsAndBiasGradientTheOpsWould) {
  std::mt19937 rng(83);
  for (const Case &c : cases())
    for (ir::FusedStageSet st :
         {ir::FusedStageSet{FusedStage::PackBfloat16Pairs},
          ir::FusedStageSet{FusedStage::PackBfloat16Pairs,
                            FusedStage::BiasGrad},
          ir::FusedStageSet{FusedStage::BiasGrad}})
      for (std::vector<int64_t> axes :
           {std::vector<int64_t>{0, 3}, {3, 0}, {0}, {3}}) {
        bool pack = st.has(FusedStage::PackBfloat16Pairs);
        bool bias = st.has(FusedStage::BiasGrad);
        if (!pack && axes.size() != 2)
          continue; // the axes play no part
        Builder b;
        std::vector<int64_t> p{c.x[0], c.x[1] / c.pool[0], c.x[2] / c.pool[1],
                               c.x[3]};
        int64_t pooled = ir::f32(p).numElements();
        ValueId argmax = b.g.addInput("argmax", ir::i32(p));
        std::uniform_int_distribution<int32_t> tap(
            -1, static_cast<int32_t>(c.pool[0] * c.pool[1] - 1));
        for (int64_t i = 0; i < pooled; ++i)
          b.intInputs[argmax].push_back(tap(rng));
        std::vector<ValueId> operands{argmax,
                                      b.input(p, randomFloats(rng, pooled))};
        if (c.mask)
          operands.push_back(b.input(p, randomFloats(rng, pooled, 0, 2)));
        ir::Attrs attrs{{ir::AttrName::PoolSize, c.pool},
                        {ir::AttrName::InputShape, c.x}};
        if (c.scale)
          attrs.set(ir::AttrName::Scale, 1 / 0.75);
        ValueId dx = b.op1(OpKind::MaxPool2DArgmaxGrad, operands, attrs);
        ir::Attrs biasAttrs;
        if (c.groups)
          biasAttrs.set(ir::AttrName::BatchGroups, c.groups);
        ValueId db = b.op1(OpKind::BiasGrad, {dx}, biasAttrs);
        std::vector<ValueId> packs = pack
                                         ? b.op(OpKind::PackBfloat16Pairs, {dx},
                                                {{ir::AttrName::Axes, axes}})
                                         : std::vector<ValueId>{};
        ir::Attrs fusedAttrs = attrs;
        ir::setFusedStages(fusedAttrs, st);
        if (pack)
          fusedAttrs.set(ir::AttrName::Axes, axes);
        if (bias && c.groups)
          fusedAttrs.set(ir::AttrName::BatchGroups, c.groups);
        std::vector<ValueId> fused =
            b.op(OpKind::MaxPool2DArgmaxGradFused, operands, fusedAttrs);
        size_t values = pack ? axes.size() : 1;
        ASSERT_EQ(fused.size(), values + (bias ? 1 : 0)) << ir::shapeStr(c.x);
        Runs runs = b.run();
        ASSERT_EQ(runs.size(), kGraphThreads.size());
        std::string what =
            fmt::format("dx {} pool {} groups {} mask {} {}", ir::shapeStr(c.x),
                        ir::shapeStr(c.pool), c.groups, c.mask,
                        ir::opLabel(b.g.ops().back()));
        for (size_t t = 0; t < runs.size(); ++t) {
          std::string on = fmt::format(" on {} threads", kGraphThreads[t]);
          if (pack)
            for (size_t r = 0; r < values; ++r) {
              EXPECT_EQ(b.g.type(fused[r]), b.g.type(packs[r])) << what;
              size_t words =
                  static_cast<size_t>(b.g.type(fused[r]).numElements() / 2);
              std::vector<int32_t> got = runs[t].i.at(fused[r]),
                                   want = runs[t].i.at(packs[r]);
              got.resize(words);
              want.resize(words);
              EXPECT_EQ(got, want) << what << ", axis " << axes[r] << on;
            }
          else
            EXPECT_EQ(runs[t].f.at(fused[0]), runs[t].f.at(dx)) << what << on;
          if (!bias)
            continue;
          const std::vector<float> &got = runs[t].f.at(fused[values]);
          EXPECT_EQ(got, runs[0].f.at(fused[values])) << what << on;
          EXPECT_LT(maxRelError(got, runs[t].f.at(db)), 1e-5) << what << on;
          EXPECT_LT(maxRelError(got, runs.ref.at(db)), 1e-5) << what << on;
        }
      }
}

// The result types, and what the shape rule refuses: pairs of an odd batch
// or channel count, axes other than the first and last, batch groups that
// split a pair, and batch_groups without the bias gradient.
TEST(PoolGradStage, ShapeRuleChecksThePairsAndGroups) {
  auto infer = [](std::vector<int64_t> x, ir::FusedStageSet st,
                  std::vector<int64_t> axes, int64_t groups) {
    std::vector<int64_t> p{x[0], x[1] / 2, x[2] / 2, x[3]};
    ir::Attrs a{{ir::AttrName::PoolSize, std::vector<int64_t>{2, 2}},
                {ir::AttrName::InputShape, x},
                {ir::AttrName::Axes, axes}};
    if (groups)
      a.set(ir::AttrName::BatchGroups, groups);
    ir::setFusedStages(a, st);
    return ir::inferResultTypes(OpKind::MaxPool2DArgmaxGradFused,
                                {ir::i32(p), ir::f32(p)}, a);
  };
  ir::FusedStageSet both{FusedStage::PackBfloat16Pairs, FusedStage::BiasGrad};
  auto ok = infer({4, 9, 9, 8}, both, {0, 3}, 2);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ir::TensorType dx = ir::f32({4, 9, 9, 8});
  EXPECT_EQ(*ok, (std::vector<ir::TensorType>{ir::packedBfloat16Pairs(dx, 0),
                                              ir::packedBfloat16Pairs(dx, 3),
                                              ir::f32({2, 8})}));
  auto plain = infer({3, 9, 9, 5}, {FusedStage::BiasGrad}, {}, 0);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain,
            (std::vector<ir::TensorType>{ir::f32({3, 9, 9, 5}), ir::f32({5})}));
  struct Bad {
    std::vector<int64_t> x;
    ir::FusedStageSet st;
    std::vector<int64_t> axes;
    int64_t groups;
    const char *says;
  };
  for (const Bad &bad : std::vector<Bad>{
           {{3, 9, 9, 8}, both, {0, 3}, 0, "even batch and channel count"},
           {{4, 9, 9, 7}, both, {3}, 0, "even batch and channel count"},
           {{4, 9, 9, 8}, both, {1}, 0, "the batch or the channels"},
           {{6, 9, 9, 8}, both, {0}, 2, "groups of whole pairs"},
           {{4, 9, 9, 8},
            {FusedStage::PackBfloat16Pairs},
            {0},
            2,
            "needs stage 'bias_grad'"}}) {
    expectRefused(infer(bad.x, bad.st, bad.axes, bad.groups), bad.says,
                  ir::shapeStr(bad.x) + " axes " + ir::shapeStr(bad.axes));
  }
}

} // namespace
} // namespace cnnc::testing
