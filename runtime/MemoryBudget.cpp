#include "runtime/MemoryBudget.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace cnnc::runtime {

namespace {

std::string gigabytes(int64_t bytes) {
  return fmt::format("{:.1f} GB", static_cast<double>(bytes) / 1e9);
}

// Moment tensors the optimizer keeps per weight.
int optimizerSlots(const ir::OptimizerSpec &o) {
  switch (o.kind) {
  case ir::OptimizerKind::Adam:
    return 2;
  case ir::OptimizerKind::RMSprop:
    return 1;
  case ir::OptimizerKind::SGD:
    return o.momentum > 0 ? 1 : 0;
  }
  return 2;
}

} // namespace

int64_t availableMemoryBytes() {
  if (const char *limit = std::getenv("CNNC_MEMORY_LIMIT")) {
    char *end = nullptr;
    long long v = std::strtoll(limit, &end, 10);
    if (end != limit && *end == '\0' && v > 0)
      return v;
  }
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit)
    if (key == "MemAvailable:")
      return kb * 1024;
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? int64_t(pages) * size : INT64_MAX;
}

absl::Status checkWeightMemory(const ir::Graph &forward,
                               const ir::TrainingSpec &spec) {
  int64_t weights = 0, largest = -1;
  for (size_t i = 0; i < forward.values().size(); ++i) {
    const ir::Value &v = forward.values()[i];
    if (v.kind != ir::ValueKind::Param && v.kind != ir::ValueKind::State)
      continue;
    weights += v.type.byteSize();
    if (largest < 0 ||
        v.type.byteSize() > forward.values()[largest].type.byteSize())
      largest = static_cast<int64_t>(i);
  }
  // Types hold at most 2^48 elements, so this cannot overflow.
  int64_t need = weights * (2 + optimizerSlots(spec.optimizer));
  int64_t budget = availableMemoryBytes();
  if (need <= budget || largest < 0)
    return absl::OkStatus();
  const ir::Value &big = forward.values()[largest];
  return absl::ResourceExhaustedError(fmt::format(
      "the model needs {} for its weights, their gradients and the "
      "optimizer's state, more than the {} of memory available (largest "
      "weight: {} {}, {})",
      gigabytes(need), gigabytes(budget), big.name, big.type.str(),
      gigabytes(big.type.byteSize())));
}

absl::Status checkAllocation(int64_t bytes, const std::string &what) {
  int64_t budget = availableMemoryBytes();
  if (bytes <= budget)
    return absl::OkStatus();
  return absl::ResourceExhaustedError(
      fmt::format("{} needs {}, more than the {} of memory available", what,
                  gigabytes(bytes), gigabytes(budget)));
}

} // namespace cnnc::runtime
