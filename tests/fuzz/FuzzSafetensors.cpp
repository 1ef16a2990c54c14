// libFuzzer harness for the safetensors reader (runtime/Safetensors.cpp),
// which `cnnc --load-weights` and the API's loadWeights run on files users
// give them.
//
// Defects: an error that is not one line starting with the path, and a
// success whose tensors are inconsistent: a shape that does not match the
// element count, duplicate or reserved names, or data that is not exactly
// the file's data buffer (the reader promises the tensors tile it, in
// offset order).
#include "FuzzCheck.h"
#include "MemFile.h"

#include "runtime/Safetensors.h"

#include <cstdint>
#include <cstring>
#include <set>
#include <string>

using namespace cnnc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fuzz::MemFile file;
  const std::string &path = file.write(data, size);
  absl::StatusOr<std::vector<runtime::NamedTensor>> tensors =
      runtime::readSafetensors(path);
  if (!tensors.ok()) {
    std::string m(tensors.status().message());
    CNNC_FUZZ_CHECK(fuzz::isOneLine(m), m);
    CNNC_FUZZ_CHECK(m.substr(0, path.size() + 2) == path + ": ", m);
    return 0;
  }
  CNNC_FUZZ_CHECK(size >= 8, "a file under 8 bytes was accepted");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | data[i];
  CNNC_FUZZ_CHECK(headerSize <= size - 8, "header past the end accepted");
  const uint8_t *buffer = data + 8 + headerSize;
  size_t bufferSize = size - 8 - headerSize;

  std::set<std::string> names;
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  size_t offset = 0;
  for (const runtime::NamedTensor &t : *tensors) {
    CNNC_FUZZ_CHECK(t.name != "__metadata__", t.name);
    CNNC_FUZZ_CHECK(names.insert(t.name).second, "duplicate " + t.name);
    uint64_t elements = 1;
    for (int64_t d : t.shape) {
      CNNC_FUZZ_CHECK(d >= 0, t.name);
      elements *= static_cast<uint64_t>(d);
    }
    CNNC_FUZZ_CHECK(elements == t.data.size(), t.name);
    size_t bytes = t.data.size() * sizeof(float);
    CNNC_FUZZ_CHECK(offset + bytes <= bufferSize, t.name);
    CNNC_FUZZ_CHECK(bytes == 0 ||
                        std::memcmp(buffer + offset, t.data.data(), bytes) == 0,
                    "data of " + t.name + " differs from the file");
    offset += bytes;
    expected.push_back({t.name, t.shape});
  }
  CNNC_FUZZ_CHECK(offset == bufferSize, "data buffer not covered");
  // Loading the same names and shapes back into a model must match.
  absl::Status match = runtime::matchTensors(path, *tensors, expected);
  CNNC_FUZZ_CHECK(match.ok(), match.ToString());
  return 0;
}
