// Linux perf's map of JIT code, /tmp/perf-<pid>.map (one "start size name"
// line per function, in hex), so that `perf report` names the kernels
// instead of showing bare addresses. Written when CNNC_PERF_MAP is set:
// see docs/performance.md, "Profiling the kernels with perf".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cnnc::codegen {

bool perfMapEnabled();

// The sizes of the functions `object` defines, by symbol name; empty when
// it is not an object file.
std::unordered_map<std::string, uint64_t>
functionSizes(std::string_view object);

// This process's map: /tmp/perf-<pid>.map, where perf looks for it.
std::string perfMapPath();

// Appends one function to the map (the file is shared by every compile of
// the process; lines are written whole under a lock).
void addToPerfMap(uint64_t start, uint64_t size, const std::string &name);

} // namespace cnnc::codegen
