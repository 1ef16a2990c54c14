#include "KernelTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cnnc::testing {

OpRunResult runOp(ir::OpKind kind, std::vector<HostTensor> operands,
                  ir::Attrs attrs, int nthreads) {
  ir::Graph g("test");
  std::vector<ir::ValueId> ids;
  for (size_t k = 0; k < operands.size(); ++k) {
    std::string name = "a";
    name += std::to_string(k);
    switch (operands[k].kind) {
    case ir::ValueKind::Param:
      ids.push_back(g.addParam(name, operands[k].type));
      break;
    case ir::ValueKind::State:
      ids.push_back(g.addState(name, operands[k].type));
      break;
    default:
      ids.push_back(g.addInput(name, operands[k].type));
    }
  }
  auto results = g.create(kind, ids, attrs);
  EXPECT_TRUE(results.ok()) << results.status();
  OpRunResult out;
  if (!results.ok())
    return out;
  auto compiled = codegen::compileGraph(g);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok())
    return out;
  for (ir::ValueId r : *results) {
    HostTensor t{g.type(r), {}, {}};
    if (t.type.dtype == ir::DType::F32)
      t.f.assign(t.type.numElements(), std::nanf(""));
    else
      t.i.assign(t.type.numElements(), -1);
    out.results.push_back(std::move(t));
  }
  out.operands = std::move(operands);
  std::vector<void *> args;
  for (HostTensor &t : out.operands)
    args.push_back(t.type.dtype == ir::DType::F32 ? (void *)t.f.data()
                                                  : (void *)t.i.data());
  for (HostTensor &t : out.results)
    args.push_back(t.type.dtype == ir::DType::F32 ? (void *)t.f.data()
                                                  : (void *)t.i.data());
  codegen::KernelFn fn = (*compiled)->kernel(0);
  EXPECT_NE(fn, nullptr);
  if (!fn)
    return out;
  for (int t = 0; t < nthreads; ++t)
    fn(args.data(), t, nthreads);
  return out;
}

std::vector<float> randomFloats(std::mt19937 &rng, int64_t n, float lo,
                                float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

namespace {
template <typename T>
double maxRelErrorOf(const std::vector<T> &a, const std::vector<double> &b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    double e = std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(b[i]));
    if (!(e <= worst)) // NaN counts as the worst
      worst = std::isnan(e) ? INFINITY : e;
  }
  return worst;
}
} // namespace

double maxRelError(const std::vector<float> &a, const std::vector<double> &b) {
  return maxRelErrorOf(a, b);
}

double maxRelError(const std::vector<double> &a, const std::vector<double> &b) {
  return maxRelErrorOf(a, b);
}

OpOperand refOperand(const HostTensor &t) {
  std::vector<double> data = t.type.dtype == ir::DType::F32
                                 ? std::vector<double>(t.f.begin(), t.f.end())
                                 : std::vector<double>(t.i.begin(), t.i.end());
  return {t.type, std::move(data), t.kind};
}

OpOutcome interpretRef(ir::OpKind kind, std::vector<OpOperand> operands,
                       const ir::Attrs &attrs) {
  auto out = interpretOp(kind, std::move(operands), attrs);
  EXPECT_TRUE(out.ok()) << "interpreter: " << out.status();
  return out.ok() ? *std::move(out) : OpOutcome{};
}

OpOutcome interpret(ir::OpKind kind, const std::vector<HostTensor> &operands,
                    const ir::Attrs &attrs) {
  std::vector<OpOperand> ref;
  for (const HostTensor &t : operands)
    ref.push_back(refOperand(t));
  return interpretRef(kind, std::move(ref), attrs);
}

double maxRelError(const std::vector<float> &a, const std::vector<float> &b) {
  return maxRelError(a, std::vector<double>(b.begin(), b.end()));
}

} // namespace cnnc::testing
