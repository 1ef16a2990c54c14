// Reader for the IDX files of the MNIST database (http://yann.lecun.com/exdb/
// mnist): gzip-compressed or raw, detected from the content.
#pragma once

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::runtime {

// u8 images (magic 0x00000803), row-major [count, rows, cols].
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;
};

absl::StatusOr<IdxImages> readIdxImages(const std::string &path);

// u8 labels (magic 0x00000801), [count]. Class range is the caller's check.
absl::StatusOr<std::vector<uint8_t>> readIdxLabels(const std::string &path);

struct LabeledImages {
  IdxImages images;
  std::vector<uint8_t> labels;
};

// Loads prefix + split + "-images-idx3-ubyte" and "-labels-idx1-ubyte" (each
// raw, or else with ".gz"); `split` is "train" or "t10k". The prefix is
// concatenated as is, so a directory prefix needs its trailing '/'.
absl::StatusOr<LabeledImages> loadIdxSplit(const std::string &prefix,
                                           const std::string &split);

// Finds the MNIST directory: `explicitDir` alone if non-empty; else the first
// of $CNNC_DATA_DIR, ./data/mnist, <exe dir>/../data/mnist,
// <exe dir>/../../data/mnist, ../shared/data/mnist that holds
// train-images-idx3-ubyte(.gz).
absl::StatusOr<std::string> findMnistDir(const std::string &explicitDir);

} // namespace cnnc::runtime
