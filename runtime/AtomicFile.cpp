#include "runtime/AtomicFile.h"

#include <atomic>
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

// A temporary name no other call of this process uses: the pid alone would
// let two threads writing the same path truncate and rename each other's file.
std::string temporaryName(const std::string &path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".tmp.", ::getpid(), ".",
                      counter.fetch_add(1, std::memory_order_relaxed));
}

// The directory holding `path`, for fsync after the rename.
std::string parentDirectory(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The rename is durable only once the directory entry is on disk. The new
// contents are already in place, so a directory we cannot open (no read
// permission) or a file system without directory fsync (EINVAL) is no error.
absl::Status syncDirectory(const std::string &path) {
  std::string dir = parentDirectory(path);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return absl::OkStatus();
  absl::Status st;
  if (::fsync(fd) != 0 && errno != EINVAL)
    st = errnoStatus(dir, "fsync of the directory failed", errno);
  ::close(fd);
  return st;
}

} // namespace

absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<std::string_view> &pieces) {
  std::string tmp = temporaryName(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errnoStatus(path, absl::StrCat("cannot create ", tmp), errno);

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
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return syncDirectory(path);
}

} // namespace cnnc::runtime
