// Whole-file writes that either fully succeed or leave nothing behind.
#pragma once

#include "absl/status/status.h"

#include <string>
#include <string_view>
#include <vector>

namespace cnnc::runtime {

// Writes the concatenation of `pieces` to a temporary "<path>.tmp.<pid>.<n>"
// (unique per call, so threads may write the same path at once), flushes it
// to disk, renames it over `path` and fsyncs the directory so the rename
// survives a crash. On any failure before the rename the temporary file is
// removed and `path` is untouched, so readers never see a half-written file;
// only a failed directory fsync is reported with `path` already replaced.
// Error messages name `path` or the temporary, what failed and why.
absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<std::string_view> &pieces);

inline absl::Status writeFileAtomically(const std::string &path,
                                        std::string_view contents) {
  return writeFileAtomically(path, std::vector<std::string_view>{contents});
}

} // namespace cnnc::runtime
