// A stable 64-bit hash of bytes (std::hash and absl::Hash may change between
// runs and builds), for keys that are written to disk.
#pragma once

#include "support/Random.h"

#include <cstdint>
#include <cstring>
#include <string_view>

namespace cnnc::support {

// Eight bytes at a time through SplitMix64's mixer; `seed` chains calls.
inline uint64_t hash64(std::string_view data, uint64_t seed = 0) {
  uint64_t h = mix64(seed ^ (data.size() * kSplitMixGamma));
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, data.data() + i, 8);
    h = mix64(h ^ word) + kSplitMixGamma;
  }
  uint64_t last = 0;
  std::memcpy(&last, data.data() + i, data.size() - i);
  return mix64(h ^ last ^ (data.size() - i));
}

} // namespace cnnc::support
