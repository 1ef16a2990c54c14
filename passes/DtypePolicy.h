// The dtype-policy pass: applies a dtype policy (ir/DtypePolicies.def) to a
// graph by giving every contraction (an op flagged kContracts in
// ir/Ops.def) the policy's compute_dtype. Runs last in the compile
// pipelines, after fusion, so that fused contractions get it too; the
// kernels round the operands they load (codegen/KernelBuilder.h).
#pragma once

#include "ir/DtypePolicy.h"
#include "ir/Graph.h"

namespace cnnc::passes {

// float32 removes the attribute, so that a float32 graph prints as before.
void applyDtypePolicy(ir::Graph &g, ir::DtypePolicy policy);

} // namespace cnnc::passes
