#include "IrTestUtil.h"

#include "ir/Verifier.h"
#include "passes/DeadCode.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace cnnc::ir {
namespace {

using testing::expectRoundTrip;

constexpr const char *kSmall = R"(graph @small {
  %x = input : f32[2,4]
  %step = input : i32[]
  %learning_rate = input {initial = 0.001} : f32[]
  %w = param {fan_in = 4, fan_out = 3, init = "glorot_uniform"} : f32[4,3]
  %labels = input : i32[2]
  %w.m = state : f32[4,3]
  %w.v = state : f32[4,3]
  %h = matmul(%x, %w) : f32[2,3] loc("small.dsl":3:5)
  %loss, %probs = softmax_cross_entropy(%h, %labels) : f32[], f32[2,3]
  %h.grad = softmax_cross_entropy_grad(%probs, %labels) : f32[2,3]
  %w.grad = matmul(%x, %h.grad) {transpose_a = 1, transpose_b = 0} : f32[4,3]
  adam_update(%w, %w.grad, %learning_rate, %w.m, %w.v, %step) {beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-07}
  return loss = %loss, probs = %probs
}
)";

Graph parseOk(std::string_view text) {
  absl::StatusOr<Graph> g = parseGraph(text, "t.cnnir");
  EXPECT_TRUE(g.ok()) << g.status() << "\n" << text;
  return g.ok() ? *std::move(g) : Graph();
}

TEST(Parser, ReadsEveryPart) {
  Graph g = parseOk(kSmall);
  EXPECT_EQ(g.name(), "small");
  ASSERT_EQ(g.values().size(), 12u);
  const Value &w = g.value(g.findValue("w"));
  EXPECT_EQ(w.kind, ValueKind::Param);
  EXPECT_EQ(w.type, f32({4, 3}));
  EXPECT_EQ(w.attrs.getInt(ir::AttrName::FanIn), 4);
  EXPECT_EQ(w.attrs.getString(ir::AttrName::Init), "glorot_uniform");
  EXPECT_EQ(g.value(g.findValue("step")).type, i32({}));
  EXPECT_EQ(g.value(g.findValue("w.m")).kind, ValueKind::State);

  ASSERT_EQ(g.ops().size(), 5u);
  const Op &mm = g.ops()[0];
  EXPECT_EQ(mm.kind, OpKind::MatMul);
  EXPECT_EQ(mm.loc.file, "small.dsl");
  EXPECT_EQ(mm.loc.line, 3);
  EXPECT_EQ(mm.loc.col, 5);
  EXPECT_FALSE(g.ops()[1].loc.known());
  ASSERT_EQ(g.ops()[1].results.size(), 2u);
  EXPECT_EQ(g.type(g.ops()[1].results[0]), f32({}));
  EXPECT_EQ(g.value(g.ops()[1].results[1]).name, "probs");
  EXPECT_EQ(g.value(g.ops()[1].results[1]).definingOp, 1);
  const Op &adam = g.ops()[4];
  EXPECT_TRUE(adam.results.empty());
  ASSERT_EQ(adam.operands.size(), 6u);
  EXPECT_EQ(adam.operands[5], g.findValue("step"));
  EXPECT_EQ(g.value(adam.operands[2]).attrs.getFloat(ir::AttrName::Initial),
            0.001);
  // Floats stay floats, integers integers.
  EXPECT_TRUE(
      std::holds_alternative<double>(adam.attrs.all().at(AttrName::Beta1)));
  EXPECT_TRUE(std::holds_alternative<int64_t>(
      g.ops()[3].attrs.all().at(AttrName::TransposeA)));
  EXPECT_EQ(g.output("loss"), g.findValue("loss"));
  EXPECT_EQ(g.output("probs"), g.findValue("probs"));
  EXPECT_TRUE(verifyGraph(g).ok());
  EXPECT_EQ(printGraph(g), kSmall);
}

TEST(Parser, LayoutAndCommentsDoNotMatter) {
  std::string oneLine;
  for (char c : std::string(kSmall))
    oneLine += c == '\n' ? ' ' : c;
  EXPECT_EQ(printGraph(parseOk(oneLine)), kSmall);

  std::string commented = "// leading comment\n";
  for (char c : std::string(kSmall))
    commented += c == '\n' ? std::string("  // note, with %x and \"\n\t")
                           : std::string(1, c);
  EXPECT_EQ(printGraph(parseOk(commented)), kSmall);
}

TEST(Parser, DeclarationsMayFollowOps) {
  Graph g = parseOk(R"(graph @g {
  %x = input : f32[2,3]
  %y = activation(%x) {kind = "relu"} : f32[2,3]
  %b = param : f32[3]
  %z = bias_add(%y, %b) : f32[2,3]
  return z = %z
})");
  // The printer puts declarations first.
  EXPECT_EQ(printGraph(g), R"(graph @g {
  %x = input : f32[2,3]
  %b = param : f32[3]
  %y = activation(%x) {kind = "relu"} : f32[2,3]
  %z = bias_add(%y, %b) : f32[2,3]
  return z = %z
}
)");
}

TEST(Parser, EmptyGraphsAndNoOutputs) {
  Graph e = parseOk("graph @e {}");
  EXPECT_TRUE(e.values().empty());
  EXPECT_EQ(printGraph(e), "graph @e {\n}\n");
  Graph r = parseOk("graph @e {\n  return\n}\n");
  EXPECT_TRUE(r.outputs().empty());
  expectRoundTrip(parseOk("graph @n { %x = input : f32[1] }"));
}

TEST(Parser, AttributeValuesRoundTripExactly) {
  // Any declared attribute holds any value here: only the verifier checks
  // types (VerifierTest).
  using N = AttrName;
  Graph g("attrs");
  Attrs a;
  a.set(N::Seed, std::numeric_limits<int64_t>::max());
  a.set(N::Salt, std::numeric_limits<int64_t>::min());
  a.set(N::Alpha, 5e-324);
  a.set(N::Beta1, 1.7976931348623157e308);
  a.set(N::Beta2, 1.0 / 3.0);
  a.set(N::Epsilon, 1.0);
  a.set(N::FillValue, -0.0);
  a.set(N::HeightLower, std::numeric_limits<double>::infinity());
  a.set(N::HeightUpper, -std::numeric_limits<double>::infinity());
  a.set(N::Initial, std::nan(""));
  a.set(N::KernelSize, std::vector<int64_t>{});
  a.set(N::Padding, std::vector<int64_t>{-1, 0, 7});
  a.set(N::Init, std::string("q\"b\\s\nt\tc\x01\x7f \xc3\xa9"));
  a.set(N::Kind, std::string());
  g.addParam("p", f32({1}), a);
  std::string text = printGraph(g);
  EXPECT_NE(text.find(R"(init = "q\"b\\s\0At\09c\01\7F é")"), std::string::npos)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  Graph back = parseOk(text);
  EXPECT_EQ(printGraph(back), text);
  const Attrs &b = back.value(0).attrs;
  for (N name : {N::Seed, N::Salt, N::Alpha, N::Beta1, N::Beta2, N::Epsilon,
                 N::FillValue, N::HeightLower, N::HeightUpper, N::KernelSize,
                 N::Padding, N::Init, N::Kind})
    EXPECT_EQ(b.all().at(name), a.all().at(name)) << attrName(name);
  EXPECT_TRUE(std::signbit(b.getFloat(N::FillValue)));
  EXPECT_TRUE(std::isnan(b.getFloat(N::Initial)));
  // Bare inf and nan, and \n \t escapes, are accepted as well.
  Graph c = parseOk(
      R"(graph @c { %p = param {alpha = inf, beta_1 = nan, init = "x\ny\tz"} : f32[1] })");
  EXPECT_TRUE(std::isinf(c.value(0).attrs.getFloat(N::Alpha)));
  EXPECT_EQ(c.value(0).attrs.getString(N::Init), "x\ny\tz");
}

TEST(Parser, UndeclaredAttributesAreErrors) {
  absl::StatusOr<Graph> g = parseGraph(
      "graph @c {\n  %p = param {alpha = 1.0, colour = 2} : f32[1]\n}\n",
      "u.cnnir");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(),
            "u.cnnir:2:28: error: unknown attribute 'colour'");
}

TEST(Parser, UnusualNamesAreQuoted) {
  Graph g("my graph");
  ValueId x = g.addInput("x y", f32({2, 3}));
  Attrs attrs;
  attrs.set(ir::AttrName::Kind, std::string("relu"));
  ValueId y = *g.create1(OpKind::Activation, {x}, attrs, {}, "\"quoted\"");
  ValueId z =
      *g.create1(OpKind::Activation, {y}, {{ir::AttrName::Kind, "tanh"}});
  g.addOutput("out put", y);
  g.addOutput("z", z);
  std::string text = printGraph(g);
  EXPECT_NE(text.find(R"(graph @"my graph" {)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(%"\"quoted\"" = activation(%"x y"))"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"({kind = "relu"})"), std::string::npos) << text;
  // A value created without a name is named by its number.
  EXPECT_NE(text.find("%2 = activation(%\"\\\"quoted\\\"\")"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(return "out put" = %"\"quoted\"", z = %2)"),
            std::string::npos)
      << text;
  expectRoundTrip(g);
  // Names with dots, dashes, digits and dollars need no quotes.
  Graph plain = parseOk("graph @a.b-c { %1.x$-y = input : f32[1] }");
  EXPECT_EQ(plain.name(), "a.b-c");
  EXPECT_EQ(plain.value(0).name, "1.x$-y");
  expectRoundTrip(plain);
}

TEST(Parser, DeadValuesAreNotPrinted) {
  Graph g = parseOk(R"(graph @d {
  %x = input : f32[2,3]
  %dead = activation(%x) {kind = "tanh"} : f32[2,3]
  %y = activation(%x) {kind = "relu"} : f32[2,3]
  return y = %y
})");
  passes::eliminateDeadCode(g);
  ASSERT_EQ(g.ops().size(), 1u);
  EXPECT_EQ(g.values().size(), 3u); // dce keeps the value table
  std::string text = printGraph(g);
  EXPECT_EQ(text.find("%dead"), std::string::npos);
  expectRoundTrip(g);
}

TEST(Parser, VerificationIsOptional) {
  std::string text = R"(graph @v {
  %x = input : f32[2,3]
  %y = activation(%x) {kind = "relu"} : f32[9]
})";
  EXPECT_FALSE(parseGraph(text, "v.cnnir").ok());
  ParseOptions options;
  options.verify = false;
  absl::StatusOr<Graph> g = parseGraph(text, "v.cnnir", options);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(verifyGraph(*g).ok());
  // Printing does not need a valid graph either, and reads back the same.
  EXPECT_EQ(printGraph(*parseGraph(printGraph(*g), "v.cnnir", options)),
            printGraph(*g));
}

TEST(Parser, FirstLineOffsetsPositions) {
  ParseOptions options;
  options.firstLine = 40;
  absl::StatusOr<Graph> g =
      parseGraph("graph @g {\n  %x = input : f32[0]\n}", "big.cnnir", options);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(),
            "big.cnnir:41:20: error: dimension 0 is not positive");
}

} // namespace
} // namespace cnnc::ir
