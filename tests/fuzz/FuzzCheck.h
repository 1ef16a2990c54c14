// Shared by the libFuzzer harnesses (tests/fuzz/Fuzz*.cpp): what counts as
// a defect. An error Status or Diagnostic is a fine outcome for any input;
// only a broken invariant aborts, so that libFuzzer (or the replay test)
// reports it with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace cnnc::fuzz {

[[noreturn]] inline void fail(const char *what, std::string_view detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n%.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// An error message users see: one line, not empty.
inline bool isOneLine(std::string_view message) {
  return !message.empty() && message.find('\n') == std::string_view::npos;
}

} // namespace cnnc::fuzz

#define CNNC_FUZZ_CHECK(cond, detail)                                          \
  do {                                                                         \
    if (!(cond))                                                               \
      ::cnnc::fuzz::fail(#cond, (detail));                                     \
  } while (0)
