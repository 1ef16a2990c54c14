// conv2d_fused's pack_bfloat16_pairs stage (passes/FoldPacks.h): the
// kernel writes its pooled result's bfloat16 pairs as it pools, which must
// be the words pack_bfloat16_pairs writes from the float32 result, bit for
// bit, on every thread count (the batch layout's words pair two images,
// each written by its own image's share: on 3 threads a pair straddles a
// share boundary); and the shape rule's conditions.
#include "GraphRunner.h"
#include "common/FusedStageSets.h"
#include "ir/ShapeRules.h"

#include <gtest/gtest.h>

#include <cstring>

namespace cnnc::testing {
namespace {

using ir::FusedStage;
using ir::OpKind;
using ir::ValueId;

struct Case {
  Window g;
  int64_t o;                 // filters (even)
  std::vector<int64_t> pool; // pool_size
  std::vector<int64_t> axes; // of the packing
  bool pairs;                // x and the kernel as bfloat16 pairs
};

// Even batches and filter counts (the stage's condition) with odd image
// sizes, strides, `same` padding, pooled sizes that drop a row or column,
// channel counts of one pair, below a vector (a tail), a vector plus a
// pair, and the tutorial's two layers.
std::vector<Case> cases() {
  std::vector<Case> c = {
      {{2, 9, 7, 3, 3, 3, 1, 1}, 6, {2, 2}, {3, 0}, false},
      {{4, 28, 28, 1, 3, 3, 1, 1}, 32, {2, 2}, {3, 0}, true},
      {{2, 13, 13, 32, 3, 3, 1, 1}, 64, {2, 2}, {0, 3}, true},
      {{6, 11, 10, 5, 5, 5, 2, 1}, 34, {3, 2}, {0}, false},
      {{2, 8, 9, 17, 2, 3, 2, 2}, 2, {2, 2}, {3}, true},
      {{4, 10, 12, 8, 3, 3, 1, 1}, 18, {2, 3}, {0, 3}, false}};
  c[3].g.same();
  c[5].g.same();
  return c;
}

ir::FusedStageSet withPack(ir::FusedStageSet st) {
  st.add(FusedStage::PackBfloat16Pairs);
  return st;
}

TEST(PackStage, ConvPoolWritesThePairsThePackingWould) {
  std::mt19937 rng(61);
  const ir::FusedStageSet pooledOnly{FusedStage::MaxPool2D};
  for (const Case &c : cases())
    for (ir::FusedStageSet st :
         {pooledOnly, kBiasActPoolArgmax, kBiasActPoolArgmaxDropout}) {
      Builder b;
      std::vector<int64_t> ks{c.g.kh, c.g.kw, c.g.c, c.o};
      ValueId x = b.input(
          c.g.xShape(), randomFloats(rng, ir::f32(c.g.xShape()).numElements()));
      ValueId k = b.input(ks, randomFloats(rng, ir::f32(ks).numElements()));
      ir::Attrs attrs{{ir::AttrName::Strides, c.g.strides()},
                      {ir::AttrName::Padding, c.g.padding()},
                      {ir::AttrName::PoolSize, c.pool}};
      std::vector<ValueId> operands{x, k};
      if (c.pairs) {
        auto pack = [&](ValueId v, int64_t axis) {
          return b.op1(OpKind::PackBfloat16Pairs, {v},
                       {{ir::AttrName::Axes, std::vector<int64_t>{axis}}});
        };
        operands = {pack(x, 3), pack(k, 2)};
        attrs.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
      }
      if (st.has(FusedStage::BiasAdd))
        operands.push_back(b.input({c.o}, randomFloats(rng, c.o)));
      if (st.has(FusedStage::Activation))
        attrs.set(ir::AttrName::Activation, std::string("relu"));
      if (st.has(FusedStage::Dropout)) {
        attrs.set(ir::AttrName::Rate, 0.3);
        attrs.set(ir::AttrName::Seed, int64_t(3));
        attrs.set(ir::AttrName::Salt, int64_t(1));
        ValueId step = b.g.addInput("step", ir::i32({}));
        b.intInputs[step] = {5};
        operands.push_back(step);
      }
      std::vector<ValueId> plain =
          b.op(OpKind::Conv2DFused, operands, withStages(attrs, st));
      ASSERT_FALSE(plain.empty()) << c.g.str();
      std::vector<ValueId> unfused = b.op(OpKind::PackBfloat16Pairs, {plain[0]},
                                          {{ir::AttrName::Axes, c.axes}});
      ir::Attrs packed = withStages(attrs, withPack(st));
      packed.set(ir::AttrName::Axes, c.axes);
      std::vector<ValueId> fused = b.op(OpKind::Conv2DFused, operands, packed);
      size_t np = c.axes.size();
      ASSERT_EQ(fused.size(), np + (st.has(FusedStage::Argmax) ? 1 : 0))
          << c.g.str();
      Runs runs = b.run();
      ASSERT_EQ(runs.size(), kGraphThreads.size());
      std::string what = fmt::format(
          "{} filters {} pool {} axes {} pairs {} stages {}", c.g.str(), c.o,
          ir::shapeStr(c.pool), ir::shapeStr(c.axes), c.pairs,
          ir::opLabel(b.g.ops().back()));
      for (size_t r = 0; r < np; ++r) {
        EXPECT_EQ(b.g.type(fused[r]), b.g.type(unfused[r])) << what;
        // Words: two bfloat16 values each; the values are half the type's
        // elements.
        size_t words =
            static_cast<size_t>(b.g.type(fused[r]).numElements() / 2);
        for (size_t t = 0; t < runs.size(); ++t) {
          std::vector<int32_t> got = runs[t].i.at(fused[r]),
                               want = runs[t].i.at(unfused[r]);
          got.resize(words);
          want.resize(words);
          EXPECT_EQ(got, want) << what << ", result " << r << " on "
                               << kGraphThreads[t] << " threads";
        }
        // And the interpreter's packing of its own float64 result, to
        // bfloat16 precision (it rounds once, the kernel twice).
        std::vector<float> values;
        for (size_t w = 0; w < words; ++w) {
          uint32_t word = static_cast<uint32_t>(runs[0].i.at(fused[r])[w]);
          for (uint32_t half : {word << 16, word & 0xffff0000u}) {
            float f;
            std::memcpy(&f, &half, 4);
            values.push_back(f);
          }
        }
        EXPECT_LT(maxRelError(values, runs.ref.at(fused[r])), 1e-2) << what;
      }
      for (size_t t = 0; st.has(FusedStage::Argmax) && t < runs.size(); ++t)
        EXPECT_EQ(runs[t].i.at(fused[np]), runs[t].i.at(plain[1]))
            << what << ", argmax on " << kGraphThreads[t] << " threads";
    }
}

// The result types, and what the shape rule refuses: an odd batch or
// channel count (a pair would be half written), axes other than the first
// and last, and the stage without the pool.
TEST(PackStage, ShapeRuleChecksThePairs) {
  auto infer = [](std::vector<int64_t> x, int64_t o, ir::FusedStageSet st,
                  std::vector<int64_t> axes) {
    ir::Attrs a{{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
                {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}},
                {ir::AttrName::PoolSize, std::vector<int64_t>{2, 2}},
                {ir::AttrName::Axes, axes}};
    if (st.has(FusedStage::Activation))
      a.set(ir::AttrName::Activation, std::string("relu"));
    return ir::inferResultTypes(OpKind::Conv2DFused,
                                {ir::f32(x), ir::f32({3, 3, x[3], o})},
                                withStages(a, st));
  };
  ir::FusedStageSet st{FusedStage::Activation, FusedStage::MaxPool2D,
                       FusedStage::Argmax, FusedStage::PackBfloat16Pairs};
  auto ok = infer({4, 9, 9, 3}, 8, st, {3, 0});
  ASSERT_TRUE(ok.ok()) << ok.status();
  ir::TensorType pooled = ir::f32({4, 3, 3, 8});
  EXPECT_EQ(*ok,
            (std::vector<ir::TensorType>{ir::packedBfloat16Pairs(pooled, 3),
                                         ir::packedBfloat16Pairs(pooled, 0),
                                         ir::i32({4, 3, 3, 8})}));
  auto single = infer({4, 9, 9, 3}, 8, st, {0});
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ(single->size(), 2u);
  struct Bad {
    std::vector<int64_t> x;
    int64_t o;
    ir::FusedStageSet st;
    std::vector<int64_t> axes;
    const char *says;
  };
  for (const Bad &bad : std::vector<Bad>{
           {{3, 9, 9, 3}, 8, st, {3, 0}, "even batch and channel count"},
           {{4, 9, 9, 3}, 7, st, {3}, "even batch and channel count"},
           {{4, 9, 9, 3}, 8, st, {1}, "the batch or the channels"},
           {{4, 9, 9, 3}, 8, st, {3, 3}, "first and the last"},
           {{4, 9, 9, 3}, 8, st, {}, "one or two axes"},
           {{4, 9, 9, 3},
            8,
            ir::FusedStageSet{FusedStage::PackBfloat16Pairs},
            {3},
            "max_pool2d"}}) {
    expectRefused(infer(bad.x, bad.o, bad.st, bad.axes), bad.says,
                  ir::shapeStr(bad.x) + " axes " + ir::shapeStr(bad.axes));
  }
}

} // namespace
} // namespace cnnc::testing
