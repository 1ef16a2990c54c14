// The per-kernel profile table of `cnnc --profile` and cnnc-bench.
#include "runtime/Profile.h"
#include "common/RunTool.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cnnc::runtime {
namespace {

using cnnc::testing::lines;

TEST(Profile, EmptyProfileIsEmptyTable) {
  EXPECT_EQ(formatProfile({}), "");
  EXPECT_EQ(formatProfile({{"k0_add", "add", 1.0, 0, 10}}), "");
}

TEST(Profile, RowsSlowestFirstWithRatesAndShares) {
  // 100 calls each: conv 0.3 s at 2e9 FLOPs/call = 666.7 GFLOP/s, 75% of
  // the step; add 0.1 s, 25%.
  std::string t = formatProfile({{"k1_add", "add", 0.1, 100, 1e6},
                                 {"k0_conv2d", "conv2d", 0.3, 100, 2e9}});
  std::vector<std::string> l = lines(t);
  ASSERT_EQ(l.size(), 4u) << t; // header, two kernels, total
  EXPECT_EQ(l[0].find("kernel"), 0u);
  EXPECT_NE(l[0].find("GFLOP/s"), std::string::npos);
  EXPECT_EQ(l[0].find("% peak"), std::string::npos);
  EXPECT_EQ(l[1].find("k0_conv2d"), 0u);
  EXPECT_NE(l[1].find(" 3.0000 "), std::string::npos) << l[1]; // ms/call
  EXPECT_NE(l[1].find(" 666.7 "), std::string::npos) << l[1];
  EXPECT_NE(l[1].find(" 75.0%"), std::string::npos) << l[1];
  EXPECT_EQ(l[2].find("k1_add"), 0u);
  EXPECT_NE(l[2].find(" 25.0%"), std::string::npos) << l[2];
  EXPECT_EQ(l[3].find("total (per step)"), 0u);
  EXPECT_NE(l[3].find(" 4.0000 "), std::string::npos) << l[3];
  EXPECT_NE(l[3].find(" 100.0%"), std::string::npos) << l[3];
}

TEST(Profile, PeakColumnAndMergedBatchSizes) {
  // The same kernel from the full-batch and the tail executor is one row,
  // its FLOPs weighted by calls: (10 * 4e9 + 2 * 1e9) / 0.042 s = 1000
  // GFLOP/s, half of a 2000 GFLOP/s peak.
  std::string t = formatProfile({{"k0_conv2d", "conv2d", 0.040, 10, 4e9},
                                 {"k0_conv2d", "conv2d", 0.002, 2, 1e9}},
                                2000);
  std::vector<std::string> l = lines(t);
  ASSERT_EQ(l.size(), 3u) << t;
  EXPECT_NE(l[0].find("% peak"), std::string::npos);
  EXPECT_NE(l[1].find(" 12 "), std::string::npos) << l[1];
  EXPECT_NE(l[1].find(" 1000.0 "), std::string::npos) << l[1];
  EXPECT_NE(l[1].find(" 50.0%"), std::string::npos) << l[1];
}

// A fused kernel's row names its stages, so that the table says what the
// kernel computes; the columns stay aligned past the longer label.
TEST(Profile, FusedKernelsListTheirStages) {
  std::string t = formatProfile(
      {{"k2_conv2d_fused", "conv2d_fused(bias_add, activation)", 0.3, 10, 1e9},
       {"k0_add", "add", 0.1, 10, 1e6}});
  std::vector<std::string> l = lines(t);
  ASSERT_EQ(l.size(), 4u) << t;
  EXPECT_EQ(l[1].find("k2_conv2d_fused (bias_add, activation) "), 0u) << t;
  EXPECT_EQ(l[2].find("k0_add "), 0u) << t;
  EXPECT_EQ(l[1].find(" 10 "), l[2].find(" 10 ")) << t;
}

} // namespace
} // namespace cnnc::runtime
