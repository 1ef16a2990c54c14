// The activation functions of the activation op, its gradient and the fused
// epilogues: one enum and one table, from ir/Activations.def.
#pragma once

#include "ir/Op.h"

#include "absl/status/status.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

enum class ActivationKind : uint8_t {
#define ACTIVATION(Enum, Name, Param, Default, GradFrom) Enum,
#include "ir/Activations.def"
#undef ACTIVATION
};

// The forward value activation_grad reads as its operand 0.
enum class ActivationGradFrom { Output, Input };

struct ActivationInfo {
  const char *name;
  const char *param; // the parameter's attribute; "" when none
  double defaultParam;
  ActivationGradFrom gradFrom;
  bool hasParam() const { return param[0] != '\0'; }
  // The parameter's attribute (hasParam() only); ir/Activations.cpp checks
  // at compile time that every parameter is declared in ir/Attrs.def.
  AttrName paramAttr() const;
};

const ActivationInfo &activationInfo(ActivationKind kind);
inline const char *activationName(ActivationKind kind) {
  return activationInfo(kind).name;
}
// A row's name, the IR's one spelling; with acceptAliases also an alias
// ("silu"), as the DSL accepts.
std::optional<ActivationKind>
activationKindFromName(std::string_view name, bool acceptAliases = false);
// Every accepted name: the rows in table order, then the aliases.
const std::vector<std::string> &activationNames();

// Checks that attribute `attr` names an activation and that its parameter,
// if it has one, is a finite number >= 0. Messages start with `op`.
absl::Status checkActivationAttrs(std::string_view op, const Attrs &attrs,
                                  AttrName attr = AttrName::Kind);

// The kind and parameter of an op the verifier has checked (so the name is
// known; an unchecked one is an internal error and aborts). The fused ops
// name the attribute "activation"; their activations have no parameter.
ActivationKind activationKindOf(const Attrs &attrs,
                                AttrName attr = AttrName::Kind);
float activationParamOf(const Attrs &attrs, ActivationKind kind);

} // namespace cnnc::ir
