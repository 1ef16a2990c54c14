// The registry of graph-to-graph passes that tools run by name: cnnc-opt's
// `-autodiff='optimizer=sgd learning_rate=0.1'` and
// `--pass-pipeline='autodiff{optimizer=sgd},dce,memory-plan'`.
#pragma once

#include "ir/Graph.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::passes {

enum class PassOptionKind { Bool, Int, Float, Choice };

// One `key=value` option a pass declares.
struct PassOption {
  std::string name;
  PassOptionKind kind;
  // The value when the option is not given, as it would be written; empty
  // when the pass derives it (learning_rate follows the optimizer).
  std::string defaultValue;
  std::string description;
  std::vector<std::string> choices; // for Choice
};

// The options given to one run of a pass, each checked against the pass's
// declaration when parsed; the getters return the fallback for absent ones.
class PassOptions {
public:
  bool has(const std::string &name) const { return values_.count(name) != 0; }
  bool getBool(const std::string &name, bool fallback) const;
  int64_t getInt(const std::string &name, int64_t fallback) const;
  double getFloat(const std::string &name, double fallback) const;
  std::string getString(const std::string &name,
                        const std::string &fallback) const;
  const std::map<std::string, std::string> &all() const { return values_; }
  void set(const std::string &name, std::string value) {
    values_[name] = std::move(value);
  }

private:
  std::map<std::string, std::string> values_;
};

// What passes report besides the graph.
struct PassContext {
  // Lines describing the graph a pass produced (memory-plan's layout);
  // cnnc-opt prints them as `//` comments after the graph.
  std::vector<std::string> notes;
};

struct PassInfo {
  std::string name, description;
  std::vector<PassOption> options;
  std::function<absl::Status(ir::Graph &, const PassOptions &, PassContext &)>
      run;
  // Optional: rejects option values the declaration alone cannot (ranges,
  // combinations), before any pass of the pipeline runs.
  std::function<absl::Status(const PassOptions &)> checkOptions;
};

// A pass with its options, ready to run.
struct PassInvocation {
  const PassInfo *pass = nullptr;
  PassOptions options;
  std::string str() const; // "autodiff{learning_rate=0.1 optimizer=sgd}"
};

// Every registered pass, in a fixed order.
const std::vector<PassInfo> &allPasses();

// nullptr when there is no pass of that name.
const PassInfo *findPass(const std::string &name);

// One pass and its options text, "key=value" items separated by spaces or
// commas. Unknown passes and options and ill-typed values are errors.
absl::StatusOr<PassInvocation> parsePassInvocation(std::string_view name,
                                                   std::string_view options);

// A comma-separated list of `name` or `name{key=value ...}`.
absl::StatusOr<std::vector<PassInvocation>>
parsePassPipeline(std::string_view text);

// The one instrumentation interface of every pipeline run, whether cnnc-opt
// runs a pipeline from its command line or the runtime compiles a model.
struct PassInstrumentation {
  // Runs the verifier after every pass; a failure names the pass.
  bool verifyEach = false;
  // Called before each pass with the graph it receives.
  std::function<void(const PassInvocation &, const ir::Graph &)> beforePass;
  // Called after each pass that succeeded, with the graph it produced.
  std::function<void(const PassInvocation &, const ir::Graph &)> afterPass;
  // Called when a pass (or the verifier after it) fails, with the graph as
  // the pass left it and the error.
  std::function<void(const PassInvocation &, const ir::Graph &,
                     const absl::Status &)>
      afterPassFailed;
};

// Runs the passes in order; the first failure stops the pipeline and its
// message starts with "pass 'NAME': " (or "after pass 'NAME': " for the
// verifier of verifyEach).
absl::Status runPipeline(ir::Graph &g,
                         const std::vector<PassInvocation> &pipeline,
                         const PassInstrumentation &instrumentation,
                         PassContext &context);

// Parses every element (a pipeline element each, e.g. "dce" or
// "autodiff{optimizer=sgd}") before any pass runs, then runs them.
absl::Status runPasses(ir::Graph &g, const std::vector<std::string> &names,
                       bool verifyEach);

} // namespace cnnc::passes
