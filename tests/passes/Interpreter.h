// A naive float64 reference evaluator of the tensor IR, for tests: every op
// kind as plain loops on doubles, no memory planning, no JIT. It follows the
// semantics in docs/ir.md (and the kernels' comments) so that gradient
// checks of the autodiff need nothing but the IR.
#pragma once

#include "ir/Graph.h"

#include "absl/status/status.h"

#include <string>
#include <vector>

namespace cnnc::testing {

class Interpreter {
public:
  // Every value gets a zero-filled buffer of its element count; i32 values
  // are held as (integral) doubles.
  explicit Interpreter(const ir::Graph &g);

  std::vector<double> &operator[](ir::ValueId v) { return buffers_.at(v); }
  // Buffer of a named value; throws std::out_of_range when there is none.
  std::vector<double> &at(const std::string &name);

  // Executes every op once, in order: fills temps, updates params and state
  // in place. Fails on an op it cannot evaluate.
  absl::Status run();

private:
  const ir::Graph &g_;
  std::vector<std::vector<double>> buffers_;
};

} // namespace cnnc::testing
