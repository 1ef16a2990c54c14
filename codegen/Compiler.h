// Compiles every kernel of a graph for the host CPU and JIT-links it with
// ORC LLJIT. Kernels are independent functions, so each gets its own LLVM
// module and they are optimized and code-generated on all cores at once;
// the object files persist in the kernel cache (codegen/KernelCache.h), so
// a graph compiled before loads without generating any code.
#pragma once

#include "ir/Graph.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cnnc::codegen {

using KernelFn = void (*)(void *const *args, int64_t tid, int64_t nthreads);

struct CompileOptions {
  // Keep the optimized LLVM IR / host assembly of all kernels, as one
  // module's text (for --emit); such compiles bypass the kernel cache.
  bool keepLlvmIr = false;
  bool keepAsm = false;
  bool useCache = true;
  // The kernel cache; empty: defaultKernelCacheDir() ($CNNC_CACHE_DIR, ...).
  std::string cacheDir;
  // Threads that optimize and generate code; 0: one per core.
  int threads = 0;
  // Generate code for this x86-64 CPU ("znver5") instead of the host's;
  // only with keepLlvmIr or keepAsm (the kernels need not run here).
  std::string targetCpu;
};

// Whether the host has AVX512_BF16 (vdpbf16ps), which bfloat16 pair
// operands (the dtype-policy pass's `pairs`) are for.
bool hostHasBfloat16Dot();
// Whether the x86-64 CPU of that name (CompileOptions::targetCpu) has it;
// an error for a name LLVM does not know.
absl::StatusOr<bool> targetHasBfloat16Dot(const std::string &cpu);

// Where compile time went. Per-stage times are summed over the threads.
struct CompileStats {
  bool cacheHit = false;
  int kernels = 0;
  int threads = 1;
  size_t objectBytes = 0;
  double keySeconds = 0;      // host detection and the cache key
  double generateSeconds = 0; // building LLVM IR
  double optimizeSeconds = 0; // the O3 pipeline
  double codegenSeconds = 0;  // machine code
  double linkSeconds = 0;     // JIT linking and symbol lookup
  double totalSeconds = 0;    // wall clock of compileGraph
};

class CompiledGraph {
public:
  ~CompiledGraph();
  // Kernel of op i (nullptr for ops that need none, such as reshape).
  KernelFn kernel(size_t opIndex) const { return kernels_[opIndex]; }
  size_t numKernels() const { return kernels_.size(); }
  const std::string &llvmIr() const { return llvmIr_; }
  const std::string &assembly() const { return asm_; }
  double compileSeconds() const { return stats_.totalSeconds; }
  const CompileStats &stats() const { return stats_; }
  const std::string &cpuName() const { return cpu_; }

private:
  friend absl::StatusOr<std::unique_ptr<CompiledGraph>>
  compileGraph(const ir::Graph &, const CompileOptions &);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<KernelFn> kernels_;
  std::string llvmIr_, asm_, cpu_;
  CompileStats stats_;
};

absl::StatusOr<std::unique_ptr<CompiledGraph>>
compileGraph(const ir::Graph &g, const CompileOptions &options = {});

// compileGraph through a process-wide memo of the graphs compiled last (at
// most kCompiledGraphMemo, by their kernel cache key): a model built again
// with the same shapes, such as the next trial of a hyper-parameter search,
// shares the linked kernels instead of loading and linking them again. The
// kernels are pure functions of their arguments, so executors on several
// threads may share them. Compiles that keep IR or assembly text bypass it.
inline constexpr size_t kCompiledGraphMemo = 8;
absl::StatusOr<std::shared_ptr<const CompiledGraph>>
compileGraphShared(const ir::Graph &g, const CompileOptions &options = {});

// Name of the kernel function for op i ("k3_conv2d").
std::string kernelName(const ir::Graph &g, size_t opIndex);

// The kernel cache key of g on this host: everything the objects depend on.
// Exposed for tests.
std::string kernelCacheKey(const ir::Graph &g, const std::string &cpu,
                           const std::string &features);

} // namespace cnnc::codegen
