// The cnnc command's flags.
#pragma once

#include "absl/status/statusor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cnnc::tools {

struct Options {
  std::string modelPath;
  bool train = false, evaluate = false, help = false, version = false;
  std::string emit; // ir | train-ir | llvm | asm
  std::optional<int64_t> epochs, batchSize, limit, threads;
  std::optional<double> learningRate;
  std::optional<uint64_t> seed;
  bool noShuffle = false, profile = false;
  std::string dataDir, historyPath, plotPath, savePath, loadPath;
};

// Parses argv; a bad flag or value is a one-line error.
absl::StatusOr<Options> parseCommandLine(const std::vector<std::string> &args);

extern const char kUsage[];

} // namespace cnnc::tools
