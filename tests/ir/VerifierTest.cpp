// The verifier on graphs built in C++, which can hold what the parser
// rejects.
#include "ir/Verifier.h"
#include "ir/Graph.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace cnnc::ir {
namespace {

// The parser rejects such types; a pass (rebatch) or a C++ caller can make
// them, and their byte sizes overflow.
TEST(Verifier, RejectsTypesOutOfBounds) {
  for (const TensorType &t :
       {f32({int64_t(1) << 40, int64_t(1) << 40}), f32({2, 0}), i32({-1}),
        f32({int64_t(1) << 62, 4})}) {
    Graph g;
    g.addInput("x", t);
    absl::Status s = verifyGraph(g);
    EXPECT_FALSE(s.ok()) << t.str();
    EXPECT_NE(s.message().find("at most 2^48 elements"), std::string::npos)
        << s.message();
  }
  Graph g;
  g.addInput("x", f32({int64_t(1) << 46, 4})); // exactly 2^48: allowed
  EXPECT_TRUE(verifyGraph(g).ok());
}

TEST(TensorType, IsValid) {
  EXPECT_TRUE(f32({}).isValid());
  EXPECT_TRUE(i32({3, 1, 2}).isValid());
  EXPECT_FALSE(f32({3, 0}).isValid());
  EXPECT_FALSE(f32({int64_t(1) << 24, int64_t(1) << 24, 2}).isValid());
}

// Names are unique by construction (the graph indexes them): values asked
// for under one name get suffixes, each found again by name, and the
// verifier (a hash set, as the parser verifies several times per bad input)
// accepts them. Both stay linear in the number of values.
TEST(Verifier, ManyValuesOfOneName) {
  constexpr int kValues = 20000;
  Graph g;
  std::vector<ValueId> ids;
  for (int i = 0; i < kValues; ++i)
    ids.push_back(g.addInput(i % 2 ? "v" : "v_7", f32({2})));
  for (ValueId id : ids)
    EXPECT_EQ(g.findValue(g.value(id).name), id);
  EXPECT_EQ(g.value(ids[0]).name, "v_7");
  EXPECT_EQ(g.value(ids[1]).name, "v");
  EXPECT_EQ(g.value(ids[3]).name, "v_1");
  EXPECT_EQ(g.value(ids[2]).name, "v_7_1");
  absl::Status s = verifyGraph(g);
  EXPECT_TRUE(s.ok()) << s;
}

// Each written operand is read and written element by element; a second
// slot holding the same tensor would read half-updated data.
TEST(Verifier, RejectsAValueWrittenInPlaceTwiceByOneOp) {
  Graph g;
  ValueId p = g.addParam("p", f32({3}));
  ValueId grad = g.addInput("g", f32({3}));
  ValueId step = g.addInput("step", i32({}));
  ValueId lr = g.addInput("learning_rate", f32({}));
  g.append(OpKind::AdamUpdate, {p, grad, lr, p, p, step}, {},
           {{ir::AttrName::Beta1, 0.9},
            {ir::AttrName::Beta2, 0.999},
            {ir::AttrName::Epsilon, 1e-7}},
           {});
  EXPECT_EQ(verifyGraph(g).message(),
            "op #0 'adam_update': operand %p is updated in place, so it may "
            "appear only once among the operands");

  // The param as its own gradient.
  Graph h;
  ValueId q = h.addParam("q", f32({3}));
  ValueId hlr = h.addInput("learning_rate", f32({}));
  h.append(
      OpKind::SgdUpdate, {q, q, hlr}, {},
      {{ir::AttrName::Momentum, 0.0}, {ir::AttrName::Nesterov, int64_t{0}}},
      {});
  EXPECT_FALSE(verifyGraph(h).ok());

  // Distinct values in every written slot are fine.
  Graph ok;
  ValueId w = ok.addParam("w", f32({3}));
  ValueId dw = ok.addInput("dw", f32({3}));
  ValueId v = ok.addState("w.velocity", f32({3}));
  ValueId okLr = ok.addInput("learning_rate", f32({}));
  ok.append(
      OpKind::SgdUpdate, {w, dw, okLr, v}, {},
      {{ir::AttrName::Momentum, 0.9}, {ir::AttrName::Nesterov, int64_t{0}}},
      {});
  EXPECT_TRUE(verifyGraph(ok).ok()) << verifyGraph(ok);
}

// The learning rate is a scalar f32 operand; anything else is an error.
TEST(ShapeRules, UpdatesRequireAScalarLearningRate) {
  Graph g;
  ValueId w = g.addParam("w", f32({3}));
  ValueId dw = g.addInput("dw", f32({3}));
  ValueId lr = g.addInput("lr", f32({1}));
  auto r = g.create(OpKind::SgdUpdate, {w, dw, lr}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("learning rate (operand 2) must be "
                                      "f32[], got f32[1]"),
            std::string_view::npos)
      << r.status();
  ValueId ms = g.addState("w.ms", f32({3}));
  ValueId step = g.addInput("step", i32({}));
  EXPECT_FALSE(g.create(OpKind::RmspropUpdate, {w, dw, step, ms}, {}).ok());
}

// The product of the 'shape' attribute wrapped around (here to exactly the
// input's 8 elements), which was undefined behaviour and let the reshape
// through.
TEST(ShapeRules, ReshapeRejectsShapesWhoseProductOverflows) {
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{4, (int64_t(1) << 62) + 2},
        std::vector<int64_t>{int64_t(1) << 32, int64_t(1) << 32, 8},
        std::vector<int64_t>{-2, -4}}) {
    auto r =
        inferResultTypes(OpKind::Reshape, {f32({8})},
                         {{ir::AttrName::Shape, std::vector<int64_t>(shape)}});
    ASSERT_FALSE(r.ok()) << shapeStr(shape);
    EXPECT_NE(r.status().message().find("cannot reshape f32[8]"),
              std::string::npos)
        << r.status();
  }
  auto r =
      inferResultTypes(OpKind::Reshape, {f32({8})},
                       {{ir::AttrName::Shape, std::vector<int64_t>{2, 4}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0], f32({2, 4}));
}

// An unnamed value is named by its number; a value that already has that
// name (as a parsed %1 may) makes it pick another.
TEST(Graph, UnnamedValuesGetAFreeName) {
  Graph g;
  ValueId x = g.addInput("1", f32({2}));
  ValueId y = g.create1(OpKind::Activation, {x},
                        {{ir::AttrName::Kind, std::string("relu")}})
                  .value();
  EXPECT_EQ(g.value(x).name, "1");
  EXPECT_NE(g.value(y).name, "1");
  EXPECT_EQ(g.findValue(g.value(y).name), y);
  EXPECT_TRUE(verifyGraph(g).ok()) << verifyGraph(g);
  // Without a clash the number is the name.
  ValueId z = g.create1(OpKind::Activation, {y},
                        {{ir::AttrName::Kind, std::string("relu")}})
                  .value();
  EXPECT_EQ(g.value(z).name, "2");
}

} // namespace
} // namespace cnnc::ir
