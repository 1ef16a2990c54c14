// How the cnnc command reports a failure: "cnnc: error: ..." on one line,
// or a DSL diagnostic with its source line and caret. Both return exit
// status 1.
#pragma once

#include "cnnc/cnnc.h"

#include <fmt/format.h>

#include <cstdio>
#include <string>

namespace cnnc::tools {

inline int fail(const std::string &msg) {
  fmt::print(stderr, "cnnc: error: {}\n", msg);
  return 1;
}

inline int fail(const Status &s) {
  if (s.diagnostic()) {
    fmt::print(stderr, "{}\n", s.diagnostic()->str());
    return 1;
  }
  return fail(s.message());
}

} // namespace cnnc::tools
