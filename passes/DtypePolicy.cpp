#include "passes/DtypePolicy.h"

#include "ir/AttrEnums.h"

namespace cnnc::passes {

void applyDtypePolicy(ir::Graph &g, ir::DtypePolicy policy) {
  ir::ComputeDtype dtype = ir::policyComputeDtype(policy);
  for (ir::Op &op : g.ops()) {
    if (!(ir::opInfo(op.kind).flags & ir::kContracts))
      continue;
    if (dtype == ir::ComputeDtype::Float32)
      op.attrs.erase(ir::AttrName::ComputeDtype);
    else
      op.attrs.set(ir::AttrName::ComputeDtype, ir::attrEnumName(dtype));
  }
}

} // namespace cnnc::passes
