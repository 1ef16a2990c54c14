// Helpers shared by the IR text tests.
#pragma once

#include "ir/Graph.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <string>

namespace cnnc::ir::testing {

// Checks that `a` and `b` hold the same program: graph name, declared
// values (name, kind, type, attributes, in order), ops (kind, operands and
// results by name, result types, attributes with their types, location) and
// outputs. Value ids may differ (dead temps are not printed).
inline void expectSameGraph(const Graph &a, const Graph &b) {
  EXPECT_EQ(a.name(), b.name());
  auto declared = [](const Graph &g) {
    std::vector<const Value *> out;
    for (const Value &v : g.values())
      if (v.kind != ValueKind::Temp)
        out.push_back(&v);
    return out;
  };
  std::vector<const Value *> da = declared(a), db = declared(b);
  ASSERT_EQ(da.size(), db.size());
  for (size_t i = 0; i < da.size(); ++i) {
    EXPECT_EQ(da[i]->name, db[i]->name);
    EXPECT_EQ(da[i]->kind, db[i]->kind) << da[i]->name;
    EXPECT_EQ(da[i]->type, db[i]->type) << da[i]->name;
    EXPECT_EQ(da[i]->attrs, db[i]->attrs) << da[i]->name;
  }
  ASSERT_EQ(a.ops().size(), b.ops().size());
  for (size_t i = 0; i < a.ops().size(); ++i) {
    const Op &x = a.ops()[i], &y = b.ops()[i];
    EXPECT_EQ(x.kind, y.kind) << "op " << i;
    EXPECT_EQ(x.attrs, y.attrs) << "op " << i;
    EXPECT_EQ(x.loc.file, y.loc.file) << "op " << i;
    EXPECT_EQ(x.loc.line, y.loc.line) << "op " << i;
    EXPECT_EQ(x.loc.col, y.loc.col) << "op " << i;
    ASSERT_EQ(x.operands.size(), y.operands.size()) << "op " << i;
    for (size_t k = 0; k < x.operands.size(); ++k)
      EXPECT_EQ(a.value(x.operands[k]).name, b.value(y.operands[k]).name);
    ASSERT_EQ(x.results.size(), y.results.size()) << "op " << i;
    for (size_t k = 0; k < x.results.size(); ++k) {
      EXPECT_EQ(a.value(x.results[k]).name, b.value(y.results[k]).name);
      EXPECT_EQ(a.type(x.results[k]), b.type(y.results[k]));
    }
  }
  ASSERT_EQ(a.outputs().size(), b.outputs().size());
  for (size_t i = 0; i < a.outputs().size(); ++i) {
    EXPECT_EQ(a.outputs()[i].name, b.outputs()[i].name);
    EXPECT_EQ(a.value(a.outputs()[i].value).name,
              b.value(b.outputs()[i].value).name);
  }
}

// print -> parse -> print gives the same text and the same program.
inline void expectRoundTrip(const Graph &g) {
  std::string text = printGraph(g);
  absl::StatusOr<Graph> parsed = parseGraph(text, "roundtrip.cnnir");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(printGraph(*parsed), text);
  expectSameGraph(g, *parsed);
}

} // namespace cnnc::ir::testing
