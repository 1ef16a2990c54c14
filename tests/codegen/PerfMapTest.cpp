// CNNC_PERF_MAP: every kernel of a compiled graph gets a line in perf's map
// of JIT code, at its address, with its size and name; nothing is written
// when the variable is unset.
#include "codegen/PerfMap.h"
#include "codegen/Compiler.h"
#include "ir/Graph.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace cnnc::testing {
namespace {

// y = relu(x W + b): two kernels (the fusion pass does not run here).
ir::Graph smallGraph(int64_t out) {
  ir::Graph g("perfmap");
  ir::ValueId x = g.addInput("x", ir::f32({4, 9}));
  ir::ValueId w = g.addParam("w", ir::f32({9, out}));
  ir::ValueId b = g.addParam("b", ir::f32({out}));
  ir::ValueId y = *g.create1(ir::OpKind::MatMul, {x, w});
  ir::ValueId z = *g.create1(ir::OpKind::BiasAdd, {y, b});
  g.addOutput("z", z);
  return g;
}

struct Entry {
  uint64_t size;
  std::string name;
};

// The map's lines by start address.
std::map<uint64_t, Entry> readMap() {
  std::map<uint64_t, Entry> out;
  std::ifstream in(codegen::perfMapPath());
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    uint64_t start = 0;
    Entry e;
    s >> std::hex >> start >> e.size >> e.name;
    out[start] = e;
  }
  return out;
}

codegen::CompileOptions uncached() {
  codegen::CompileOptions o;
  o.useCache = false;
  return o;
}

TEST(PerfMap, NamesEveryKernelAtItsAddress) {
  std::remove(codegen::perfMapPath().c_str());
  ::setenv("CNNC_PERF_MAP", "1", 1);
  ir::Graph g = smallGraph(13);
  auto compiled = codegen::compileGraph(g, uncached());
  ::unsetenv("CNNC_PERF_MAP");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::map<uint64_t, Entry> map = readMap();
  ASSERT_EQ(map.size(), g.ops().size());
  for (size_t i = 0; i < g.ops().size(); ++i) {
    auto start = reinterpret_cast<uint64_t>((*compiled)->kernel(i));
    auto it = map.find(start);
    ASSERT_NE(it, map.end()) << codegen::kernelName(g, i);
    EXPECT_EQ(it->second.name, "perfmap:" + codegen::kernelName(g, i));
    // A function of some instructions, not the whole object or nothing.
    EXPECT_GT(it->second.size, 16u);
    EXPECT_LT(it->second.size, 1u << 20);
  }
  std::remove(codegen::perfMapPath().c_str());
}

TEST(PerfMap, WritesNothingWhenUnset) {
  std::remove(codegen::perfMapPath().c_str());
  ::unsetenv("CNNC_PERF_MAP");
  auto compiled = codegen::compileGraph(smallGraph(7), uncached());
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_TRUE(readMap().empty());
}

TEST(PerfMap, FunctionSizesOfANonObjectIsEmpty) {
  EXPECT_TRUE(codegen::functionSizes("not an object file").empty());
  EXPECT_TRUE(codegen::functionSizes("").empty());
  EXPECT_TRUE(codegen::functionSizes("\x7f"
                                     "ELF\x02\x01\x01")
                  .empty());
}

} // namespace
} // namespace cnnc::testing
