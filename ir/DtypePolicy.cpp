#include "ir/DtypePolicy.h"

#include "ir/FusedStages.h"

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

int64_t bfloat16PairAxis(OpKind kind, const Attrs &attrs, size_t operand) {
  if (operand > 1)
    return -1;
  switch (kind) {
  case OpKind::Conv2D:
  case OpKind::Conv2DFused:
  case OpKind::Conv2DBackwardDataTransposed:
    return operand == 0 ? 3 : 2;
  case OpKind::Conv2DBackwardFilter:
    // Pairs of images: x and dy share their spatial offsets, so two
    // images' values pair up for every tap, borders included.
    return 0;
  case OpKind::Conv2DBackwardFilterFused:
    // With the pool's gradient as its prologue, the kernel computes dy and
    // pairs two images' values in registers: only x is packed.
    return operand == 0 && fusedStagesOf(kind, attrs)
                               .value_or(FusedStageSet{})
                               .has(FusedStage::MaxPool2DArgmaxGrad)
               ? 0
               : -1;
  case OpKind::MatMul:
  case OpKind::MatMulFused: {
    bool ta = attrs.getInt(AttrName::TransposeA) != 0,
         tb = attrs.getInt(AttrName::TransposeB) != 0;
    if (ta && tb)
      return -1; // no gradient makes it; its kernel gathers B's columns
    return operand == 0 ? (ta ? 0 : 1) : (tb ? 1 : 0);
  }
  default:
    return -1;
  }
}

bool isRoundedToBfloat16(const Graph &g, ValueId v) {
  int32_t def = g.value(v).definingOp;
  return def >= 0 && g.ops()[def].kind == OpKind::RoundToBfloat16;
}

} // namespace cnnc::ir
