// Reading and writing the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON describing each tensor, then the data.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cnnc::runtime {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape; // row-major; {} is a scalar
  std::vector<float> data;
};

// Writes F32 tensors, data laid out in the given order, with optional
// "__metadata__". Atomic: `path` is either fully written or untouched.
absl::Status
writeSafetensors(const std::string &path,
                 const std::vector<NamedTensor> &tensors,
                 const std::map<std::string, std::string> &metadata = {});

// Reads and fully validates a file; tensors come back in the order of their
// data offsets. Only F32 tensors are accepted. `metadata`, when given,
// receives the "__metadata__" strings.
absl::StatusOr<std::vector<NamedTensor>>
readSafetensors(const std::string &path,
                std::map<std::string, std::string> *metadata = nullptr);

// Whether `s` is valid UTF-8, as the JSON writer (nlohmann) accepts it:
// tensor names, metadata and class names must be.
bool isValidUtf8(const std::string &s);

// Checks loaded tensors against the names and shapes a model expects. The
// error names the first difference, walking `expected` in order, then any
// tensor the model does not have; `path` only labels the message.
absl::Status matchTensors(
    const std::string &path, const std::vector<NamedTensor> &loaded,
    const std::vector<std::pair<std::string, std::vector<int64_t>>> &expected);

} // namespace cnnc::runtime
