// The one reference for tests: a naive float64 evaluator of the tensor IR,
// every op kind (fused ones too) as plain loops on doubles written from its
// definition in docs/ir.md, no memory planning, no JIT, no product kernel.
// Gradient checks of the autodiff, the kernel tests (each JIT kernel against
// the same op here) and the fusion tests all compare against it.
#pragma once

#include "ir/Graph.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// An operand of a one-op run; i32 data as integral doubles.
struct OpOperand {
  ir::TensorType type;
  std::vector<double> data;
  ir::ValueKind kind = ir::ValueKind::Input;
};

struct OpOutcome {
  std::vector<std::vector<double>> results;  // the op's results
  std::vector<std::vector<double>> operands; // after the op (in-place ops)
};

// Builds a graph of the one op `kind` on these operands and runs it: what
// the kernel tests compare a JIT kernel with.
absl::StatusOr<OpOutcome> interpretOp(ir::OpKind kind,
                                      std::vector<OpOperand> operands,
                                      const ir::Attrs &attrs);

} // namespace cnnc::testing
