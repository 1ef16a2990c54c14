#include "ir/Activations.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace cnnc::ir {

namespace {

constexpr ActivationInfo kActivations[] = {
#define ACTIVATION(Enum, Name, Param, Default, GradFrom)                       \
  {Name, Param, Default, ActivationGradFrom::GradFrom},
#include "ir/Activations.def"
#undef ACTIVATION
};

struct Alias {
  const char *name;
  ActivationKind kind;
};
const Alias kAliases[] = {
#define ACTIVATION(Enum, Name, Param, Default, GradFrom)
#define ACTIVATION_ALIAS(Name, Enum) {Name, ActivationKind::Enum},
#include "ir/Activations.def"
#undef ACTIVATION_ALIAS
#undef ACTIVATION
};

constexpr bool paramsAreAttributes() {
  for (const ActivationInfo &a : kActivations)
    if (a.param[0] != '\0' && !isAttrName(a.param))
      return false;
  return true;
}
static_assert(paramsAreAttributes(),
              "ir/Activations.def: a parameter is not declared in "
              "ir/Attrs.def");

} // namespace

AttrName ActivationInfo::paramAttr() const {
  return *attrNameFromString(param);
}

const ActivationInfo &activationInfo(ActivationKind kind) {
  return kActivations[static_cast<int>(kind)];
}

std::optional<ActivationKind> activationKindFromName(std::string_view name,
                                                     bool acceptAliases) {
  for (size_t i = 0; i < std::size(kActivations); ++i)
    if (name == kActivations[i].name)
      return static_cast<ActivationKind>(i);
  for (const Alias &a : kAliases)
    if (acceptAliases && name == a.name)
      return a.kind;
  return std::nullopt;
}

const std::vector<std::string> &activationNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const ActivationInfo &a : kActivations)
      v.push_back(a.name);
    for (const Alias &a : kAliases)
      v.push_back(a.name);
    return v;
  }();
  return names;
}

absl::Status checkActivationAttrs(std::string_view op, const Attrs &attrs,
                                  AttrName attr) {
  std::string name = attrs.getString(attr);
  std::optional<ActivationKind> kind = activationKindFromName(name);
  if (!kind)
    return absl::InvalidArgumentError(
        fmt::format("{}: unknown activation kind '{}'", op, name));
  const ActivationInfo &info = activationInfo(*kind);
  if (info.hasParam()) {
    double v = attrs.getFloat(info.paramAttr(), -1);
    if (!(v >= 0 && std::isfinite(v)))
      return absl::InvalidArgumentError(fmt::format(
          "{}: {} needs attribute '{}' >= 0", op, name, info.param));
  }
  return absl::OkStatus();
}

ActivationKind activationKindOf(const Attrs &attrs, AttrName attr) {
  std::string name = attrs.getString(attr);
  if (std::optional<ActivationKind> kind = activationKindFromName(name))
    return *kind;
  std::fprintf(stderr,
               "internal error: unverified activation kind '%s' reached a "
               "pass or kernel\n",
               name.c_str());
  std::abort();
}

float activationParamOf(const Attrs &attrs, ActivationKind kind) {
  const ActivationInfo &info = activationInfo(kind);
  return info.hasParam() ? static_cast<float>(attrs.getFloat(info.paramAttr()))
                         : 0;
}

} // namespace cnnc::ir
