// The cost column of ir/Ops.def: FLOPs and bytes per call from static
// shapes (ir/OpCost.h), checked against the formulas by hand.
#include "ir/OpCost.h"

#include "frontend/Frontend.h"
#include "passes/Autodiff.h"

#include <gtest/gtest.h>

namespace cnnc::ir {
namespace {

const Op &lastOp(const Graph &g) { return g.ops().back(); }

TEST(OpCost, ConvolutionsCountTwiceTheMultiplyAdds) {
  Graph g("conv");
  ValueId x = g.addInput("x", f32({2, 9, 8, 3}));
  ValueId w = g.addParam("w", f32({3, 2, 3, 5}));
  Attrs window{{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
               {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}};
  ValueId y = g.create1(OpKind::Conv2D, {x, w}, window).value(); // 7x7x5
  // 2 * N*OH*OW*O * KH*KW*C
  const double flops = 2.0 * 2 * 7 * 7 * 5 * 3 * 2 * 3;
  OpCost fwd = opCost(g, lastOp(g));
  EXPECT_EQ(fwd.flops, flops);
  EXPECT_EQ(fwd.bytes, 4.0 * (2 * 9 * 8 * 3 + 3 * 2 * 3 * 5 + 2 * 7 * 7 * 5));

  Attrs data = window;
  data.set(ir::AttrName::InputShape, std::vector<int64_t>{2, 9, 8, 3});
  g.create1(OpKind::Conv2DBackwardData, {y, w}, data).value();
  EXPECT_EQ(opCost(g, lastOp(g)).flops, flops);
  Attrs filter = window;
  filter.set(ir::AttrName::KernelSize, std::vector<int64_t>{3, 2});
  g.create1(OpKind::Conv2DBackwardFilter, {x, y}, filter).value();
  EXPECT_EQ(opCost(g, lastOp(g)).flops, flops);
}

TEST(OpCost, MatMulEveryTranspose) {
  // c[M=4, N=3] with K = 6 in every layout.
  for (int64_t ta : {0, 1})
    for (int64_t tb : {0, 1}) {
      Graph g("mm");
      ValueId a = g.addInput("a", f32(ta ? std::vector<int64_t>{6, 4}
                                         : std::vector<int64_t>{4, 6}));
      ValueId b = g.addInput("b", f32(tb ? std::vector<int64_t>{3, 6}
                                         : std::vector<int64_t>{6, 3}));
      g.create1(
           OpKind::MatMul, {a, b},
           {{ir::AttrName::TransposeA, ta}, {ir::AttrName::TransposeB, tb}})
          .value();
      OpCost c = opCost(g, lastOp(g));
      EXPECT_EQ(c.flops, 2.0 * 4 * 3 * 6) << ta << tb;
      EXPECT_EQ(c.bytes, 4.0 * (24 + 18 + 12)) << ta << tb;
    }
}

TEST(OpCost, ElementwiseAliasAndUpdates) {
  Graph g("ew");
  ValueId a = g.addInput("a", f32({4, 5}));
  ValueId p = g.addParam("p", f32({4, 5}));
  ValueId s = g.create1(OpKind::Add, {a, p}).value();
  EXPECT_EQ(opCost(g, lastOp(g)).flops, 20);
  EXPECT_EQ(opCost(g, lastOp(g)).bytes, 3 * 20 * 4);
  g.create1(OpKind::Reshape, {s},
            {{ir::AttrName::Shape, std::vector<int64_t>{20}}})
      .value();
  EXPECT_EQ(opCost(g, lastOp(g)).flops, 0);
  EXPECT_EQ(opCost(g, lastOp(g)).bytes, 0);
  // moving_average_update reads both, writes the moving average.
  g.create(OpKind::MovingAverageUpdate, {p, s}, {{ir::AttrName::Momentum, 0.9}})
      .value();
  EXPECT_EQ(opCost(g, lastOp(g)).flops, 3 * 20);
  EXPECT_EQ(opCost(g, lastOp(g)).bytes, 3 * 20 * 4);
}

// Every op of real training graphs has a cost: work and traffic for all
// but the alias.
TEST(OpCost, EveryOpOfATrainingGraph) {
  const char *source = R"(model m {
  input shape=(10, 10, 1)
  conv2d filters=4 kernel_size=3 use_bias=false
  batch_normalization
  leaky_re_lu
  max_pooling2d
  conv2d filters=6 kernel_size=3 padding=same activation=elu
  average_pooling2d
  dropout rate=0.5
  global_average_pooling2d
  dense units=10 activation=softmax
}
)";
  frontend::ParseResult r = frontend::parseProgram(source, "m.dsl");
  ASSERT_FALSE(r.error) << r.error->str();
  for (OptimizerKind opt :
       {OptimizerKind::Adam, OptimizerKind::SGD, OptimizerKind::RMSprop}) {
    TrainingSpec spec = frontend::trainingSpec(*r.program);
    spec.optimizer.kind = opt;
    spec.optimizer.momentum = 0.9;
    frontend::LowerResult l = frontend::lowerModel(*r.program, spec);
    ASSERT_FALSE(l.error) << l.error->str();
    auto g = passes::buildTrainingGraph(l.model->forward, spec);
    ASSERT_TRUE(g.ok()) << g.status();
    for (const Op &op : g->ops()) {
      OpCost c = opCost(*g, op);
      if (opInfo(op.kind).flags & kAlias) {
        EXPECT_EQ(c.flops, 0) << opName(op.kind);
        continue;
      }
      EXPECT_GT(c.flops, 0) << opName(op.kind);
      EXPECT_GT(c.bytes, 0) << opName(op.kind);
    }
  }
}

} // namespace
} // namespace cnnc::ir
