// The dtype policy table (ir/DtypePolicies.def), for the frontend, the
// pipelines, cnnc-opt's options and the runtime's header line.
#pragma once

#include "ir/AttrEnums.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

enum class DtypePolicy : uint8_t {
#define DTYPE_POLICY(Enum, Name, ComputeDtype) Enum,
#include "ir/DtypePolicies.def"
};

const char *dtypePolicyName(DtypePolicy policy);
ComputeDtype policyComputeDtype(DtypePolicy policy);
std::optional<DtypePolicy> dtypePolicyFromName(std::string_view name);
// Every policy's name, in table order.
const std::vector<std::string> &dtypePolicyNames();

} // namespace cnnc::ir
