// mul and add against the reference interpreter: the exact float64 result
// rounded once is the f32 operation's, so the comparison is exact.
#include "KernelTestUtil.h"

#include <gtest/gtest.h>

namespace cnnc::testing {
namespace {

TEST(ElementwiseKernels, MulAndAddMatchReferenceOnOddSizes) {
  std::mt19937 rng(7);
  for (int64_t n : {1, 15, 16, 17, 1000, 4099}) {
    for (int threads : {1, 2, 3}) {
      auto a = randomFloats(rng, n), b = randomFloats(rng, n);
      std::vector<HostTensor> operands = {HostTensor::floats({n}, a),
                                          HostTensor::floats({n}, b)};
      auto mul = runOp(ir::OpKind::Mul, operands, {}, threads);
      auto add = runOp(ir::OpKind::Add, operands, {}, threads);
      std::vector<float> wantMul =
          toFloat(interpret1(ir::OpKind::Mul, operands, {}));
      std::vector<float> wantAdd =
          toFloat(interpret1(ir::OpKind::Add, operands, {}));
      EXPECT_EQ(mul.results[0].f, wantMul) << "n=" << n;
      EXPECT_EQ(add.results[0].f, wantAdd) << "n=" << n;
    }
  }
}

} // namespace
} // namespace cnnc::testing
