// A registry of graph-to-graph passes, run by name (for cnnc-opt).
#pragma once

#include "ir/Graph.h"

#include "absl/status/status.h"

#include <functional>
#include <string>
#include <vector>

namespace cnnc::passes {

struct PassInfo {
  std::string name, description;
  std::function<absl::Status(ir::Graph &)> run;
};

// Every registered pass, in a fixed order.
const std::vector<PassInfo> &allPasses();

// nullptr when there is no pass of that name.
const PassInfo *findPass(const std::string &name);

// Runs the named passes in order. All names are checked before any pass
// runs; with verifyEach the graph is verified after every pass. The first
// failure stops the pipeline and names the pass.
absl::Status runPasses(ir::Graph &g, const std::vector<std::string> &names,
                       bool verifyEach);

} // namespace cnnc::passes
