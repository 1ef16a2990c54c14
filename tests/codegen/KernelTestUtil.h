// JIT plumbing for the kernel tests: run ops through the JIT on host
// buffers, and run the same op through the reference interpreter
// (common/Interpreter.h), the one reference every kernel test compares with.
#pragma once

#include "codegen/Compiler.h"
#include "common/Interpreter.h"
#include "ir/Graph.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <tuple>
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

// A shape rule's refusal: an error of one line that says `says`.
inline void expectRefused(const absl::StatusOr<std::vector<ir::TensorType>> &r,
                          const std::string &says, const std::string &what) {
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_NE(std::string(r.status().message()).find(says), std::string::npos)
      << r.status();
  EXPECT_EQ(std::string(r.status().message()).find('\n'), std::string::npos);
}

// Largest |a-b| / max(1, |b|).
double maxRelError(const std::vector<float> &a, const std::vector<double> &b);
double maxRelError(const std::vector<float> &a, const std::vector<float> &b);
double maxRelError(const std::vector<double> &a, const std::vector<double> &b);

inline std::vector<double> toDouble(const std::vector<float> &v) {
  return {v.begin(), v.end()};
}
// Each value rounded to float once.
inline std::vector<float> toFloat(const std::vector<double> &v) {
  return {v.begin(), v.end()};
}

// ---- The reference: the interpreter on the same op ----

// A HostTensor as an interpreter operand (i32 as integral doubles).
OpOperand refOperand(const HostTensor &t);
// A float64 operand.
inline OpOperand refOperand(std::vector<int64_t> shape,
                            std::vector<double> data) {
  return {ir::f32(std::move(shape)), std::move(data)};
}

// The interpreter running `kind` on these operands; fails the current test
// (and returns nothing) when it cannot.
OpOutcome interpret(ir::OpKind kind, const std::vector<HostTensor> &operands,
                    const ir::Attrs &attrs);
OpOutcome interpretRef(ir::OpKind kind, std::vector<OpOperand> operands,
                       const ir::Attrs &attrs);
// Result `i` of the above (empty when it failed).
inline std::vector<double> interpret1(ir::OpKind kind,
                                      const std::vector<HostTensor> &operands,
                                      const ir::Attrs &attrs, size_t i = 0) {
  OpOutcome o = interpret(kind, operands, attrs);
  return i < o.results.size() ? o.results[i] : std::vector<double>{};
}
inline std::vector<double> interpretRef1(ir::OpKind kind,
                                         std::vector<OpOperand> operands,
                                         const ir::Attrs &attrs, size_t i = 0) {
  OpOutcome o = interpretRef(kind, std::move(operands), attrs);
  return i < o.results.size() ? o.results[i] : std::vector<double>{};
}

// ---- Geometry of windowed ops ----

// Window geometry of a conv or pool op on x [n, h, w, c].
struct Window {
  int64_t n, h, w, c;
  int64_t kh, kw;
  int64_t sh, sw;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;

  int64_t oh() const { return (h + pt + pb - kh) / sh + 1; }
  int64_t ow() const { return (w + pl + pr - kw) / sw + 1; }
  // TensorFlow "same" padding (else "valid", no padding).
  Window &same() {
    std::tie(pt, pb) = ir::samePadding(h, kh, sh);
    std::tie(pl, pr) = ir::samePadding(w, kw, sw);
    return *this;
  }
  std::vector<int64_t> strides() const { return {sh, sw}; }
  std::vector<int64_t> padding() const { return {pt, pl, pb, pr}; }
  std::vector<int64_t> xShape() const { return {n, h, w, c}; }
  std::string str() const {
    return fmt::format("x[{},{},{},{}] window {}x{} strides {},{} padding "
                       "{},{},{},{}",
                       n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr);
  }
  // Input coordinate of window tap k of output i along an axis, or -1 when
  // it falls in the padding.
  int64_t inRow(int64_t o, int64_t k) const {
    int64_t i = o * sh - pt + k;
    return i >= 0 && i < h ? i : -1;
  }
  int64_t inCol(int64_t o, int64_t k) const {
    int64_t i = o * sw - pl + k;
    return i >= 0 && i < w ? i : -1;
  }
};

// ---- Running many ops or steps through the JIT ----

struct OpCall {
  ir::OpKind kind;
  std::vector<HostTensor> operands; // f32, single result
  ir::Attrs attrs;
};

// Compiles all calls as independent ops of one graph (a single JIT compile:
// its fixed cost dominates these tests) and runs each op's kernel once per
// thread count; out[call][t] is the result with threadCounts[t] threads.
inline std::vector<std::vector<std::vector<float>>>
runOps(const std::vector<OpCall> &calls, const std::vector<int> &threadCounts) {
  ir::Graph g("test");
  std::vector<ir::ValueId> results;
  for (const OpCall &call : calls) {
    std::vector<ir::ValueId> ids;
    for (const HostTensor &t : call.operands)
      ids.push_back(g.addInput("a", t.type)); // names get unique suffixes
    auto r = g.create1(call.kind, ids, call.attrs);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok())
      return {};
    results.push_back(*r);
  }
  auto compiled = codegen::compileGraph(g);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok())
    return {};
  std::vector<std::vector<std::vector<float>>> out(calls.size());
  for (size_t k = 0; k < calls.size(); ++k) {
    codegen::KernelFn fn = (*compiled)->kernel(k);
    for (int threads : threadCounts) {
      std::vector<float> result(g.type(results[k]).numElements(),
                                std::nanf(""));
      std::vector<void *> args;
      for (const HostTensor &t : calls[k].operands)
        args.push_back(const_cast<float *>(t.f.data()));
      args.push_back(result.data());
      for (int t = 0; t < threads; ++t)
        fn(args.data(), t, threads);
      out[k].push_back(std::move(result));
    }
  }
  return out;
}

class CompiledOp {
public:
  // Compiles `kind` on operands of these types and kinds (their values are
  // ignored). Fails the current test on error.
  CompiledOp(ir::OpKind kind, const std::vector<HostTensor> &operands,
             const ir::Attrs &attrs) {
    std::vector<ir::ValueId> ids;
    for (size_t k = 0; k < operands.size(); ++k) {
      std::string name = "a";
      name += std::to_string(k);
      if (operands[k].kind == ir::ValueKind::Param)
        ids.push_back(graph_.addParam(name, operands[k].type));
      else if (operands[k].kind == ir::ValueKind::State)
        ids.push_back(graph_.addState(name, operands[k].type));
      else
        ids.push_back(graph_.addInput(name, operands[k].type));
    }
    auto results = graph_.create(kind, ids, attrs);
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok())
      return;
    results_ = *results;
    auto compiled = codegen::compileGraph(graph_);
    EXPECT_TRUE(compiled.ok()) << compiled.status();
    if (compiled.ok())
      compiled_ = *std::move(compiled);
  }

  bool ok() const { return compiled_ && compiled_->kernel(0); }

  // Calls the kernel for tid 0..nthreads-1 on `operands` (updated in place
  // by in-place ops); returns the results, pre-filled with NaN / -1 so that
  // unwritten elements show.
  std::vector<HostTensor> run(std::vector<HostTensor> &operands,
                              int nthreads) const {
    std::vector<HostTensor> out;
    if (!ok()) {
      ADD_FAILURE() << "op did not compile";
      return out;
    }
    for (ir::ValueId r : results_) {
      HostTensor t{graph_.type(r), {}, {}};
      if (t.type.dtype == ir::DType::F32)
        t.f.assign(t.type.numElements(), std::nanf(""));
      else
        t.i.assign(t.type.numElements(), -1);
      out.push_back(std::move(t));
    }
    std::vector<void *> args;
    auto data = [](HostTensor &t) -> void * {
      return t.type.dtype == ir::DType::F32 ? (void *)t.f.data()
                                            : (void *)t.i.data();
    };
    for (HostTensor &t : operands)
      args.push_back(data(t));
    for (HostTensor &t : out)
      args.push_back(data(t));
    for (int t = 0; t < nthreads; ++t)
      compiled_->kernel(0)(args.data(), t, nthreads);
    return out;
  }

  // Runs on copies of `operands` with 1, 2 and 3 threads, expects all three
  // runs to agree bit for bit (results and updated operands) and returns the
  // single-thread run.
  OpRunResult runAllThreadCounts(const std::vector<HostTensor> &operands,
                                 const std::string &what = "") const {
    OpRunResult first;
    for (int threads : {1, 2, 3}) {
      OpRunResult r;
      r.operands = operands;
      r.results = run(r.operands, threads);
      if (threads == 1) {
        first = std::move(r);
        continue;
      }
      expectBitIdentical(r.results, first.results, threads, what);
      expectBitIdentical(r.operands, first.operands, threads, what);
    }
    return first;
  }

private:
  static void expectBitIdentical(const std::vector<HostTensor> &a,
                                 const std::vector<HostTensor> &b, int threads,
                                 const std::string &what) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      bool same = a[k].f.size() == b[k].f.size() &&
                  a[k].i.size() == b[k].i.size() &&
                  std::memcmp(a[k].f.data(), b[k].f.data(),
                              a[k].f.size() * sizeof(float)) == 0 &&
                  std::memcmp(a[k].i.data(), b[k].i.data(),
                              a[k].i.size() * sizeof(int32_t)) == 0;
      EXPECT_TRUE(same) << what << ": tensor " << k << " with " << threads
                        << " threads differs from 1 thread";
    }
  }

  ir::Graph graph_{"test"};
  std::vector<ir::ValueId> results_;
  std::unique_ptr<codegen::CompiledGraph> compiled_;
};

// Compile once, run at 1/2/3 threads (bit-identical), return the 1-thread
// run.
inline OpRunResult runChecked(ir::OpKind kind,
                              const std::vector<HostTensor> &operands,
                              const ir::Attrs &attrs,
                              const std::string &what = "") {
  CompiledOp op(kind, operands, attrs);
  if (!op.ok())
    return {};
  return op.runAllThreadCounts(operands, what);
}

// Largest |got - want| / (scale + |want|): scale is the magnitude below
// which absolute error counts, e.g. the sum of |terms| of a dot product.
inline double maxScaledError(const std::vector<float> &got,
                             const std::vector<double> &want,
                             const std::vector<double> &scale) {
  EXPECT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    double e = std::fabs(got[i] - want[i]) / (scale[i] + std::fabs(want[i]));
    if (!(e <= worst))
      worst = std::isnan(e) ? INFINITY : e;
  }
  return worst;
}

// Central finite difference of the scalar loss L(x) = sum(r * f(x)) at
// coordinate i of x, all in float64.
inline double finiteDifference(
    const std::function<std::vector<double>(const std::vector<double> &)> &f,
    std::vector<double> x, const std::vector<double> &r, int64_t i, double h) {
  auto loss = [&](const std::vector<double> &v) {
    std::vector<double> y = f(v);
    double l = 0;
    for (size_t k = 0; k < y.size(); ++k)
      l += r[k] * y[k];
    return l;
  };
  double x0 = x[i];
  x[i] = x0 + h;
  double up = loss(x);
  x[i] = x0 - h;
  double down = loss(x);
  return (up - down) / (2 * h);
}

// Central difference of f at x along coordinate i.
template <typename F>
double centralDifference(F f, std::vector<double> x, size_t i, double h) {
  double x0 = x[i];
  x[i] = x0 + h;
  double up = f(x);
  x[i] = x0 - h;
  double down = f(x);
  return (up - down) / (2 * h);
}

} // namespace cnnc::testing
