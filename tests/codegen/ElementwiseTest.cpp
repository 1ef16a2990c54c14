#include "KernelTestUtil.h"

#include <gtest/gtest.h>

namespace cnnc::testing {
namespace {

TEST(ElementwiseKernels, MulAndAddMatchReferenceOnOddSizes) {
  std::mt19937 rng(7);
  for (int64_t n : {1, 15, 16, 17, 1000, 4099}) {
    for (int threads : {1, 2, 3}) {
      auto a = randomFloats(rng, n), b = randomFloats(rng, n);
      auto mul = runOp(ir::OpKind::Mul,
                       {HostTensor::floats({n}, a), HostTensor::floats({n}, b)},
                       {}, threads);
      auto add = runOp(ir::OpKind::Add,
                       {HostTensor::floats({n}, a), HostTensor::floats({n}, b)},
                       {}, threads);
      std::vector<float> wantMul(n), wantAdd(n);
      for (int64_t i = 0; i < n; ++i) {
        wantMul[i] = a[i] * b[i];
        wantAdd[i] = a[i] + b[i];
      }
      EXPECT_EQ(mul.results[0].f, wantMul) << "n=" << n;
      EXPECT_EQ(add.results[0].f, wantAdd) << "n=" << n;
    }
  }
}

} // namespace
} // namespace cnnc::testing
