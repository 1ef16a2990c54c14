// A tensor IR graph: typed SSA values and a topologically ordered op list.
#pragma once

#include "ir/Op.h"
#include "ir/Types.h"

#include "absl/status/statusor.h"

#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace cnnc::ir {

// Where a value's storage comes from. Inputs are fed per step by the runtime;
// params (weights) and state (optimizer moments) persist across steps; temps
// are produced by ops and live in the planned arena.
enum class ValueKind : uint8_t { Input, Param, State, Temp };

const char *valueKindName(ValueKind k);

struct Value {
  std::string name; // unique within the graph; printed as %name
  TensorType type;
  ValueKind kind = ValueKind::Temp;
  int32_t definingOp = -1; // index into Graph::ops, -1 for non-temps
  Attrs attrs;             // e.g. param init = "glorot_uniform" | "zeros"
};

struct GraphOutput {
  std::string name;
  ValueId value;
};

// Values and ops are kept in deques: appending (create, append, addTemp)
// never moves an existing element, so a `const Value &`, `const TensorType &`
// or `const Op &` taken from the graph stays valid while passes add to it.
// Values are changed only through the graph (names are indexed).
class Graph {
public:
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}

  const std::string &name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }

  // Non-temp values. Names must be unique; a clash gets a numeric suffix.
  // Every name lookup is a hash lookup, so building a graph is linear.
  ValueId addInput(const std::string &name, TensorType type);
  ValueId addParam(const std::string &name, TensorType type, Attrs attrs = {});
  ValueId addState(const std::string &name, TensorType type);

  // Appends an op; result types come from the op's shape rule. On a shape or
  // arity error nothing is added and the status says why (one line).
  absl::StatusOr<std::vector<ValueId>>
  create(OpKind kind, std::vector<ValueId> operands, Attrs attrs = {},
         Location loc = {}, std::vector<std::string> resultNames = {});
  // Convenience for single-result ops.
  absl::StatusOr<ValueId> create1(OpKind kind, std::vector<ValueId> operands,
                                  Attrs attrs = {}, Location loc = {},
                                  std::string resultName = "");

  // Appends an op whose result types are given (the parser and passes that
  // copy ops use this); the verifier checks them against the shape rule.
  std::vector<ValueId> append(OpKind kind, std::vector<ValueId> operands,
                              std::vector<TensorType> resultTypes, Attrs attrs,
                              Location loc,
                              std::vector<std::string> resultNames = {});

  // A temp with no defining op yet, for passes that build an op list and
  // install it with setOps.
  ValueId addTemp(const std::string &name, TensorType type);

  void addOutput(const std::string &name, ValueId v) {
    outputs_.push_back({name, v});
  }
  // -1 when there is no output of that name.
  ValueId output(const std::string &name) const;
  ValueId findValue(const std::string &name) const;

  const std::deque<Value> &values() const { return values_; }
  size_t numValues() const { return values_.size(); }
  const Value &value(ValueId id) const { return values_[id]; }
  const TensorType &type(ValueId id) const { return values_[id].type; }
  void setAttrs(ValueId id, Attrs attrs) {
    values_[id].attrs = std::move(attrs);
  }
  const std::deque<Op> &ops() const { return ops_; }
  std::deque<Op> &ops() { return ops_; }
  const std::vector<GraphOutput> &outputs() const { return outputs_; }
  std::vector<GraphOutput> &outputs() { return outputs_; }

  std::vector<ValueId> valuesOfKind(ValueKind kind) const;

  // Replaces the op list (passes that delete or reorder ops); renumbers
  // definingOp links.
  void setOps(std::vector<Op> ops);

private:
  ValueId addValue(std::string name, TensorType type, ValueKind kind);
  std::string uniqueName(std::string base);

  std::string name_;
  std::deque<Value> values_;
  std::deque<Op> ops_;
  std::unordered_map<std::string, ValueId> byName_;
  // The next suffix to try for a base name that clashed, so that n values
  // named alike cost O(n), not O(n^2).
  std::unordered_map<std::string, int> nextSuffix_;
  std::vector<GraphOutput> outputs_;
};

} // namespace cnnc::ir
