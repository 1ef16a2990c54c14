#include "passes/Pipeline.h"

#include "passes/TestModels.h"

#include <gtest/gtest.h>

#include <set>

namespace cnnc::passes {
namespace {

using ir::OpKind;
using testing::countOps;

TEST(Pipeline, RegistryHasUniqueDescribedPasses) {
  std::set<std::string> names;
  for (const PassInfo &p : allPasses()) {
    EXPECT_TRUE(names.insert(p.name).second) << p.name;
    EXPECT_FALSE(p.description.empty()) << p.name;
    EXPECT_TRUE(p.run) << p.name;
  }
  for (const char *n :
       {"dce", "train", "eval", "predict", "verify", "check-memory-plan"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(findPass("nope"), nullptr);
  ASSERT_NE(findPass("dce"), nullptr);
  EXPECT_EQ(findPass("dce")->name, "dce");
}

TEST(Pipeline, RunsPassesInOrder) {
  ir::Graph g = testing::tutorialModel(2);
  absl::Status s =
      runPasses(g, {"train", "dce", "verify", "check-memory-plan"}, true);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(g.name(), "mnist_train");
  EXPECT_EQ(countOps(g, OpKind::AdamUpdate), 8);

  ir::Graph e = testing::tutorialModel(2);
  ASSERT_TRUE(runPasses(e, {"eval"}, true).ok());
  EXPECT_EQ(e.name(), "mnist_eval");
  ir::Graph p = testing::tutorialModel(2);
  ASSERT_TRUE(runPasses(p, {"predict"}, false).ok());
  EXPECT_EQ(countOps(p, OpKind::Dropout), 0);
}

TEST(Pipeline, DceRemovesDeadOps) {
  ir::Graph g = testing::dropoutModel(2);
  size_t before = g.ops().size();
  ASSERT_TRUE(
      g.create1(OpKind::Add, {g.findValue("x"), g.findValue("x")}).ok());
  ASSERT_TRUE(runPasses(g, {"dce"}, true).ok());
  EXPECT_EQ(g.ops().size(), before);
}

TEST(Pipeline, UnknownPassFailsBeforeAnythingRuns) {
  ir::Graph g = testing::dropoutModel(2);
  absl::Status s = runPasses(g, {"train", "frobnicate"}, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("frobnicate"), absl::string_view::npos);
  EXPECT_EQ(g.name(), "dropnet"); // untouched
}

TEST(Pipeline, FailuresNameThePass) {
  ir::Graph g = testing::dropoutModel(2);
  absl::Status s = runPasses(g, {"train", "train"}, false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().substr(0, 14), "pass 'train': ") << s;

  // verifyEach catches a pass that breaks the graph... here, a broken input.
  ir::Graph bad = testing::dropoutModel(2);
  bad.ops()[0].operands[1] = bad.findValue("x");
  s = runPasses(bad, {"dce"}, true);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().substr(0, 18), "after pass 'dce': ") << s;
}

} // namespace
} // namespace cnnc::passes
