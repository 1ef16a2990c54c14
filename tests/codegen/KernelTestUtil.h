// Runs one IR op through the JIT on host buffers, for kernel tests.
#pragma once

#include "codegen/Compiler.h"
#include "ir/Graph.h"

#include <cstdint>
#include <random>
#include <vector>

namespace cnnc::testing {

struct HostTensor {
  ir::TensorType type;
  std::vector<float> f;   // when type.dtype == F32
  std::vector<int32_t> i; // when type.dtype == I32
  ir::ValueKind kind = ir::ValueKind::Input;

  static HostTensor floats(std::vector<int64_t> shape, std::vector<float> v,
                           ir::ValueKind kind = ir::ValueKind::Input) {
    return {ir::f32(std::move(shape)), std::move(v), {}, kind};
  }
  static HostTensor ints(std::vector<int64_t> shape, std::vector<int32_t> v) {
    return {ir::i32(std::move(shape)), {}, std::move(v)};
  }
};

struct OpRunResult {
  std::vector<HostTensor> results;  // the op's results
  std::vector<HostTensor> operands; // operands after the op (in-place ops)
};

// Builds a one-op graph, compiles it and calls the kernel once per thread id
// 0..nthreads-1 (sequentially: shares must be independent). Fails the
// current test on a compile error.
OpRunResult runOp(ir::OpKind kind, std::vector<HostTensor> operands,
                  ir::Attrs attrs, int nthreads = 1);

std::vector<float> randomFloats(std::mt19937 &rng, int64_t n, float lo = -1,
                                float hi = 1);

// Largest |a-b| / max(1, |b|).
double maxRelError(const std::vector<float> &a, const std::vector<double> &b);
double maxRelError(const std::vector<float> &a, const std::vector<float> &b);

} // namespace cnnc::testing
