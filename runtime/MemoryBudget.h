// Refusing, before any allocation, models whose weights or activations
// cannot fit in memory: a clear error instead of an OOM kill minutes later.
#pragma once

#include "ir/Graph.h"
#include "ir/TrainingSpec.h"

#include "absl/status/status.h"

#include <cstdint>

namespace cnnc::runtime {

// The bytes this process may still allocate: $CNNC_MEMORY_LIMIT (bytes, for
// tests and for sharing a machine) if set, else MemAvailable from
// /proc/meminfo, else the physical memory.
int64_t availableMemoryBytes();

// Weights, their gradients and the optimizer's slots (each the size of the
// weights) against the budget; the error names the largest weight.
absl::Status checkWeightMemory(const ir::Graph &forward,
                               const ir::TrainingSpec &spec);

// One allocation of `bytes` for `what` ("the training step's arena").
absl::Status checkAllocation(int64_t bytes, const std::string &what);

} // namespace cnnc::runtime
