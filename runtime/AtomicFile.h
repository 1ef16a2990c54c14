// Whole-file writes that either fully succeed or leave nothing behind.
#pragma once

#include "absl/status/status.h"

#include <string>
#include <string_view>
#include <vector>

namespace cnnc::runtime {

// Writes the concatenation of `pieces` to "<path>.tmp.<pid>", flushes it to
// disk, then renames it over `path`. On any failure the temporary file is
// removed and `path` is untouched, so readers never see a half-written file.
absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<std::string_view> &pieces);

inline absl::Status writeFileAtomically(const std::string &path,
                                        std::string_view contents) {
  return writeFileAtomically(path, std::vector<std::string_view>{contents});
}

} // namespace cnnc::runtime
