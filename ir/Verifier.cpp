#include "ir/Verifier.h"

#include "ir/AttrEnums.h"
#include "ir/ShapeRules.h"
#include "support/Text.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace cnnc::ir {

namespace {

std::string where(const Op &op, size_t index) {
  if (op.loc.known())
    return fmt::format("{}:{}:{}: op #{} '{}'", op.loc.file, op.loc.line,
                       op.loc.col, index, opName(op.kind));
  return fmt::format("op #{} '{}'", index, opName(op.kind));
}

// Every attribute has the type ir/Attrs.def declares for its name.
std::optional<AttrName> mistyped(const Attrs &attrs) {
  for (const auto &[name, value] : attrs.all())
    if (!attrHasType(value, attrInfo(name).type))
      return name;
  return std::nullopt;
}

} // namespace

static absl::Status verifyGraphUnescaped(const Graph &g);

// Messages quote names, locations and attribute strings, which the IR can
// spell with any byte: control bytes are shown escaped so that every error
// stays one line.
absl::Status verifyGraph(const Graph &g) {
  absl::Status s = verifyGraphUnescaped(g);
  if (s.ok())
    return s;
  return absl::Status(s.code(),
                      support::escapeControlBytes(std::string(s.message())));
}

static absl::Status verifyGraphUnescaped(const Graph &g) {
  const auto &values = g.values();
  std::vector<bool> defined(values.size(), false);
  // A set, not a pairwise check: the parser verifies a bad graph's prefixes
  // several times, and graphs may have many values.
  std::unordered_set<std::string_view> names;
  names.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].kind != ValueKind::Temp) {
      defined[i] = true;
      if (values[i].definingOp >= 0)
        return absl::InvalidArgumentError(
            fmt::format("value %{} is a {} but is defined by an op",
                        values[i].name, valueKindName(values[i].kind)));
    }
    // bf16 and f64 values live within a step (between pack_bfloat16_pairs
    // and the contractions that read them, batch_norm_sums and the
    // normalization that adds them up); the runtime feeds and keeps only
    // f32 and i32 tensors.
    if (!dtypeFed(values[i].type.dtype) && values[i].kind != ValueKind::Temp)
      return absl::InvalidArgumentError(
          fmt::format("value %{} ({}) has type {}: only op results may be {}",
                      values[i].name, valueKindName(values[i].kind),
                      values[i].type.str(), dtypeName(values[i].type.dtype)));
    if (!values[i].type.isValid())
      return absl::InvalidArgumentError(fmt::format(
          "value %{} has type {}: dimensions must be positive and a type has "
          "at most 2^48 elements",
          values[i].name, values[i].type.str()));
    if (!names.insert(values[i].name).second)
      return absl::InvalidArgumentError(
          fmt::format("value name %{} is defined twice", values[i].name));
    if (auto bad = mistyped(values[i].attrs))
      return absl::InvalidArgumentError(
          fmt::format("value %{}: attribute '{}' must be {}", values[i].name,
                      attrName(*bad), attrTypeName(attrInfo(*bad).type)));
  }
  for (size_t i = 0; i < g.ops().size(); ++i) {
    const Op &op = g.ops()[i];
    std::vector<TensorType> operandTypes;
    for (ValueId v : op.operands) {
      if (v < 0 || v >= static_cast<ValueId>(values.size()))
        return absl::InvalidArgumentError(
            fmt::format("{}: operand refers to no value", where(op, i)));
      if (!defined[v])
        return absl::InvalidArgumentError(
            fmt::format("{}: operand %{} is used before it is defined",
                        where(op, i), values[v].name));
      operandTypes.push_back(values[v].type);
    }
    if (auto bad = mistyped(op.attrs))
      return absl::InvalidArgumentError(
          fmt::format("{}: attribute '{}' must be {}", where(op, i),
                      attrName(*bad), attrTypeName(attrInfo(*bad).type)));
    if (op.attrs.has(AttrName::ComputeDtype)) {
      if (!(opInfo(op.kind).flags & kContracts))
        return absl::InvalidArgumentError(fmt::format(
            "{}: attribute 'compute_dtype' is only for contractions "
            "(convolutions and matmuls)",
            where(op, i)));
      if (!attrEnumOf<ComputeDtype>(op.attrs))
        return absl::InvalidArgumentError(
            fmt::format("{}: attribute 'compute_dtype' must be {}",
                        where(op, i), attrEnumChoices<ComputeDtype>()));
    }
    auto expected = inferResultTypes(op.kind, operandTypes, op.attrs);
    if (!expected.ok())
      return absl::InvalidArgumentError(fmt::format(
          "{}: {}", where(op, i), std::string(expected.status().message())));
    if (expected->size() != op.results.size())
      return absl::InvalidArgumentError(
          fmt::format("{}: expects {} results, has {}", where(op, i),
                      expected->size(), op.results.size()));
    // After the shape rule, which bounds the operand count.
    for (size_t k = 0; k < op.operands.size(); ++k) {
      if (!writesOperand(op.kind, k))
        continue;
      ValueId v = op.operands[k];
      ValueKind kind = values[v].kind;
      if (kind != ValueKind::Param && kind != ValueKind::State)
        return absl::InvalidArgumentError(fmt::format(
            "{}: operand %{} is updated in place, so it must be a param or "
            "state",
            where(op, i), values[v].name));
      // The kernels read and write each slot on its own: a second use of
      // the value would see a half-updated tensor or be overwritten.
      if (std::count(op.operands.begin(), op.operands.end(), v) > 1)
        return absl::InvalidArgumentError(fmt::format(
            "{}: operand %{} is updated in place, so it may appear only once "
            "among the operands",
            where(op, i), values[v].name));
    }
    for (size_t r = 0; r < op.results.size(); ++r) {
      ValueId v = op.results[r];
      if (v < 0 || v >= static_cast<ValueId>(values.size()) || defined[v] ||
          values[v].definingOp != static_cast<int32_t>(i))
        return absl::InvalidArgumentError(fmt::format(
            "{}: result {} is not a fresh value of this op", where(op, i), r));
      if (!(values[v].type == (*expected)[r]))
        return absl::InvalidArgumentError(fmt::format(
            "{}: result %{} has type {} but the op produces {}", where(op, i),
            values[v].name, values[v].type.str(), (*expected)[r].str()));
      defined[v] = true;
    }
  }
  for (const GraphOutput &o : g.outputs()) {
    if (o.value < 0 || o.value >= static_cast<ValueId>(values.size()) ||
        !defined[o.value])
      return absl::InvalidArgumentError(
          fmt::format("output '{}' refers to no defined value", o.name));
    if (!dtypeFed(values[o.value].type.dtype))
      return absl::InvalidArgumentError(
          fmt::format("output '{}' is {}: outputs are f32 or i32", o.name,
                      dtypeName(values[o.value].type.dtype)));
  }
  return absl::OkStatus();
}

} // namespace cnnc::ir
