// Shared by the dense, elementwise, loss and optimizer kernel tests: a runner
// that compiles a one-op graph once and runs it many times (several thread
// counts, several optimizer steps), and float64 reference implementations.
#pragma once

#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace cnnc::testing {

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

inline std::vector<double> toDouble(const std::vector<float> &v) {
  return {v.begin(), v.end()};
}

// C[m,n] = op(A) op(B) in float64; absSum gets sum_k |A(i,k) B(k,j)|.
inline std::vector<double> matmulRef(const std::vector<double> &a,
                                     const std::vector<double> &b, int64_t m,
                                     int64_t n, int64_t k, bool ta, bool tb,
                                     std::vector<double> *absSum = nullptr) {
  std::vector<double> c(m * n, 0.0);
  if (absSum)
    absSum->assign(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, as = 0;
      for (int64_t q = 0; q < k; ++q) {
        double x = ta ? a[q * m + i] : a[i * k + q];
        double y = tb ? b[j * k + q] : b[q * n + j];
        s += x * y;
        as += std::fabs(x * y);
      }
      c[i * n + j] = s;
      if (absSum)
        (*absSum)[i * n + j] = as;
    }
  return c;
}

inline double activationRef(const std::string &kind, double x) {
  if (kind == "sigmoid")
    return 1 / (1 + std::exp(-x));
  if (kind == "tanh")
    return std::tanh(x);
  return x > 0 ? x : 0;
}

// Mean sparse softmax cross-entropy of logits[n,c]; rows with a label
// outside [0, c) add 0. probs (if given) gets the softmax.
inline double softmaxCrossEntropyRef(const std::vector<double> &logits,
                                     const std::vector<int32_t> &labels,
                                     int64_t n, int64_t c,
                                     std::vector<double> *probs = nullptr) {
  if (probs)
    probs->assign(n * c, 0.0);
  double total = 0;
  for (int64_t r = 0; r < n; ++r) {
    double m = -INFINITY;
    for (int64_t j = 0; j < c; ++j)
      m = std::max(m, logits[r * c + j]);
    double s = 0;
    for (int64_t j = 0; j < c; ++j)
      s += std::exp(logits[r * c + j] - m);
    if (probs)
      for (int64_t j = 0; j < c; ++j)
        (*probs)[r * c + j] = std::exp(logits[r * c + j] - m) / s;
    if (labels[r] >= 0 && labels[r] < c)
      total += std::log(s) + m - logits[r * c + labels[r]];
  }
  return total / static_cast<double>(n);
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
