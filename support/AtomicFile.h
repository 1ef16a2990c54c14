// Whole-file writes that either fully succeed or leave nothing behind.
#pragma once

#include "absl/status/status.h"

#include <string>
#include <string_view>
#include <vector>

namespace cnnc::support {

// Writes the concatenation of `pieces` to `path` through a temporary file:
//
// - The file written is `path` with symbolic links followed, so a link stays
//   a link and its target gets the new contents. A directory, device, FIFO
//   or socket (at `path` or at the end of its links) is refused, never
//   replaced; an existing regular file keeps its permission bits.
// - The contents go to "<target>.tmp.<pid>.<n>" (unique per call, so threads
//   may write the same path at once), which is flushed to disk, renamed over
//   the target, and the directory fsynced so the rename survives a crash.
// - Temporaries of the same target left by processes that no longer exist
//   (killed mid-write) are removed first.
//
// On any failure before the rename the temporary file is removed and the
// target is untouched, so readers never see a half-written file; only a
// failed directory fsync is reported with the target already replaced.
// Error messages start with `path`, then say what failed and why; the
// temporary's name follows in parentheses where it matters.
absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<std::string_view> &pieces);

inline absl::Status writeFileAtomically(const std::string &path,
                                        std::string_view contents) {
  return writeFileAtomically(path, std::vector<std::string_view>{contents});
}

// The file a write of `path` replaces or creates: `path` with its symbolic
// links followed (a dangling link gives the missing target). An error, as
// writeFileAtomically reports it, when that is not a regular file or a new
// name, or the links loop.
absl::Status resolveWriteTarget(const std::string &path, std::string &target);

// Removes "<basename of target>.tmp.<pid>.<n>" files next to `target` whose
// process no longer exists (kill(pid, 0) fails with ESRCH). Errors are
// ignored: this is cleanup. Returns how many were removed.
int removeStaleTemporaries(const std::string &target);

} // namespace cnnc::support
