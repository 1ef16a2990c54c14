// The verifier on graphs built in C++, which can hold what the parser
// rejects.
#include "ir/Verifier.h"
#include "ir/Graph.h"

#include <gtest/gtest.h>

namespace cnnc::ir {
namespace {

// The parser rejects such types; a pass (rebatch) or a C++ caller can make
// them, and their byte sizes overflow.
TEST(Verifier, RejectsTypesOutOfBounds) {
  for (const TensorType &t :
       {f32({int64_t(1) << 40, int64_t(1) << 40}), f32({2, 0}), i32({-1}),
        f32({int64_t(1) << 62, 4})}) {
    Graph g;
    g.addInput("x", t);
    absl::Status s = verifyGraph(g);
    EXPECT_FALSE(s.ok()) << t.str();
    EXPECT_NE(s.message().find("at most 2^48 elements"), std::string::npos)
        << s.message();
  }
  Graph g;
  g.addInput("x", f32({int64_t(1) << 46, 4})); // exactly 2^48: allowed
  EXPECT_TRUE(verifyGraph(g).ok());
}

TEST(TensorType, IsValid) {
  EXPECT_TRUE(f32({}).isValid());
  EXPECT_TRUE(i32({3, 1, 2}).isValid());
  EXPECT_FALSE(f32({3, 0}).isValid());
  EXPECT_FALSE(f32({int64_t(1) << 24, int64_t(1) << 24, 2}).isValid());
}

} // namespace
} // namespace cnnc::ir
