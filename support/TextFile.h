// Whole-file reads of text inputs (a model's DSL, textual IR) with a size
// cap, so that /dev/zero, a FIFO that never ends or a huge file is a
// one-line error instead of a read that eats all memory. The one place the
// frontend and cnnc-opt read their input files.
#pragma once

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace cnnc::support {

// The largest DSL or IR text accepted (docs/formats.md, "Size limits").
inline constexpr uint64_t kMaxTextFileBytes = uint64_t{64} << 20;

// Reads all of the file at `path`. Regular files and FIFOs (pipes, process
// substitution) are read; directories, devices and sockets are refused
// without reading. More than `limit` bytes is an error: a regular file is
// checked by its size before reading, a pipe as its bytes arrive (reading
// stops at limit + 1). On failure the status message is only the reason,
// e.g. "cannot read: No such file or directory", "cannot read: not a
// regular file or pipe (a character device)" or "larger than the 64 MiB
// limit for a model file" (`what` is "a model file"); callers put the
// path in front.
absl::StatusOr<std::string> readTextFile(const std::string &path,
                                         std::string_view what,
                                         uint64_t limit = kMaxTextFileBytes);

// The same for an open descriptor (standard input), whatever it is; the
// descriptor is not closed.
absl::StatusOr<std::string> readTextFd(int fd, std::string_view what,
                                       uint64_t limit = kMaxTextFileBytes);

} // namespace cnnc::support
