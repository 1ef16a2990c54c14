// Forward convolutions whose taps are spread out (`dilations`): conv2d and
// conv2d_fused (bias + relu + max pool) against the reference interpreter,
// with row and column dilations, strides, and padding on every side (rows
// whose first taps fall in the padding bound their tap loop at run time),
// float32; every thread count bit-identical.
#include "GraphRunner.h"

#include <gtest/gtest.h>

#include <cstring>

namespace cnnc::testing {
namespace {

using ir::OpKind;
using ir::ValueId;

struct Case {
  std::vector<int64_t> x;       // [N, H, W, C]
  std::vector<int64_t> kernel;  // [KH, KW, C, O]
  std::vector<int64_t> strides; // [sh, sw]
  std::vector<int64_t> padding; // [top, left, bottom, right]
  std::vector<int64_t> dilations;
  bool pool;

  std::string str() const {
    return fmt::format("x{} kernel{} strides{} padding{} dilations{}{}",
                       ir::shapeStr(x), ir::shapeStr(kernel),
                       ir::shapeStr(strides), ir::shapeStr(padding),
                       ir::shapeStr(dilations), pool ? " pooled" : "");
  }
};

TEST(Dilations, ConvolutionsMatchTheInterpreter) {
  std::mt19937 rng(61);
  std::vector<Case> cases = {
      {{2, 9, 10, 1}, {3, 3, 1, 8}, {1, 1}, {0, 0, 0, 0}, {1, 2}, false},
      {{2, 11, 12, 3}, {3, 3, 3, 17}, {1, 1}, {2, 2, 2, 2}, {2, 2}, false},
      {{1, 13, 9, 5}, {2, 3, 5, 33}, {2, 1}, {1, 0, 1, 1}, {3, 2}, false},
      {{3, 8, 14, 2}, {3, 2, 2, 16}, {1, 2}, {2, 1, 0, 3}, {2, 3}, false},
      {{2, 12, 12, 1}, {3, 3, 1, 32}, {1, 1}, {0, 0, 0, 0}, {1, 2}, true},
      {{2, 14, 13, 4}, {3, 3, 4, 9}, {1, 1}, {2, 2, 2, 2}, {2, 2}, true}};
  for (const Case &c : cases) {
    std::string what = c.str();
    Builder b;
    ValueId x = b.input(c.x, randomFloats(rng, ir::f32(c.x).numElements()));
    ValueId k =
        b.input(c.kernel, randomFloats(rng, ir::f32(c.kernel).numElements()));
    int64_t o = c.kernel[3];
    ValueId bias = b.input({o}, randomFloats(rng, o));
    ir::Attrs attrs{{ir::AttrName::Strides, c.strides},
                    {ir::AttrName::Padding, c.padding},
                    {ir::AttrName::Dilations, c.dilations}};
    ValueId y = b.op1(OpKind::Conv2D, {x, k}, attrs);
    ir::Attrs fused = attrs;
    std::vector<std::string> stages{"bias_add", "activation"};
    if (c.pool) {
      stages.push_back("max_pool2d");
      fused.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
    }
    fused.set(ir::AttrName::Epilogue, stages);
    fused.set(ir::AttrName::Activation, std::string("relu"));
    ValueId yf = b.op1(OpKind::Conv2DFused, {x, k, bias}, fused);
    ASSERT_GE(y, 0) << what;
    ASSERT_GE(yf, 0) << what;
    // The output size of the dilated window, (k - 1) * d + 1 wide.
    const std::vector<int64_t> &ys = b.g.type(y).shape;
    for (int a = 0; a < 2; ++a)
      EXPECT_EQ(ys[1 + a], (c.x[1 + a] + c.padding[a] + c.padding[2 + a] -
                            (c.kernel[a] - 1) * c.dilations[a] - 1) /
                                   c.strides[a] +
                               1)
          << what;
    Runs runs = b.run();
    ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;
    for (ValueId v : {y, yf}) {
      EXPECT_LT(maxRelError(runs[0].f.at(v), runs.ref[v]), 2e-5) << what;
      for (size_t t = 1; t < runs.size(); ++t)
        EXPECT_EQ(0, std::memcmp(runs[t].f.at(v).data(), runs[0].f.at(v).data(),
                                 runs[0].f.at(v).size() * 4))
            << what << ": " << kGraphThreads[t] << " threads";
    }
  }
}

} // namespace
} // namespace cnnc::testing
