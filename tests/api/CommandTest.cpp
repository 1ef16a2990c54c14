// The cnnc command's pass-instrumentation flags and --emit=fused-ir, which it
// implements through the public API (tests/e2e/CliTest.cpp covers the rest).
#include "common/RunTool.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using cnnc::testing::RunResult;

RunResult runCnnc(const std::string &args) {
  fs::path dir = fs::temp_directory_path() /
                 ("cnnc_api_cmd_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  RunResult r = cnnc::testing::runTool(CNNC_BINARY_DIR "/cnnc " + args, dir);
  fs::remove_all(dir);
  return r;
}

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

const std::string kModel = CNNC_SOURCE_DIR "/models/mnist.dsl";

TEST(CommandTest, PrintAfterAllPrintsEveryPassOfThePipeline) {
  RunResult r = runCnnc(kModel + " --emit=fused-ir --print-after-all");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("// -----// IR after autodiff //----- //\n"
                        "graph @mnist_cnn_train {",
                        0),
            0u)
      << r.out.substr(0, 200);
  EXPECT_GE(count(r.out, "// -----// IR after dce //----- //\n"), 1u);
  // The dumps, then the result itself.
  size_t last = r.out.rfind("// -----// IR after ");
  size_t result = r.out.rfind("graph @mnist_cnn_train {");
  EXPECT_LT(last, result);
}

TEST(CommandTest, PrintAfterSelectsPassesAndRejectsUnknownOnes) {
  RunResult r = runCnnc(kModel + " --emit=train-ir --print-after=dce");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GE(count(r.out, "// -----// IR after dce //----- //"), 1u);
  EXPECT_EQ(count(r.out, "// -----// IR after "),
            count(r.out, "// -----// IR after dce //----- //"));

  RunResult bad = runCnnc(kModel + " --emit=ir --print-after=dse");
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.out, "");
  // One line that lists the passes.
  EXPECT_EQ(bad.err.rfind("cnnc: error: --print-after: unknown pass 'dse'; "
                          "known passes: autodiff, ",
                          0),
            0u)
      << bad.err;
  EXPECT_NE(bad.err.find(", dce"), std::string::npos) << bad.err;
  EXPECT_EQ(count(bad.err, "\n"), 1u);
  RunResult empty = runCnnc(kModel + " --print-after=");
  EXPECT_EQ(empty.status, 1);
  EXPECT_EQ(empty.err.rfind("cnnc: error: --print-after: ", 0), 0u)
      << empty.err;
}

TEST(CommandTest, VerifyEachAndFusedIr) {
  RunResult fused = runCnnc(kModel + " --emit=fused-ir --verify-each");
  ASSERT_EQ(fused.status, 0) << fused.err;
  EXPECT_EQ(fused.out.rfind("graph @mnist_cnn_train {", 0), 0u);
  EXPECT_NE(fused.out.find("adam_update("), std::string::npos);
  EXPECT_EQ(fused.err, "");
}

TEST(CommandTest, ThreadsAreBounded) {
  RunResult r = runCnnc(kModel + " --threads 5000");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "cnnc: error: --threads: expects at most 1024, got 5000\n");
}

} // namespace
