#include "passes/Pipeline.h"
#include "passes/Pipelines.h"

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

// One instrumentation interface: before and after each pass, and after the
// pass that failed (with its error), in order.
TEST(Pipeline, InstrumentationSeesEveryPassAndTheFailure) {
  ir::Graph g = testing::dropoutModel(2);
  auto pipeline = parsePassPipeline("train,dce,train");
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  std::vector<std::string> events;
  PassInstrumentation in;
  in.beforePass = [&](const PassInvocation &inv, const ir::Graph &) {
    events.push_back("before " + inv.pass->name);
  };
  in.afterPass = [&](const PassInvocation &inv, const ir::Graph &) {
    events.push_back("after " + inv.pass->name);
  };
  in.afterPassFailed = [&](const PassInvocation &inv, const ir::Graph &,
                           const absl::Status &s) {
    events.push_back("failed " + inv.pass->name + ": " +
                     std::string(s.message().substr(0, 14)));
  };
  PassContext context;
  absl::Status s = runPipeline(g, *pipeline, in, context);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(events,
            (std::vector<std::string>{"before train", "after train",
                                      "before dce", "after dce", "before train",
                                      "failed train: pass 'train': "}));
}

// The compile pipelines are pass lists; their names are read, not run.
TEST(Pipeline, CompilePipelinesArePassLists) {
  EXPECT_EQ(compilePipelinePassNames(),
            (std::vector<std::string>{
                "autodiff", "dce", "fusion", "dtype-policy",
                "hoist-conversions", "fold-packs", "batch-groups",
                "fold-pool-grad", "k-groups", "eval", "predict"}));
  ir::OptimizerSpec sgd;
  sgd.kind = ir::OptimizerKind::SGD;
  sgd.learningRate = 0.1 + 0.2; // not the double nearest 0.3
  sgd.momentum = 0.9;
  std::vector<PassInvocation> train = trainingPipeline(sgd);
  ASSERT_EQ(train.size(), 6u);
  EXPECT_EQ(train[0].str(), "autodiff{learning_rate=0.30000000000000004 "
                            "momentum=0.9 nesterov=false optimizer=sgd}");
  // The options give back exactly the spec's numbers.
  EXPECT_EQ(train[0].options.getFloat("learning_rate", 0), sgd.learningRate);
  EXPECT_EQ(train[1].str(), "dce");
  EXPECT_EQ(train[2].str(), "fusion");
  EXPECT_EQ(train[3].str(), "batch-groups");
  EXPECT_EQ(train[4].str(), "fold-pool-grad");
  EXPECT_EQ(train[5].str(), "k-groups");
  EXPECT_EQ(evalPipeline()[0].str(), "eval");
  EXPECT_EQ(predictPipeline()[0].str(), "predict");
  // A policy other than float32 adds dtype-policy and hoist-conversions
  // after fusion; the training pipeline ends with batch-groups,
  // fold-pool-grad and k-groups.
  for (const auto &p : {trainingPipeline(sgd, ir::DtypePolicy::MixedBfloat16),
                        evalPipeline(ir::DtypePolicy::MixedBfloat16),
                        predictPipeline(ir::DtypePolicy::MixedBfloat16)}) {
    ASSERT_GE(p.size(), 5u);
    EXPECT_EQ(p[3].str(), "dtype-policy{policy=mixed_bfloat16}");
    EXPECT_EQ(p[4].str(), "hoist-conversions");
  }
  EXPECT_EQ(trainingPipeline(sgd, ir::DtypePolicy::MixedBfloat16).back().str(),
            "k-groups");
  // With bfloat16 pairs, fold-packs follows hoist-conversions.
  for (const auto &p :
       {trainingPipeline(sgd, ir::DtypePolicy::MixedBfloat16, true),
        evalPipeline(ir::DtypePolicy::MixedBfloat16, true),
        predictPipeline(ir::DtypePolicy::MixedBfloat16, true)}) {
    ASSERT_GE(p.size(), 6u);
    EXPECT_EQ(p[4].str(), "hoist-conversions");
    EXPECT_EQ(p[5].str(), "fold-packs");
  }
  for (const auto &p : {trainingPipeline(sgd, ir::DtypePolicy::MixedBfloat16),
                        evalPipeline(ir::DtypePolicy::MixedBfloat16)})
    for (const PassInvocation &inv : p)
      EXPECT_NE(inv.str(), "fold-packs");
  EXPECT_EQ(evalPipeline().size(), 3u);

  // Keras accepts beta_1 = 0 and rho = 0, and so do the DSL and the pass.
  ir::OptimizerSpec adam;
  adam.beta1 = 0;
  ir::Graph g = testing::dropoutModel(2);
  ir::TrainingSpec spec;
  spec.optimizer = adam;
  EXPECT_TRUE(runTrainingPipeline(g, spec, {}).ok());
}

} // namespace
} // namespace cnnc::passes
