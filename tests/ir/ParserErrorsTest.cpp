// Malformed and invalid IR: one exact "file:line:col: error: message" each,
// pointing at the offending token (syntax, names) or op (verifier).
#include "ir/Parser.h"

#include <gtest/gtest.h>

namespace cnnc::ir {
namespace {

struct Case {
  const char *what;
  std::string text;
  std::string message;
};

// Every case starts with these two lines, so the interesting line is 3.
const std::string kHead = "graph @g {\n  %x = input : f32[2,3]\n";
const std::string kImage = "graph @g {\n  %x = input : f32[1,4,4,3]\n";

std::vector<Case> cases() {
  return {
      // Syntax.
      {"empty input", "", "1:1: error: expected 'graph', got end of input"},
      {"not a graph", "grph @g {}", "1:1: error: expected 'graph', got 'grph'"},
      {"graph without @", "graph g {}",
       "1:7: error: expected a graph name '@name', got 'g'"},
      {"missing '{'", "graph @g\n  %x = input : f32[1]\n}",
       "2:3: error: expected '{' to open the graph body, got '%x'"},
      {"missing '}'", kHead,
       "3:1: error: expected a value definition, an op or 'return', got end "
       "of input"},
      {"text after the graph", kHead + "}\n}\n",
       "4:1: error: expected end of input after the graph, got '}'"},
      {"statement after return",
       kHead + "  return\n  %y = softmax(%x) : f32[2,3]\n}",
       "4:3: error: expected an output 'name = %value' or '}', got '%y'"},
      {"bad character", "graph @g {\n  %x = input ; f32[2]\n}",
       "2:14: error: unexpected character ';'"},
      {"control byte", "graph @g {\x01}",
       "1:11: error: unexpected character byte 0x01"},
      {"malformed number", "graph @g {\n  %x = param {a = 12abc} : f32[2]\n}",
       "2:19: error: malformed number '12a'"},
      {"lone minus", "graph @g {\n  %x = param {a = -x} : f32[2]\n}",
       "2:19: error: expected a number after '-'"},
      {"integer out of range",
       "graph @g {\n  %x = param {a = 99999999999999999999} : f32[2]\n}",
       "2:19: error: integer 99999999999999999999 is out of range"},
      {"float out of range", "graph @g {\n  %x = param {a = 1e999} : f32[2]\n}",
       "2:19: error: float 1e999 is out of range"},
      {"unterminated string",
       "graph @g {\n  %x = param {a = \"abc} : f32[2]\n}",
       "2:19: error: unterminated string"},
      {"bad escape", "graph @g {\n  %x = param {a = \"a\\qb\"} : f32[2]\n}",
       "2:21: error: invalid escape in string"},
      {"empty value name", "graph @g {\n  %\"\" = input : f32[2]\n}",
       "2:3: error: empty name after '%'"},
      {"missing name after %", "graph @g {\n  % = input : f32[2]\n}",
       "2:3: error: expected a name after '%'"},
      // Types.
      {"unknown element type", "graph @g {\n  %x = input : f16[2]\n}",
       "2:16: error: expected a type ('f32[...]', 'i32[...]', 'bf16[...]' or "
       "'f64[...]'), got 'f16'"},
      {"zero dimension", "graph @g {\n  %x = input : f32[2,0]\n}",
       "2:22: error: dimension 0 is not positive"},
      {"negative dimension", "graph @g {\n  %x = input : f32[-2]\n}",
       "2:20: error: dimension -2 is not positive"},
      {"huge type",
       "graph @g {\n  %x = input : f32[100000000,100000000,100]\n}",
       "2:30: error: tensor type has too many elements"},
      {"missing ']'", "graph @g {\n  %x = input : f32[2\n}",
       "3:1: error: expected ',' between dimensions, got '}'"},
      // Declarations and attributes.
      {"declared temp", "graph @g {\n  %x = temp : f32[2]\n}",
       "2:8: error: a temp is defined by an op, not declared"},
      {"two names declared", "graph @g {\n  %x, %y = input : f32[2]\n}",
       "2:12: error: 'input' declares exactly one value, got 2 names"},
      {"declaration without type", "graph @g {\n  %x = input\n}",
       "3:1: error: expected ':' before the value's type, got '}'"},
      {"unknown attribute", "graph @g {\n  %x = param {a = 1} : f32[2]\n}",
       "2:15: error: unknown attribute 'a'"},
      {"duplicate attribute",
       "graph @g {\n  %x = param {seed = 1, seed = 2} : f32[2]\n}",
       "2:25: error: attribute 'seed' is given twice"},
      {"float in an integer list",
       "graph @g {\n  %x = param {a = [1, 2.5]} : f32[2]\n}",
       "2:23: error: expected an integer list element, got '2.5'"},
      {"attribute without value", "graph @g {\n  %x = param {a} : f32[2]\n}",
       "2:16: error: expected '=' after the attribute name, got '}'"},
      // Ops.
      {"unknown op", kHead + "  %y = relu(%x) : f32[2,3]\n}",
       "3:8: error: unknown op 'relu'"},
      {"missing result types", kHead + "  %y = softmax(%x)\n}",
       "4:1: error: expected ':' and the result types, got '}'"},
      {"more names than types",
       kHead + "  %l, %p = softmax_cross_entropy(%x, %x) : f32[]\n}",
       "3:42: error: 2 result names but 1 result type"},
      {"types without results", kHead + "  softmax(%x) : f32[2,3]\n}",
       "3:15: error: 0 result names but 1 result type"},
      {"operand that is not a value", kHead + "  %y = softmax(x) : f32[2,3]\n}",
       "3:16: error: expected an operand '%name', got 'x'"},
      {"malformed location",
       kHead + "  %y = softmax(%x) : f32[2,3] loc(\"f\":1)\n}",
       "3:40: error: expected ':' in the location, got ')'"},
      {"location line 0",
       kHead + "  %y = softmax(%x) : f32[2,3] loc(\"f\":0:3)\n}",
       "3:39: error: line or column number out of range (1 to 2147483647)"},
      {"location column 0",
       kHead + "  %y = softmax(%x) : f32[2,3] loc(\"f\":2:0)\n}",
       "3:41: error: line or column number out of range (1 to 2147483647)"},
      // Names.
      {"undefined value",
       kHead + "  %y = activation(%z) {kind = \"relu\"} : f32[2,3]\n}",
       "3:19: error: use of undefined value %z"},
      {"use before definition",
       kHead + "  %y = activation(%z) {kind = \"relu\"} : f32[2,3]\n" +
           "  %z = activation(%x) {kind = \"relu\"} : f32[2,3]\n}",
       "3:19: error: value %z is used before it is defined (at 4:3)"},
      {"duplicate name",
       kHead + "  %x = activation(%x) {kind = \"relu\"} : f32[2,3]\n}",
       "3:3: error: value %x is defined twice (first at 2:3)"},
      {"duplicate result name",
       kHead + "  %l, %l = softmax_cross_entropy(%x, %x) : f32[], f32[2,3]\n}",
       "3:7: error: value %l is defined twice (first at 3:3)"},
      {"undefined output", kHead + "  return y = %y\n}",
       "3:14: error: use of undefined value %y"},
      {"output returned twice", kHead + "  return y = %x, y = %x\n}",
       "3:18: error: output 'y' is returned twice (first at 3:10)"},
      // Verifier, at the op's line.
      {"wrong result type", kHead + "  %y = softmax(%x) : f32[3,2]\n}",
       "3:3: error: op #0 'softmax': result %y has type f32[3,2] but the op "
       "produces f32[2,3]"},
      {"wrong operand count", kHead + "  %y = softmax(%x, %x) : f32[2,3]\n}",
       "3:3: error: op #0 'softmax': softmax: expects 1 operands, got 2"},
      {"wrong result count",
       kHead + "  %l = input : i32[2]\n" +
           "  %y = softmax_cross_entropy(%x, %l) : f32[]\n}",
       "4:3: error: op #0 'softmax_cross_entropy': expects 2 results, has 1"},
      {"bad attribute",
       kImage + "  %y = max_pool2d(%x) {padding = [0, 0, 0, 0], pool_size = "
                "[2, 2], strides = [0, 1]} : f32[1,2,2,3]\n}",
       "3:3: error: op #0 'max_pool2d': max_pool2d: attribute 'strides' must "
       "be two positive integers"},
      {"attribute of the wrong type",
       kHead + "  %y = activation(%x) {kind = 1} : f32[2,3]\n}",
       "3:3: error: op #0 'activation': attribute 'kind' must be a string"},
      {"in-place update of a temp",
       kHead + "  %g = input : f32[2,3]\n" +
           "  %y = activation(%x) {kind = \"relu\"} : f32[2,3]\n" +
           "  %lr = input : f32[]\n" +
           "  sgd_update(%y, %g, %lr) {momentum = 0.0}\n}",
       "6:3: error: op #1 'sgd_update': operand %y is updated in place, so it "
       "must be a param or state"},
      {"verifier error after a valid op",
       kHead + "  %y = activation(%x) {kind = \"relu\"} : f32[2,3]\n" +
           "  %z = bias_add(%y, %x) : f32[2,3] loc(\"m.dsl\":7:1)\n}",
       "4:3: error: m.dsl:7:1: op #1 'bias_add': bias_add: bias must have "
       "rank 1, got f32[2,3]"},
  };
}

TEST(ParserErrors, ExactMessages) {
  for (const Case &c : cases()) {
    absl::StatusOr<Graph> g = parseGraph(c.text, "bad.cnnir");
    ASSERT_FALSE(g.ok()) << c.what;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_EQ(std::string(g.status().message()), "bad.cnnir:" + c.message)
        << c.what;
  }
}

// The cases differ from valid IR only where the error is: fixing that spot
// makes them parse (spot checks that the messages are not incidental).
TEST(ParserErrors, FixedCasesParse) {
  EXPECT_TRUE(
      parseGraph(kHead + "  %y = softmax(%x) : f32[2,3]\n}", "ok.cnnir").ok());
  EXPECT_TRUE(parseGraph(kHead + "  %y = activation(%x) {kind = \"relu\"} : "
                                 "f32[2,3]\n  return y = %y\n}",
                         "ok.cnnir")
                  .ok());
  EXPECT_TRUE(parseGraph(kImage + "  %y = max_pool2d(%x) {padding = [0, 0, 0, "
                                  "0], pool_size = [2, 2], strides = [2, "
                                  "2]} : f32[1,2,2,3]\n}",
                         "ok.cnnir")
                  .ok());
}

} // namespace
} // namespace cnnc::ir
