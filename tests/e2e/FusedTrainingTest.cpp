// The fused training step (passes/Fusion.h) against the unfused one through
// the JIT and the executor: the tutorial model, a few Adam steps from the
// same weights and batches, on 1, 2 and 3 threads. The fused kernels do the
// same float32 arithmetic as the ops they replace, so losses, accuracies
// and every updated weight and optimizer moment must match bit for bit;
// the results must also not depend on the thread count, and the losses and
// accuracies are the reference interpreter's on the same graph and data.
#include "common/Interpreter.h"
#include "frontend/Frontend.h"
#include "passes/Autodiff.h"
#include "passes/BatchGroups.h"
#include "passes/DeadCode.h"
#include "passes/Fusion.h"
#include "runtime/Executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>

namespace cnnc::testing {
namespace {

ir::Graph tutorialForward(int64_t batch, ir::TrainingSpec &spec) {
  auto parsed = frontend::parseFile(CNNC_SOURCE_DIR "/models/mnist.dsl");
  EXPECT_FALSE(parsed.error) << parsed.error->str();
  spec = frontend::trainingSpec(*parsed.program);
  spec.fit.batchSize = batch;
  auto lowered = frontend::lowerModel(*parsed.program, spec);
  EXPECT_FALSE(lowered.error) << lowered.error->str();
  return lowered.model->forward;
}

// Every param and state tensor after `steps` steps, plus the per-step loss
// and correct count, as raw bits.
using Snapshot = std::map<std::string, std::vector<uint32_t>>;

std::vector<uint32_t> bits(const float *p, int64_t n) {
  std::vector<uint32_t> out(n);
  std::memcpy(out.data(), p, n * 4);
  return out;
}

// With `ref`, the interpreter (of g) also runs every step from the same
// weights and inputs; refLosses gets its loss and correct count per step.
Snapshot train(const ir::Graph &g, int threads, int steps,
               Interpreter *ref = nullptr,
               std::vector<std::pair<double, double>> *refLosses = nullptr) {
  runtime::ParamStore store;
  auto ex = runtime::Executor::create(g, store);
  EXPECT_TRUE(ex.ok()) << ex.status();
  if (!ex.ok())
    return {};
  runtime::Executor &e = **ex;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f), px(0, 1);
  // Params in name order, so both graphs get the same values.
  for (const std::string &name : store.names()) {
    const ir::TensorType *t = store.typeOf(name);
    float *p = store.find(name);
    bool isParam = g.value(g.findValue(name)).kind == ir::ValueKind::Param;
    for (int64_t i = 0; i < t->numElements(); ++i)
      p[i] = isParam ? u(rng) : 0.0f;
    if (ref)
      ref->at(name).assign(p, p + t->numElements());
  }
  runtime::ThreadPool pool(threads);
  ir::ValueId x = g.findValue("x"), labels = g.findValue("labels");
  Snapshot out;
  for (int s = 1; s <= steps; ++s) {
    for (int64_t i = 0; i < g.type(x).numElements(); ++i)
      e.f32(x)[i] = px(rng) < 0.7f ? 0.0f : px(rng);
    for (int64_t i = 0; i < g.type(labels).numElements(); ++i)
      e.i32(labels)[i] = static_cast<int32_t>(rng() % 10);
    *e.i32(g.findValue("step")) = s;
    // The runtime feeds the rate each step (docs/ir.md); without it the
    // weights would not move and their comparison below would say little.
    *e.f32(g.findValue("learning_rate")) = 0.01f;
    e.run(pool);
    if (ref) {
      (*ref)[x].assign(e.f32(x), e.f32(x) + g.type(x).numElements());
      (*ref)[labels].assign(e.i32(labels),
                            e.i32(labels) + g.type(labels).numElements());
      (*ref)[g.findValue("step")] = {static_cast<double>(s)};
      (*ref)[g.findValue("learning_rate")] = {static_cast<double>(0.01f)};
      absl::Status st = ref->run();
      EXPECT_TRUE(st.ok()) << st;
      refLosses->emplace_back((*ref)[g.output("loss")][0],
                              (*ref)[g.output("correct")][0]);
    }
    for (const char *o : {"loss", "correct"}) {
      std::vector<uint32_t> v = bits(e.f32(g.output(o)), 1);
      std::vector<uint32_t> &all = out[o];
      all.insert(all.end(), v.begin(), v.end());
    }
  }
  for (const std::string &name : store.names())
    out[name] = bits(store.find(name), store.typeOf(name)->numElements());
  return out;
}

// Each step's loss near the interpreter's and its correct count equal
// (float64 there, so not bit for bit: a wrong kernel would be off by far
// more).
void expectInterpreterLosses(const Snapshot &got,
                             const std::vector<std::pair<double, double>> &ref,
                             const std::string &what) {
  for (size_t s = 0; s < ref.size(); ++s) {
    float loss, correct;
    std::memcpy(&loss, &got.at("loss")[s], 4);
    std::memcpy(&correct, &got.at("correct")[s], 4);
    EXPECT_NEAR(loss, ref[s].first, 1e-5 * ref[s].first)
        << what << ", step " << s + 1;
    EXPECT_EQ(correct, ref[s].second) << what << ", step " << s + 1;
  }
}

TEST(FusedTraining, SameBitsAsUnfusedOnEveryThreadCount) {
  ir::TrainingSpec spec;
  ir::Graph forward = tutorialForward(6, spec);
  auto unfused = passes::buildTrainingGraph(forward, spec);
  ASSERT_TRUE(unfused.ok()) << unfused.status();
  passes::eliminateDeadCode(*unfused);
  ir::Graph fused = *unfused;
  ASSERT_TRUE(passes::fuseOps(fused).ok());
  ASSERT_LT(fused.ops().size(), unfused->ops().size());

  Interpreter interp(fused);
  std::vector<std::pair<double, double>> refLosses;
  Snapshot reference = train(*unfused, 1, 3);
  ASSERT_FALSE(reference.empty());
  // The fused graph's losses and correct counts against the interpreter
  // running it on the same weights and batches (float64, so not bit for
  // bit: a wrong kernel would be off by far more).
  Snapshot fromFused = train(fused, 1, 3, &interp, &refLosses);
  ASSERT_EQ(refLosses.size(), 3u);
  expectInterpreterLosses(fromFused, refLosses, "fused");
  for (int threads : {1, 2, 3}) {
    for (const auto *g : {&*unfused, &fused}) {
      Snapshot got = train(*g, threads, 3);
      ASSERT_EQ(got.size(), reference.size());
      for (const auto &[name, want] : reference)
        EXPECT_TRUE(got.at(name) == want)
            << name << " differs: " << (g == &fused ? "fused" : "unfused")
            << ", " << threads << " threads";
    }
  }
}

// The step with its sums over the batch in fixed groups (passes/
// BatchGroups.h), two or three, on 1 to 4 threads: the same bits on every
// thread count, and losses and correct counts the interpreter's. (The
// groups change the order of the sums, so not the ungrouped step's bits.)
TEST(FusedTraining, BatchGroupsGiveTheSameBitsOnEveryThreadCount) {
  ir::TrainingSpec spec;
  ir::Graph forward = tutorialForward(6, spec);
  auto fused = passes::buildTrainingGraph(forward, spec);
  ASSERT_TRUE(fused.ok()) << fused.status();
  passes::eliminateDeadCode(*fused);
  ASSERT_TRUE(passes::fuseOps(*fused).ok());
  for (int64_t groups : {2, 3}) {
    ir::Graph grouped = *fused;
    passes::splitBatchGroups(grouped, groups);
    ASSERT_EQ(std::count_if(grouped.ops().begin(), grouped.ops().end(),
                            [](const ir::Op &op) {
                              return op.kind == ir::OpKind::GroupSum;
                            }),
              4)
        << "two filter gradients, two bias gradients";
    Interpreter interp(grouped);
    std::vector<std::pair<double, double>> refLosses;
    Snapshot reference = train(grouped, 1, 3, &interp, &refLosses);
    ASSERT_EQ(refLosses.size(), 3u);
    expectInterpreterLosses(reference, refLosses,
                            std::to_string(groups) + " groups");
    for (int threads : {2, 3, 4}) {
      Snapshot got = train(grouped, threads, 3);
      ASSERT_EQ(got.size(), reference.size());
      for (const auto &[name, want] : reference)
        EXPECT_TRUE(got.at(name) == want)
            << name << " differs: " << groups << " groups, " << threads
            << " threads";
    }
  }
}

// The executor lets kernels that touch disjoint memory run without a
// barrier between them; the fused step needs far fewer.
TEST(FusedTraining, FewerKernelsAndBarriers) {
  ir::TrainingSpec spec;
  ir::Graph forward = tutorialForward(32, spec);
  auto unfused = passes::buildTrainingGraph(forward, spec);
  ASSERT_TRUE(unfused.ok());
  passes::eliminateDeadCode(*unfused);
  ir::Graph fused = *unfused;
  ASSERT_TRUE(passes::fuseOps(fused).ok());
  runtime::ParamStore a, b;
  auto ea = runtime::Executor::create(*unfused, a);
  auto eb = runtime::Executor::create(fused, b);
  ASSERT_TRUE(ea.ok() && eb.ok());
  EXPECT_LT((*ea)->barriersPerStep(),
            static_cast<int>(unfused->ops().size()) - 1);
  EXPECT_LT((*eb)->barriersPerStep(), (*ea)->barriersPerStep());
  // The eight Adam updates are independent: at most one barrier among them.
  EXPECT_LE((*eb)->barriersPerStep(), 16);
}

} // namespace
} // namespace cnnc::testing
