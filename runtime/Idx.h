// Reader for the IDX files of the MNIST database (http://yann.lecun.com/exdb/
// mnist): gzip-compressed or raw, detected from the content.
#pragma once

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::runtime {

// u8 images, row-major [count, rows, cols, channels]; IDX files (magic
// 0x00000803) hold one channel.
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0, channels = 1;
  std::vector<uint8_t> pixels;

  int64_t imageSize() const { return rows * cols * channels; }
};

absl::StatusOr<IdxImages> readIdxImages(const std::string &path);

// u8 labels (magic 0x00000801), [count]. Class range is the caller's check.
absl::StatusOr<std::vector<uint8_t>> readIdxLabels(const std::string &path);

struct LabeledImages {
  IdxImages images;
  std::vector<uint8_t> labels;
  // What each label means (an image folder's class directories); empty for
  // IDX data, whose classes are only numbers.
  std::vector<std::string> classNames;
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
