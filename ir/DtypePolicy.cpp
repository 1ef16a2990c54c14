#include "ir/DtypePolicy.h"

#include <iterator>

namespace cnnc::ir {

namespace {

struct PolicyInfo {
  const char *name;
  ComputeDtype compute;
};

const PolicyInfo kPolicies[] = {
#define DTYPE_POLICY(Enum, Name, Compute) {Name, ComputeDtype::Compute},
#include "ir/DtypePolicies.def"
};

} // namespace

const char *dtypePolicyName(DtypePolicy policy) {
  return kPolicies[static_cast<size_t>(policy)].name;
}

ComputeDtype policyComputeDtype(DtypePolicy policy) {
  return kPolicies[static_cast<size_t>(policy)].compute;
}

std::optional<DtypePolicy> dtypePolicyFromName(std::string_view name) {
  for (size_t i = 0; i < std::size(kPolicies); ++i)
    if (name == kPolicies[i].name)
      return static_cast<DtypePolicy>(i);
  return std::nullopt;
}

const std::vector<std::string> &dtypePolicyNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const PolicyInfo &p : kPolicies)
      v.push_back(p.name);
    return v;
  }();
  return names;
}

bool isRoundedToBfloat16(const Graph &g, ValueId v) {
  int32_t def = g.value(v).definingOp;
  return def >= 0 && g.ops()[def].kind == OpKind::RoundToBfloat16;
}

} // namespace cnnc::ir
