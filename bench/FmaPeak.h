// The machine's floating-point peak, measured with a JIT-generated kernel of
// independent vector FMA chains (the widest vectors the host has).
#pragma once

#include "absl/status/statusor.h"

#include <string>

namespace cnnc::bench {

struct FmaPeak {
  std::string cpu;    // LLVM's host CPU name, e.g. "znver5"
  int vectorBits = 0; // 512 with AVX-512
  int chains = 0;     // independent accumulators per thread
  double gflops1 = 0; // one thread
  double gflopsN = 0; // `threads` threads at once
  int threads = 0;
};

// Runs the kernel for about `seconds` per measurement; the best of 7.
absl::StatusOr<FmaPeak> measureFmaPeak(int threads, double seconds = 0.2);

} // namespace cnnc::bench
