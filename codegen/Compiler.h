// Compiles every kernel of a graph into one LLVM module, optimizes it for the
// host CPU and JIT-compiles it with ORC LLJIT.
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
  bool keepLlvmIr = false; // keep the optimized module's text
  bool keepAsm = false;    // keep the host assembly
};

class CompiledGraph {
public:
  ~CompiledGraph();
  // Kernel of op i (nullptr for ops that need none, such as reshape).
  KernelFn kernel(size_t opIndex) const { return kernels_[opIndex]; }
  size_t numKernels() const { return kernels_.size(); }
  const std::string &llvmIr() const { return llvmIr_; }
  const std::string &assembly() const { return asm_; }
  double compileSeconds() const { return compileSeconds_; }
  const std::string &cpuName() const { return cpu_; }

private:
  friend absl::StatusOr<std::unique_ptr<CompiledGraph>>
  compileGraph(const ir::Graph &, const CompileOptions &);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<KernelFn> kernels_;
  std::string llvmIr_, asm_, cpu_;
  double compileSeconds_ = 0;
};

absl::StatusOr<std::unique_ptr<CompiledGraph>>
compileGraph(const ir::Graph &g, const CompileOptions &options = {});

// Name of the kernel function for op i ("k3_conv2d").
std::string kernelName(const ir::Graph &g, size_t opIndex);

} // namespace cnnc::codegen
