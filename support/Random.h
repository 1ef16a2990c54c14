// A small, fully specified random generator for weight initialization and
// shuffling, so results are bit-identical across platforms and libraries.
#pragma once

#include <cstdint>

namespace cnnc::support {

// SplitMix64's increment and output mix; the dropout kernels' counter-based
// stream (codegen/ElementwiseKernels.cpp) emits the same arithmetic.
inline constexpr uint64_t kSplitMixGamma = 0x9E3779B97F4A7C15ull;
inline constexpr uint64_t kSplitMixMul1 = 0xBF58476D1CE4E5B9ull;
inline constexpr uint64_t kSplitMixMul2 = 0x94D049BB133111EBull;

constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * kSplitMixMul1;
  z = (z ^ (z >> 27)) * kSplitMixMul2;
  return z ^ (z >> 31);
}

class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_ += kSplitMixGamma); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n) by rejection, without modulo bias.
  uint64_t below(uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
      r = next();
    while (r >= limit);
    return r % n;
  }

private:
  uint64_t state_;
};

} // namespace cnnc::support
