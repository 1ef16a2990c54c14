#include "ir/Graph.h"

#include "ir/ShapeRules.h"

#include "absl/status/status.h"
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace cnnc::ir {

const char *valueKindName(ValueKind k) {
  switch (k) {
  case ValueKind::Input:
    return "input";
  case ValueKind::Param:
    return "param";
  case ValueKind::State:
    return "state";
  case ValueKind::Temp:
    return "temp";
  }
  return "?";
}

std::string Graph::uniqueName(std::string base) {
  // An unnamed value is named by its number, unless a value already has
  // that name (e.g. one parsed as %5): then it gets a suffix like any other.
  if (base.empty())
    base = std::to_string(values_.size());
  if (findValue(base) < 0)
    return base;
  int &next = nextSuffix_[base];
  for (int i = std::max(next, 1);; ++i) {
    std::string candidate = fmt::format("{}_{}", base, i);
    if (findValue(candidate) < 0) {
      next = i + 1;
      return candidate;
    }
  }
}

ValueId Graph::addValue(std::string name, TensorType type, ValueKind kind) {
  Value v;
  v.name = uniqueName(std::move(name));
  v.type = std::move(type);
  v.kind = kind;
  auto id = static_cast<ValueId>(values_.size());
  byName_.emplace(v.name, id);
  values_.push_back(std::move(v));
  return id;
}

ValueId Graph::addTemp(const std::string &name, TensorType type) {
  return addValue(name, std::move(type), ValueKind::Temp);
}

ValueId Graph::addInput(const std::string &name, TensorType type) {
  return addValue(name, std::move(type), ValueKind::Input);
}

ValueId Graph::addParam(const std::string &name, TensorType type, Attrs attrs) {
  ValueId id = addValue(name, std::move(type), ValueKind::Param);
  values_[id].attrs = std::move(attrs);
  return id;
}

ValueId Graph::addState(const std::string &name, TensorType type) {
  return addValue(name, std::move(type), ValueKind::State);
}

absl::StatusOr<std::vector<ValueId>>
Graph::create(OpKind kind, std::vector<ValueId> operands, Attrs attrs,
              Location loc, std::vector<std::string> resultNames) {
  std::vector<TensorType> operandTypes;
  for (ValueId v : operands) {
    if (v < 0 || v >= static_cast<ValueId>(values_.size()))
      return absl::InvalidArgumentError(
          fmt::format("{}: operand refers to no value", opName(kind)));
    operandTypes.push_back(values_[v].type);
  }
  auto types = inferResultTypes(kind, operandTypes, attrs);
  if (!types.ok())
    return types.status();
  return append(kind, std::move(operands), *std::move(types), std::move(attrs),
                std::move(loc), std::move(resultNames));
}

absl::StatusOr<ValueId> Graph::create1(OpKind kind,
                                       std::vector<ValueId> operands,
                                       Attrs attrs, Location loc,
                                       std::string resultName) {
  std::vector<std::string> names;
  if (!resultName.empty())
    names.push_back(std::move(resultName));
  auto r = create(kind, std::move(operands), std::move(attrs), std::move(loc),
                  std::move(names));
  if (!r.ok())
    return r.status();
  if (r->size() != 1)
    return absl::InternalError(
        fmt::format("{} does not have exactly one result", opName(kind)));
  return (*r)[0];
}

std::vector<ValueId> Graph::append(OpKind kind, std::vector<ValueId> operands,
                                   std::vector<TensorType> resultTypes,
                                   Attrs attrs, Location loc,
                                   std::vector<std::string> resultNames) {
  Op op{kind, std::move(operands), {}, std::move(attrs), std::move(loc)};
  int32_t opIndex = static_cast<int32_t>(ops_.size());
  for (size_t i = 0; i < resultTypes.size(); ++i) {
    std::string name = i < resultNames.size() ? resultNames[i] : "";
    ValueId id = addValue(name, std::move(resultTypes[i]), ValueKind::Temp);
    values_[id].definingOp = opIndex;
    op.results.push_back(id);
  }
  ops_.push_back(std::move(op));
  return ops_.back().results;
}

ValueId Graph::output(const std::string &name) const {
  for (const GraphOutput &o : outputs_)
    if (o.name == name)
      return o.value;
  return -1;
}

ValueId Graph::findValue(const std::string &name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? -1 : it->second;
}

std::vector<ValueId> Graph::valuesOfKind(ValueKind kind) const {
  std::vector<ValueId> out;
  for (size_t i = 0; i < values_.size(); ++i)
    if (values_[i].kind == kind)
      out.push_back(static_cast<ValueId>(i));
  return out;
}

void Graph::setOps(std::vector<Op> ops) {
  ops_.assign(std::make_move_iterator(ops.begin()),
              std::make_move_iterator(ops.end()));
  for (Value &v : values_)
    v.definingOp = -1;
  for (size_t i = 0; i < ops_.size(); ++i)
    for (ValueId r : ops_[i].results)
      values_[r].definingOp = static_cast<int32_t>(i);
}

} // namespace cnnc::ir
