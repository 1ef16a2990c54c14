#include "passes/MemoryPlan.h"

#include "passes/Autodiff.h"
#include "passes/EvalGraph.h"
#include "passes/TestModels.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

namespace cnnc::passes {
namespace {

// A plan the test expects to exist.
MemoryPlan mustPlan(const ir::Graph &g, int64_t alignment = 64,
                    bool paramsInArena = true) {
  auto plan = planMemory(g, alignment, paramsInArena);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *std::move(plan) : MemoryPlan{};
}

using ir::OpKind;
using ir::ValueId;
using ir::ValueKind;

// Every graph the passes make from every test model.
std::vector<ir::Graph> allGraphs() {
  ir::TrainingSpec momentum;
  momentum.optimizer.kind = ir::OptimizerKind::SGD;
  momentum.optimizer.momentum = 0.9;
  std::vector<ir::Graph> out;
  for (const ir::Graph &f :
       {testing::tutorialModel(4), testing::samePaddingAvgPoolModel(3),
        testing::sharedValueModel(2), testing::matmulModel(2),
        testing::tinyConvModel(2), testing::dropoutModel(5)}) {
    out.push_back(f);
    out.push_back(buildTrainingGraph(f, {}).value());
    out.push_back(buildTrainingGraph(f, momentum).value());
    out.push_back(buildEvalGraph(f).value());
    out.push_back(buildPredictGraph(f).value());
  }
  return out;
}

int64_t bytes(const ir::Graph &g, ValueId v) { return g.type(v).byteSize(); }

bool overlap(int64_t a, int64_t asize, int64_t b, int64_t bsize) {
  return a < b + bsize && b < a + asize;
}

TEST(MemoryPlan, AllGraphsVerifyAndAreAligned) {
  for (const ir::Graph &g : allGraphs()) {
    SCOPED_TRACE(g.name());
    for (int64_t align : {64, 256}) {
      MemoryPlan plan = mustPlan(g, align);
      ASSERT_TRUE(verifyMemoryPlan(g, plan).ok()) << verifyMemoryPlan(g, plan);
      EXPECT_EQ(plan.arenaBytes % align, 0);
      EXPECT_GE(plan.arenaBytes, plan.persistentBytes);
      for (size_t i = 0; i < g.values().size(); ++i) {
        const ir::Value &v = g.values()[i];
        bool used = v.kind != ValueKind::Temp || v.definingOp >= 0;
        if (!used)
          continue;
        ASSERT_GE(plan.offsets[i], 0) << v.name;
        EXPECT_EQ(plan.offsets[i] % align, 0) << v.name;
        EXPECT_LE(plan.offsets[i] + bytes(g, i), plan.arenaBytes);
        // Persistent values first, temps after them.
        EXPECT_EQ(plan.offsets[i] < plan.persistentBytes,
                  v.kind != ValueKind::Temp)
            << v.name;
      }
    }
  }
}

TEST(MemoryPlan, OpResultsNeverOverlapOperandsOrEachOther) {
  for (const ir::Graph &g : allGraphs()) {
    SCOPED_TRACE(g.name());
    MemoryPlan plan = mustPlan(g);
    for (const ir::Op &op : g.ops()) {
      if (ir::opInfo(op.kind).flags & ir::kAlias)
        continue;
      for (size_t r = 0; r < op.results.size(); ++r) {
        ValueId res = op.results[r];
        for (ValueId o : op.operands)
          EXPECT_FALSE(overlap(plan.offsets[res], bytes(g, res),
                               plan.offsets[o], bytes(g, o)))
              << opName(op.kind) << " %" << g.value(res).name << " vs %"
              << g.value(o).name;
        for (size_t s = r + 1; s < op.results.size(); ++s)
          EXPECT_FALSE(overlap(plan.offsets[res], bytes(g, res),
                               plan.offsets[op.results[s]],
                               bytes(g, op.results[s])));
      }
    }
  }
}

TEST(MemoryPlan, TrainingGraphReusesTempStorage) {
  ir::Graph g = buildTrainingGraph(testing::tutorialModel(32), {}).value();
  MemoryPlan plan = mustPlan(g);
  ASSERT_TRUE(verifyMemoryPlan(g, plan).ok());
  int64_t tempSum = 0, persistentSum = 0;
  for (size_t i = 0; i < g.values().size(); ++i) {
    const ir::Value &v = g.values()[i];
    if (v.kind != ValueKind::Temp)
      persistentSum += bytes(g, i);
    else if (v.definingOp >= 0 && g.ops()[v.definingOp].kind != OpKind::Reshape)
      tempSum += bytes(g, i);
  }
  int64_t tempArena = plan.arenaBytes - plan.persistentBytes;
  EXPECT_GE(plan.persistentBytes, persistentSum);
  EXPECT_LT(plan.persistentBytes, persistentSum + 64 * 64);
  // Reuse: well under the sum of all temps (the backward pass recycles the
  // forward activations it has consumed).
  EXPECT_LT(tempArena, tempSum * 3 / 4) << tempArena << " vs " << tempSum;
  // But at least the largest op's operands and results together.
  EXPECT_GE(tempArena, 3 * 32 * 26 * 26 * 32 * 4);
}

TEST(MemoryPlan, IsDeterministic) {
  ir::Graph g = buildTrainingGraph(testing::tutorialModel(4), {}).value();
  MemoryPlan a = mustPlan(g), b = mustPlan(g);
  EXPECT_EQ(a.arenaBytes, b.arenaBytes);
  EXPECT_EQ(a.offsets, b.offsets);
}

TEST(MemoryPlan, ReshapesAliasTheirOperand) {
  ir::Graph g = buildTrainingGraph(testing::tutorialModel(4), {}).value();
  MemoryPlan plan = mustPlan(g);
  int reshapes = 0;
  for (const ir::Op &op : g.ops())
    if (op.kind == OpKind::Reshape) {
      ++reshapes;
      EXPECT_EQ(plan.offsets[op.results[0]], plan.offsets[op.operands[0]]);
    }
  EXPECT_EQ(reshapes, 2);
}

// x -> a -> b -> c, all the same size: c can take a's place.
TEST(MemoryPlan, ReusesStorageOfDeadTemps) {
  ir::Graph g("chain");
  ValueId x = g.addInput("x", ir::f32({4, 16}));
  ir::Attrs relu{{ir::AttrName::Kind, std::string("relu")}};
  ValueId a = g.create1(OpKind::Activation, {x}, relu, {}, "a").value();
  ValueId b = g.create1(OpKind::Activation, {a}, relu, {}, "b").value();
  ValueId c = g.create1(OpKind::Activation, {b}, relu, {}, "c").value();
  g.addOutput("c", c);
  MemoryPlan plan = mustPlan(g);
  ASSERT_TRUE(verifyMemoryPlan(g, plan).ok());
  EXPECT_EQ(plan.persistentBytes, 256);
  EXPECT_EQ(plan.arenaBytes, 256 + 2 * 256);
  EXPECT_EQ(plan.offsets[a], plan.offsets[c]);
  EXPECT_NE(plan.offsets[a], plan.offsets[b]);

  // An output lives to the end, so nothing may take its place.
  g.addOutput("a", a);
  plan = mustPlan(g);
  ASSERT_TRUE(verifyMemoryPlan(g, plan).ok());
  EXPECT_EQ(plan.arenaBytes, 256 + 3 * 256);
}

// t1's last direct use is the reshape at op 1, but the reshape's result r1
// lives until op 5, so t1's storage must too.
TEST(MemoryPlan, AliasesExtendTheirRootsLifetime) {
  ir::Graph g("alias");
  ValueId x = g.addInput("x", ir::f32({4, 6}));
  ir::Attrs tanh{{ir::AttrName::Kind, std::string("tanh")}};
  ir::Attrs flat{{ir::AttrName::Shape, std::vector<int64_t>{24}}};
  ValueId t1 = g.create1(OpKind::Activation, {x}, tanh, {}, "t1").value();
  ValueId r1 = g.create1(OpKind::Reshape, {t1}, flat, {}, "r1").value();
  ValueId t2 = g.create1(OpKind::Activation, {x}, tanh, {}, "t2").value();
  ValueId t3 = g.create1(OpKind::Activation, {t2}, tanh, {}, "t3").value();
  ValueId r3 = g.create1(OpKind::Reshape, {t3}, flat, {}, "r3").value();
  ValueId s = g.create1(OpKind::Add, {r1, r3}, {}, {}, "s").value();
  g.addOutput("s", s);
  MemoryPlan plan = mustPlan(g, 32);
  ASSERT_TRUE(verifyMemoryPlan(g, plan).ok()) << verifyMemoryPlan(g, plan);
  EXPECT_EQ(plan.offsets[r1], plan.offsets[t1]);
  EXPECT_EQ(plan.offsets[r3], plan.offsets[t3]);
  EXPECT_NE(plan.offsets[t2], plan.offsets[t1]);
  EXPECT_NE(plan.offsets[t3], plan.offsets[t1]);
  EXPECT_NE(plan.offsets[s], plan.offsets[t1]);

  // Putting t2 where t1 is would clobber r1 before op 5 reads it.
  MemoryPlan bad = plan;
  bad.offsets[t2] = plan.offsets[t1];
  absl::Status st = verifyMemoryPlan(g, bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("%t2"), absl::string_view::npos) << st;
}

TEST(MemoryPlan, VerifyCatchesBrokenPlans) {
  ir::Graph g = buildTrainingGraph(testing::dropoutModel(2), {}).value();
  MemoryPlan plan = mustPlan(g);
  ASSERT_TRUE(verifyMemoryPlan(g, plan).ok());
  const ir::Op &op = g.ops()[0]; // matmul(x, dense.kernel)
  ValueId res = op.results[0];

  MemoryPlan bad = plan;
  bad.offsets[res] = plan.offsets[op.operands[0]];
  EXPECT_FALSE(verifyMemoryPlan(g, bad).ok());

  bad = plan;
  bad.offsets[res] = -1;
  EXPECT_FALSE(verifyMemoryPlan(g, bad).ok());

  bad = plan;
  bad.offsets[res] = plan.arenaBytes;
  EXPECT_FALSE(verifyMemoryPlan(g, bad).ok());

  bad = plan;
  bad.offsets.pop_back();
  EXPECT_FALSE(verifyMemoryPlan(g, bad).ok());

  // Two params in one slot: both live for the whole program.
  bad = plan;
  bad.offsets[g.findValue("out.bias")] =
      plan.offsets[g.findValue("out.kernel")];
  EXPECT_FALSE(verifyMemoryPlan(g, bad).ok());

  // A reshape that does not share its operand's storage.
  ir::Graph t = buildTrainingGraph(testing::tinyConvModel(2), {}).value();
  MemoryPlan tp = mustPlan(t);
  int reshapes = 0;
  for (const ir::Op &o : t.ops())
    if (o.kind == OpKind::Reshape) {
      ++reshapes;
      MemoryPlan moved = tp;
      moved.offsets[o.results[0]] += 64;
      absl::Status s = verifyMemoryPlan(t, moved);
      EXPECT_FALSE(s.ok());
      EXPECT_NE(s.message().find("storage"), absl::string_view::npos) << s;
    }
  EXPECT_EQ(reshapes, 2);
}

TEST(MemoryPlan, ParamsAndStateCanLiveOutsideTheArena) {
  ir::Graph g = buildTrainingGraph(testing::tutorialModel(4), {}).value();
  MemoryPlan inside = mustPlan(g);
  MemoryPlan outside = mustPlan(g, 64, /*paramsInArena=*/false);
  ASSERT_TRUE(verifyMemoryPlan(g, outside).ok())
      << verifyMemoryPlan(g, outside);
  int64_t persistent = 0;
  for (size_t i = 0; i < g.values().size(); ++i) {
    ValueKind k = g.values()[i].kind;
    if (k == ValueKind::Param || k == ValueKind::State) {
      EXPECT_EQ(outside.offsets[i], -1);
      persistent += (bytes(g, i) + 63) / 64 * 64;
    } else if (k == ValueKind::Input) {
      EXPECT_GE(outside.offsets[i], 0);
    }
  }
  EXPECT_EQ(outside.arenaBytes, inside.arenaBytes - persistent);
}

// Sizes are summed in int64: 2^13 inputs of 2^50 bytes each would reach
// 2^63. The plan stops at 2^50 bytes and names the value that crosses it.
TEST(MemoryPlan, RejectsArenasBeyond2To50Bytes) {
  const ir::TensorType huge = ir::f32({int64_t(1) << 48}); // 2^50 bytes
  ir::Graph g;
  for (int i = 0; i < (1 << 13); ++i)
    g.addInput(fmt::format("x{}", i), huge);
  auto plan = planMemory(g);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(
      plan.status().message(),
      "the arena would exceed 2^50 bytes with %x1 (f32[281474976710656])");

  // Temps: the input fills 2^50 bytes, a temp would go above.
  ir::Graph t;
  ValueId x = t.addParam("x", huge);
  ValueId y = t.create1(OpKind::Activation, {x},
                        {{ir::AttrName::Kind, std::string("relu")}}, {}, "y")
                  .value();
  t.addOutput("y", y);
  plan = planMemory(t);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("%y"), std::string::npos)
      << plan.status();
  // Nor in a slot of its own.
  plan = planMemory(t, 64, true, kMaxArenaBytes);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("%y"), std::string::npos)
      << plan.status();
  // With the param outside the arena the temp alone fits.
  plan = planMemory(t, 64, /*paramsInArena=*/false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->arenaBytes, int64_t(1) << 50);
  EXPECT_TRUE(verifyMemoryPlan(t, *plan).ok());
}

// Under privateTempBytes every temp (an alias with its root) has bytes no
// other temp uses, and the plan still verifies; one byte less and temps
// share again, in a smaller arena.
TEST(MemoryPlan, PrivateSlotsUnderTheLimit) {
  for (const ir::Graph &g : allGraphs()) {
    MemoryPlan shared = mustPlan(g);
    ASSERT_TRUE(shared.tempsShared);
    int64_t temps = shared.arenaBytes - shared.persistentBytes;
    // The sum of every temp's slot: an upper bound the private plan meets.
    auto own = planMemory(g, 64, true, int64_t(1) << 40);
    ASSERT_TRUE(own.ok()) << own.status();
    EXPECT_FALSE(own->tempsShared) << g.name();
    EXPECT_TRUE(verifyMemoryPlan(g, *own).ok()) << g.name();
    int64_t ownTemps = own->arenaBytes - own->persistentBytes;
    EXPECT_GE(ownTemps, temps) << g.name();
    std::map<int64_t, ir::ValueId> rootAt;
    for (size_t v = 0; v < g.values().size(); ++v) {
      const ir::Value &value = g.values()[v];
      if (value.kind != ValueKind::Temp || own->offsets[v] < 0 ||
          (value.definingOp >= 0 &&
           g.ops()[value.definingOp].kind == OpKind::Reshape))
        continue;
      auto [it, fresh] = rootAt.emplace(own->offsets[v], ValueId(v));
      EXPECT_TRUE(fresh) << g.name() << ": %" << value.name << " and %"
                         << g.values()[it->second].name << " share offset "
                         << own->offsets[v];
    }
    auto exact = planMemory(g, 64, true, ownTemps);
    ASSERT_TRUE(exact.ok());
    EXPECT_FALSE(exact->tempsShared) << g.name();
    auto under = planMemory(g, 64, true, ownTemps - 1);
    ASSERT_TRUE(under.ok());
    EXPECT_TRUE(under->tempsShared) << g.name();
    EXPECT_EQ(under->offsets, shared.offsets) << g.name();
  }
}

} // namespace
} // namespace cnnc::passes
