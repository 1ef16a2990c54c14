// libFuzzer harness for the IDX reader (runtime/Idx.cpp): MNIST images and
// labels, raw or gzip-compressed, as `cnnc --data DIR` loads them. Each
// input is read both as an image file and as a label file (the magic number
// decides which one may succeed).
//
// Defects: an error that is not one line starting with the path; a success
// whose sizes disagree with the header, or (for a raw file) whose data is
// not the bytes after the header.
#include "FuzzCheck.h"
#include "MemFile.h"

#include "runtime/Idx.h"

#include <cstdint>
#include <cstring>
#include <string>

using namespace cnnc;

namespace {

void checkError(const absl::Status &s, const std::string &path) {
  std::string m(s.message());
  CNNC_FUZZ_CHECK(fuzz::isOneLine(m), m);
  CNNC_FUZZ_CHECK(m.substr(0, path.size() + 1) == path + ":", m);
}

uint32_t be32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
         uint32_t(p[3]);
}

// zlib reads anything without the gzip magic as raw bytes.
bool isRaw(const uint8_t *data, size_t size) {
  return size < 2 || data[0] != 0x1f || data[1] != 0x8b;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fuzz::MemFile file;
  const std::string &path = file.write(data, size);
  bool raw = isRaw(data, size);

  absl::StatusOr<runtime::IdxImages> images = runtime::readIdxImages(path);
  if (!images.ok()) {
    checkError(images.status(), path);
  } else {
    const runtime::IdxImages &im = *images;
    CNNC_FUZZ_CHECK(im.count >= 0 && im.rows >= 0 && im.cols >= 0, path);
    CNNC_FUZZ_CHECK(static_cast<uint64_t>(im.pixels.size()) ==
                        static_cast<uint64_t>(im.count) *
                            static_cast<uint64_t>(im.rows) *
                            static_cast<uint64_t>(im.cols),
                    "pixel count differs from the header");
    if (raw) {
      CNNC_FUZZ_CHECK(size == 16 + im.pixels.size(), "raw size");
      CNNC_FUZZ_CHECK(be32(data) == 0x803 && be32(data + 4) == im.count &&
                          be32(data + 8) == im.rows &&
                          be32(data + 12) == im.cols,
                      "header fields");
      CNNC_FUZZ_CHECK(
          im.pixels.empty() ||
              std::memcmp(im.pixels.data(), data + 16, im.pixels.size()) == 0,
          "pixels differ from the file");
    }
  }

  absl::StatusOr<std::vector<uint8_t>> labels = runtime::readIdxLabels(path);
  if (!labels.ok()) {
    checkError(labels.status(), path);
  } else if (raw) {
    CNNC_FUZZ_CHECK(size == 8 + labels->size(), "raw size");
    CNNC_FUZZ_CHECK(be32(data) == 0x801 && be32(data + 4) == labels->size(),
                    "header fields");
    CNNC_FUZZ_CHECK(labels->empty() || std::memcmp(labels->data(), data + 8,
                                                   labels->size()) == 0,
                    "labels differ from the file");
  }
  return 0;
}
