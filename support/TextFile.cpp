#include "support/TextFile.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cnnc::support {

namespace {

absl::Status cannotRead(int err) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat("cannot read: ", std::strerror(err)));
}

std::string sizeText(uint64_t bytes) {
  if (bytes % (uint64_t{1} << 20) == 0)
    return absl::StrCat(bytes >> 20, " MiB");
  return absl::StrCat(bytes, " bytes");
}

absl::Status tooLarge(std::string_view what, uint64_t limit) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "larger than the ", sizeText(limit), " limit for ", std::string(what)));
}

// What a file that is neither regular nor a FIFO is, for the error.
const char *kindOf(mode_t mode) {
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "a special file";
}

// Reads until end of file, but never more than limit + 1 bytes: one byte
// past the limit is enough to know the input is too large.
absl::StatusOr<std::string> readCapped(int fd, std::string_view what,
                                       uint64_t limit) {
  std::string text;
  char buf[1 << 16];
  for (;;) {
    size_t want = sizeof buf;
    if (text.size() + want > limit + 1)
      want = static_cast<size_t>(limit + 1 - text.size());
    ssize_t n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return cannotRead(errno);
    if (n == 0)
      return text;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > limit)
      return tooLarge(what, limit);
  }
}

} // namespace

absl::StatusOr<std::string> readTextFd(int fd, std::string_view what,
                                       uint64_t limit) {
  return readCapped(fd, what, limit);
}

absl::StatusOr<std::string>
readTextFile(const std::string &path, std::string_view what, uint64_t limit) {
  // Look before opening: opening a device can have effects of its own
  // (a tape rewinds, a terminal becomes the controlling one).
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return cannotRead(errno);
  if (S_ISDIR(st.st_mode))
    return cannotRead(EISDIR);
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read: not a regular file or pipe (", kindOf(st.st_mode), ")"));
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > limit)
    return tooLarge(what, limit);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cannotRead(errno);
  absl::StatusOr<std::string> text = readCapped(fd, what, limit);
  ::close(fd);
  return text;
}

} // namespace cnnc::support
