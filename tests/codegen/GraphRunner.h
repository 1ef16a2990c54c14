// Runs a whole graph's kernels one op after another, and the reference
// interpreter on the same graph, for kernel tests that need more than one
// op (fused ops against the ops they replace, packed operands and the ops
// that pack them).
#pragma once

#include "KernelTestUtil.h"
#include "common/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace cnnc::testing {

// The thread counts every Builder::run compiles for.
inline const std::vector<int> kGraphThreads = {1, 2, 3};

// Runs every op of g in order on `threads` threads (thread ids one after
// another, as the kernels' shares are independent) with the given inputs;
// returns every buffer by value id: f32, f64, and the others (i32, bf16)
// as i32 words.
struct Buffers {
  std::map<ir::ValueId, std::vector<float>> f;
  std::map<ir::ValueId, std::vector<int32_t>> i;
  std::map<ir::ValueId, std::vector<double>> d;
};

// The JIT's buffers per thread count, and the interpreter's by value id.
struct Runs {
  std::vector<Buffers> jit;
  std::vector<std::vector<double>> ref;

  const Buffers &operator[](size_t t) const { return jit[t]; }
  size_t size() const { return jit.size(); }
};

inline Buffers
runGraph(const ir::Graph &g, const codegen::CompiledGraph &compiled,
         const std::map<ir::ValueId, std::vector<float>> &inputs,
         const std::map<ir::ValueId, std::vector<int32_t>> &intInputs,
         int threads) {
  Buffers b;
  for (size_t v = 0; v < g.values().size(); ++v) {
    const ir::TensorType &t = g.values()[v].type;
    if (t.dtype == ir::DType::F32)
      b.f[v].assign(t.numElements(), std::nanf(""));
    else if (t.dtype == ir::DType::F64)
      b.d[v].assign(t.numElements(), std::nan(""));
    else
      b.i[v].assign(t.numElements(), -7);
  }
  for (const auto &[v, data] : inputs)
    b.f[v] = data;
  for (const auto &[v, data] : intInputs)
    b.i[v] = data;
  for (size_t k = 0; k < g.ops().size(); ++k) {
    const ir::Op &op = g.ops()[k];
    std::vector<void *> args;
    auto ptr = [&](ir::ValueId v) -> void * {
      switch (g.type(v).dtype) {
      case ir::DType::F32:
        return b.f[v].data();
      case ir::DType::F64:
        return b.d[v].data();
      default:
        return b.i[v].data();
      }
    };
    for (ir::ValueId v : op.operands)
      args.push_back(ptr(v));
    for (ir::ValueId v : op.results)
      args.push_back(ptr(v));
    codegen::KernelFn fn = compiled.kernel(k);
    EXPECT_NE(fn, nullptr) << ir::opName(op.kind);
    for (int t = 0; fn && t < threads; ++t)
      fn(args.data(), t, threads);
  }
  return b;
}

// A graph under construction whose ops fail the test on a shape error.
struct Builder {
  ir::Graph g{"fused"};
  std::map<ir::ValueId, std::vector<float>> inputs;
  std::map<ir::ValueId, std::vector<int32_t>> intInputs;

  ir::ValueId input(std::vector<int64_t> shape, std::vector<float> data) {
    ir::ValueId v = g.addInput("in", ir::f32(std::move(shape)));
    inputs[v] = std::move(data);
    return v;
  }
  std::vector<ir::ValueId>
  op(ir::OpKind kind, std::vector<ir::ValueId> operands, ir::Attrs attrs = {}) {
    auto r = g.create(kind, std::move(operands), std::move(attrs));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<ir::ValueId>{};
  }
  ir::ValueId op1(ir::OpKind kind, std::vector<ir::ValueId> operands,
                  ir::Attrs attrs = {}) {
    std::vector<ir::ValueId> r =
        op(kind, std::move(operands), std::move(attrs));
    return r.empty() ? -1 : r[0];
  }

  // Compiles once and runs on every thread count; runs the interpreter on
  // the same graph and inputs.
  Runs run() {
    Runs out;
    Interpreter in(g);
    for (const auto &[v, data] : inputs)
      in[v] = toDouble(data);
    for (const auto &[v, data] : intInputs)
      in[v] = std::vector<double>(data.begin(), data.end());
    absl::Status s = in.run();
    EXPECT_TRUE(s.ok()) << "interpreter: " << s;
    for (size_t v = 0; v < g.values().size(); ++v)
      out.ref.push_back(in[static_cast<ir::ValueId>(v)]);
    auto compiled = codegen::compileGraph(g);
    EXPECT_TRUE(compiled.ok()) << compiled.status();
    if (!compiled.ok())
      return out;
    for (int t : kGraphThreads)
      out.jit.push_back(runGraph(g, **compiled, inputs, intInputs, t));
    return out;
  }
};

} // namespace cnnc::testing
