// sgd_update, adam_update and rmsprop_update: several steps against the
// reference interpreter (the Keras formulas in float64) stepping float64
// copies of the same operands; every step also runs at 1, 2 and 3 threads,
// which must update parameters and state bit-identically. The learning rate
// is an operand: each step sets another one on the same compiled kernel, as
// a schedule does.
#include "KernelTestUtil.h"

#include <fmt/format.h>

namespace cnnc::testing {
namespace {

using ir::OpKind;
using ir::ValueKind;

const int64_t kSizes[] = {1, 17, 288, 4099};

// |got - want| <= rel |want| + abs elementwise.
void expectClose(const std::vector<float> &got, const std::vector<double> &want,
                 double rel, double abs, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= rel * std::fabs(want[i]) + abs) &&
        reported++ < 5)
      ADD_FAILURE() << what << " at " << i << ": got " << got[i] << ", want "
                    << want[i];
}

// Param, gradient, learning rate and state operands; the gradient is
// redrawn every step.
struct OptimizerRun {
  std::vector<HostTensor> operands;
  std::vector<std::vector<double>> ref; // float64 copies of operands

  OptimizerRun(std::mt19937 &rng, int64_t n, int numState, bool randomState) {
    operands.push_back(
        HostTensor::floats({n}, randomFloats(rng, n), ValueKind::Param));
    operands.push_back(HostTensor::floats({n}, randomFloats(rng, n)));
    operands.push_back(HostTensor::floats({}, {0.0f}));
    for (int s = 0; s < numState; ++s) {
      // Second moments must be >= 0; first moments may be anything.
      std::vector<float> v =
          randomState ? randomFloats(rng, n, s == 1 ? 0 : -0.1f, 0.1f)
                      : std::vector<float>(n, 0.0f);
      operands.push_back(HostTensor::floats({n}, v, ValueKind::State));
    }
    for (const HostTensor &t : operands)
      ref.push_back(toDouble(t.f));
  }

  // The rate as the runtime feeds it: rounded to f32, as Keras keeps it.
  void setLearningRate(double lr) {
    operands[2].f = {static_cast<float>(lr)};
    ref[2] = toDouble(operands[2].f);
  }

  void newGradient(std::mt19937 &rng) {
    operands[1].f = randomFloats(rng, operands[1].f.size());
    ref[1] = toDouble(operands[1].f);
  }

  // Runs one step at all thread counts and keeps the updated operands.
  void step(const CompiledOp &op, const std::string &what) {
    OpRunResult r = op.runAllThreadCounts(operands, what);
    ASSERT_EQ(r.operands.size(), operands.size()) << what;
    for (size_t k = 0; k < operands.size(); ++k)
      if (operands[k].type.dtype == ir::DType::F32)
        operands[k].f = r.operands[k].f;
  }

  // The same step by the interpreter on the float64 copies; adam's step
  // number t (1-based) when given.
  void referenceStep(OpKind kind, const ir::Attrs &attrs, int t = 0) {
    std::vector<OpOperand> ops;
    for (size_t k = 0; k < ref.size(); ++k)
      ops.push_back({operands[k].type, ref[k], operands[k].kind});
    if (t > 0)
      ops.push_back(refOperand(HostTensor::ints({}, {t})));
    OpOutcome o = interpretRef(kind, std::move(ops), attrs);
    ASSERT_GE(o.operands.size(), ref.size());
    for (size_t k = 0; k < ref.size(); ++k)
      ref[k] = o.operands[k];
  }

  void expectMatchesReference(const std::string &what) {
    expectClose(operands[0].f, ref[0], 1e-6, 1e-6, what + " param");
    // States such as momentum * v - lr * g can cancel to near 0, so their
    // absolute error is measured against the tensor's scale.
    for (size_t k = 3; k < ref.size(); ++k) {
      double scale = 0;
      for (double v : ref[k])
        scale = std::max(scale, std::fabs(v));
      expectClose(operands[k].f, ref[k], 1e-5, 1e-6 * scale,
                  fmt::format("{} state {}", what, k - 3));
    }
    // The gradient is read-only.
    for (size_t i = 0; i < ref[1].size(); ++i)
      ASSERT_EQ(operands[1].f[i], static_cast<float>(ref[1][i])) << what;
  }
};

struct SgdConfig {
  double lr, momentum;
  bool velocity, nesterov;
};

TEST(OptimizerKernels, SgdMatchesKerasFormula) {
  std::mt19937 rng(51);
  for (SgdConfig c :
       {SgdConfig{0.01, 0.0, false, false}, SgdConfig{0.1, 0.9, true, false},
        SgdConfig{0.05, 0.5, true, true}})
    for (int64_t n : kSizes) {
      std::string what = fmt::format("sgd lr={} momentum={} nesterov={} n={}",
                                     c.lr, c.momentum, c.nesterov, n);
      OptimizerRun run(rng, n, c.velocity ? 1 : 0, false);
      ir::Attrs attrs = {{ir::AttrName::Momentum, c.momentum},
                         {ir::AttrName::Nesterov, int64_t(c.nesterov)}};
      CompiledOp op(OpKind::SgdUpdate, run.operands, attrs);
      for (int step = 1; step <= 5; ++step) {
        run.setLearningRate(c.lr / step);
        run.newGradient(rng);
        run.step(op, what);
        run.referenceStep(OpKind::SgdUpdate, attrs);
        run.expectMatchesReference(fmt::format("{} step {}", what, step));
      }
    }
}

struct AdamConfig {
  double lr, beta1, beta2, epsilon;
};

ir::Attrs adamAttrs(const AdamConfig &c) {
  return {{ir::AttrName::Beta1, c.beta1},
          {ir::AttrName::Beta2, c.beta2},
          {ir::AttrName::Epsilon, c.epsilon}};
}

std::vector<HostTensor> withStep(std::vector<HostTensor> operands, int t) {
  operands.push_back(HostTensor::ints({}, {t}));
  return operands;
}

// Steps 1..10 from zero moments (Keras's start: at step 1 the bias
// correction makes the step about lr * sign(g)).
TEST(OptimizerKernels, AdamMatchesKerasFormulaFromStepOne) {
  std::mt19937 rng(52);
  for (AdamConfig c :
       {AdamConfig{0.001, 0.9, 0.999, 1e-7}, AdamConfig{0.01, 0.8, 0.99, 1e-4}})
    for (int64_t n : kSizes) {
      std::string what =
          fmt::format("adam lr={} b1={} b2={} n={}", c.lr, c.beta1, c.beta2, n);
      OptimizerRun run(rng, n, 2, false);
      CompiledOp op(OpKind::AdamUpdate, withStep(run.operands, 1),
                    adamAttrs(c));
      for (int t = 1; t <= 10; ++t) {
        run.setLearningRate(t == 1 ? c.lr : c.lr * (1 + 0.1 * t));
        run.newGradient(rng);
        std::vector<double> before = run.ref[0];
        run.operands = withStep(run.operands, t);
        run.step(op, what);
        run.operands.pop_back();
        run.referenceStep(OpKind::AdamUpdate, adamAttrs(c), t);
        run.expectMatchesReference(fmt::format("{} step {}", what, t));
        if (t != 1 || c.epsilon > 1e-6)
          continue;
        for (int64_t i = 0; i < n; ++i) {
          if (std::fabs(run.ref[1][i]) > 0.01) {
            EXPECT_NEAR(before[i] - run.operands[0].f[i],
                        std::copysign(c.lr, run.ref[1][i]), 0.01 * c.lr)
                << what << " first step at " << i;
          }
        }
      }
    }
}

// A step far from the start (t = 10 and 1000) on arbitrary moments.
TEST(OptimizerKernels, AdamMatchesKerasFormulaAtLaterSteps) {
  std::mt19937 rng(53);
  const AdamConfig c{0.001, 0.9, 0.999, 1e-7};
  for (int t : {10, 1000})
    for (int64_t n : kSizes) {
      std::string what = fmt::format("adam t={} n={}", t, n);
      OptimizerRun run(rng, n, 2, true);
      run.setLearningRate(c.lr);
      CompiledOp op(OpKind::AdamUpdate, withStep(run.operands, t),
                    adamAttrs(c));
      run.operands = withStep(run.operands, t);
      run.step(op, what);
      run.operands.pop_back();
      run.referenceStep(OpKind::AdamUpdate, adamAttrs(c), t);
      run.expectMatchesReference(what);
    }
}

struct RmspropConfig {
  double lr, rho, epsilon;
};

// Keras 3: ms = rho ms + (1 - rho) g^2; p -= lr g / sqrt(ms + epsilon).
TEST(OptimizerKernels, RmspropMatchesKeras3Formula) {
  std::mt19937 rng(54);
  for (RmspropConfig c :
       {RmspropConfig{0.001, 0.9, 1e-7}, RmspropConfig{0.01, 0.5, 1e-3}})
    for (int64_t n : kSizes) {
      std::string what = fmt::format("rmsprop lr={} rho={} eps={} n={}", c.lr,
                                     c.rho, c.epsilon, n);
      OptimizerRun run(rng, n, 1, false);
      ir::Attrs attrs = {{ir::AttrName::Rho, c.rho},
                         {ir::AttrName::Epsilon, c.epsilon}};
      CompiledOp op(OpKind::RmspropUpdate, run.operands, attrs);
      for (int step = 1; step <= 5; ++step) {
        run.setLearningRate(c.lr * step);
        run.newGradient(rng);
        run.step(op, what);
        run.referenceStep(OpKind::RmspropUpdate, attrs);
        run.expectMatchesReference(fmt::format("{} step {}", what, step));
      }
    }
}

} // namespace
} // namespace cnnc::testing
