#include "runtime/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace cnnc::runtime {

namespace {

absl::Status errnoStatus(const std::string &path, absl::string_view what,
                         int err) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(path, ": ", what, ": ", std::strerror(err)));
}

absl::Status writeAll(int fd, const std::string &path, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errnoStatus(path, "write failed", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

} // namespace

absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<std::string_view> &pieces) {
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errnoStatus(tmp, "cannot create", errno);

  absl::Status st;
  for (std::string_view piece : pieces) {
    st = writeAll(fd, tmp, piece);
    if (!st.ok())
      break;
  }
  // fsync before rename: otherwise a crash can leave `path` renamed but empty.
  if (st.ok() && ::fsync(fd) != 0)
    st = errnoStatus(tmp, "fsync failed", errno);
  if (::close(fd) != 0 && st.ok())
    st = errnoStatus(tmp, "close failed", errno);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    st =
        errnoStatus(path, absl::StrCat("cannot rename ", tmp, " to it"), errno);
  if (!st.ok())
    ::unlink(tmp.c_str());
  return st;
}

} // namespace cnnc::runtime
