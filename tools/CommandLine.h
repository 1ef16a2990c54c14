// The cnnc command's flags.
#pragma once

#include "cnnc/cnnc.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cnnc::tools {

struct Options {
  std::string modelPath;
  bool train = false, evaluate = false, help = false, version = false;
  bool predict = false;
  std::vector<std::string> predictPaths; // images and directories
  std::optional<int64_t> topK;
  std::string outputPath; // --output: predictions as CSV
  std::string emit;       // ir | train-ir | fused-ir | llvm | asm
  std::string targetCpu;  // --emit=llvm|asm for another CPU (znver5)
  std::optional<int64_t> epochs, batchSize, limit, threads;
  std::optional<double> learningRate;
  std::optional<std::string> dtypePolicy; // --dtype-policy
  std::optional<uint64_t> seed;
  bool noShuffle = false, profile = false;
  std::string dataDir, historyPath, plotPath, savePath, loadPath;
  std::string loadByNamePath;            // --load-by-name
  bool tune = false;                     // --tune: run the file's search
  std::string tuneDir;                   // --tune-dir (default: MODEL_tune)
  std::optional<int64_t> parallelTrials; // --parallel-trials
  // Pass instrumentation of the compile pipelines.
  bool printAfterAll = false, verifyEach = false;
  std::vector<std::string> printAfter; // pass names, in flag order
};

// Parses argv; a bad flag or value is a one-line error.
Result<Options> parseCommandLine(const std::vector<std::string> &args);

extern const char kUsage[];

} // namespace cnnc::tools
