#include "passes/Pipeline.h"

#include "passes/Autodiff.h"
#include "passes/DeadCode.h"
#include "passes/EvalGraph.h"
#include "passes/MemoryPlan.h"

#include "ir/Verifier.h"

#include <fmt/format.h>

namespace cnnc::passes {

namespace {

// Adapts a graph-building pass to the in-place signature.
template <typename F> absl::Status replaceWith(ir::Graph &g, F build) {
  absl::StatusOr<ir::Graph> out = build(g);
  if (!out.ok())
    return out.status();
  g = *std::move(out);
  return absl::OkStatus();
}

std::vector<PassInfo> makePasses() {
  return {
      {"dce", "remove ops that reach no output or update",
       [](ir::Graph &g) {
         eliminateDeadCode(g);
         return absl::OkStatus();
       }},
      {"train",
       "build the training graph (autodiff + Keras-default Adam updates)",
       [](ir::Graph &g) {
         return replaceWith(g, [](const ir::Graph &f) {
           return buildTrainingGraph(f, ir::TrainingSpec{});
         });
       }},
      {"eval", "build the evaluation graph (no dropout; loss and accuracy)",
       [](ir::Graph &g) { return replaceWith(g, buildEvalGraph); }},
      {"predict", "build the prediction graph (no dropout; probs)",
       [](ir::Graph &g) { return replaceWith(g, buildPredictGraph); }},
      {"verify", "check the graph's structure and types",
       [](ir::Graph &g) { return ir::verifyGraph(g); }},
      {"check-memory-plan", "plan the arena and check it for overlaps",
       [](ir::Graph &g) { return verifyMemoryPlan(g, planMemory(g)); }},
  };
}

} // namespace

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = makePasses();
  return passes;
}

const PassInfo *findPass(const std::string &name) {
  for (const PassInfo &p : allPasses())
    if (p.name == name)
      return &p;
  return nullptr;
}

absl::Status runPasses(ir::Graph &g, const std::vector<std::string> &names,
                       bool verifyEach) {
  std::vector<const PassInfo *> pipeline;
  for (const std::string &name : names) {
    const PassInfo *p = findPass(name);
    if (!p)
      return absl::NotFoundError(fmt::format("unknown pass '{}'", name));
    pipeline.push_back(p);
  }
  for (const PassInfo *p : pipeline) {
    if (absl::Status s = p->run(g); !s.ok())
      return absl::Status(s.code(), fmt::format("pass '{}': {}", p->name,
                                                std::string(s.message())));
    if (!verifyEach)
      continue;
    if (absl::Status s = ir::verifyGraph(g); !s.ok())
      return absl::Status(s.code(), fmt::format("after pass '{}': {}", p->name,
                                                std::string(s.message())));
  }
  return absl::OkStatus();
}

} // namespace cnnc::passes
