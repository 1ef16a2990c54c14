#include "passes/Pipelines.h"

#include "ir/Optimizers.h"

#include <fmt/format.h>

#include <algorithm>

namespace cnnc::passes {

namespace {

// A registered pass by name; the pipelines below name only passes that
// Pipeline.cpp registers, so a miss is a programming error caught by every
// test that compiles a model.
PassInvocation invocation(const char *name, PassOptions options = {}) {
  const PassInfo *pass = findPass(name);
  if (!pass) {
    fmt::print(stderr, "cnnc: internal error: no pass '{}'\n", name);
    std::abort();
  }
  return {pass, std::move(options)};
}

// Shortest round-trip spelling: parsing it back gives the same double, so
// the pass computes exactly the learning rate the spec holds.
std::string exact(double v) { return fmt::format("{}", v); }

std::vector<PassInvocation> withCleanup(PassInvocation first,
                                        ir::DtypePolicy policy, bool pairs) {
  std::vector<PassInvocation> p = {std::move(first), invocation("dce"),
                                   invocation("fusion")};
  if (policy != ir::DtypePolicy::Float32) {
    PassOptions o;
    o.set("policy", ir::dtypePolicyName(policy));
    if (pairs)
      o.set("pairs", "true");
    p.push_back(invocation("dtype-policy", std::move(o)));
    p.push_back(invocation("hoist-conversions"));
    if (pairs)
      p.push_back(invocation("fold-packs"));
  }
  return p;
}

absl::StatusOr<ir::Graph> run(const ir::Graph &forward,
                              const std::vector<PassInvocation> &pipeline,
                              const PipelineOptions &options) {
  ir::Graph g = forward;
  PassContext context;
  if (absl::Status s = runPipeline(g, pipeline, options, context); !s.ok())
    return s;
  return g;
}

} // namespace

std::vector<PassInvocation> trainingPipeline(const ir::OptimizerSpec &opt,
                                             ir::DtypePolicy policy,
                                             bool pairs) {
  PassOptions o;
  o.set("optimizer", ir::optimizerInfo(opt.kind).name);
  o.set("learning_rate", exact(opt.learningRate));
  for (const ir::OptimizerArg &a : ir::optimizerArgs(opt.kind))
    o.set(a.name,
          a.flag ? (opt.*a.flag ? "true" : "false") : exact(opt.*a.number));
  std::vector<PassInvocation> p =
      withCleanup(invocation("autodiff", std::move(o)), policy, pairs);
  // The step's sums over the batch (the forward graphs have none).
  p.push_back(invocation("batch-groups"));
  p.push_back(invocation("fold-pool-grad"));
  p.push_back(invocation("k-groups"));
  return p;
}

std::vector<PassInvocation> evalPipeline(ir::DtypePolicy policy, bool pairs) {
  return withCleanup(invocation("eval"), policy, pairs);
}

std::vector<PassInvocation> predictPipeline(ir::DtypePolicy policy,
                                            bool pairs) {
  return withCleanup(invocation("predict"), policy, pairs);
}

std::vector<std::string> compilePipelinePassNames() {
  std::vector<std::string> names;
  const ir::DtypePolicy mixed = ir::DtypePolicy::MixedBfloat16;
  for (const auto &pipeline :
       {trainingPipeline({}, mixed, true), evalPipeline(mixed, true),
        predictPipeline(mixed, true)})
    for (const PassInvocation &inv : pipeline)
      if (std::find(names.begin(), names.end(), inv.pass->name) == names.end())
        names.push_back(inv.pass->name);
  return names;
}

absl::StatusOr<ir::Graph> runTrainingPipeline(const ir::Graph &forward,
                                              const ir::TrainingSpec &spec,
                                              const PipelineOptions &options,
                                              bool pairs) {
  return run(forward, trainingPipeline(spec.optimizer, spec.dtypePolicy, pairs),
             options);
}

absl::StatusOr<ir::Graph> runEvalPipeline(const ir::Graph &forward,
                                          const PipelineOptions &options,
                                          ir::DtypePolicy policy, bool pairs) {
  return run(forward, evalPipeline(policy, pairs), options);
}

absl::StatusOr<ir::Graph> runPredictPipeline(const ir::Graph &forward,
                                             const PipelineOptions &options,
                                             ir::DtypePolicy policy,
                                             bool pairs) {
  return run(forward, predictPipeline(policy, pairs), options);
}

} // namespace cnnc::passes
