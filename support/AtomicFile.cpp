#include "support/AtomicFile.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace cnnc::support {

namespace {

// Linux's own limit on links followed in one path lookup.
constexpr int kMaxSymlinkHops = 40;

// "PATH: WHAT: REASON (TEMPORARY)": the user's path first, the temporary only
// as a detail.
absl::Status errnoStatus(const std::string &path, absl::string_view what,
                         int err, const std::string &tmp = "") {
  std::string message =
      absl::StrCat(path, ": ", what, ": ", std::strerror(err));
  if (!tmp.empty())
    absl::StrAppend(&message, " (temporary file ", tmp, ")");
  return absl::Status(absl::ErrnoToStatusCode(err), message);
}

// 0, or the errno of the failed write.
int writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// A temporary name no other call of this process uses: the pid alone would
// let two threads writing the same path truncate and rename each other's file.
std::string temporaryName(const std::string &path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".tmp.", ::getpid(), ".",
                      counter.fetch_add(1, std::memory_order_relaxed));
}

// The directory holding `path`.
std::string parentDirectory(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

const char *kindOf(mode_t mode) {
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISSOCK(mode))
    return "a socket";
  return "a special file";
}

// The digits of `s` from `at` up to `stop` (or the end), as a number.
std::optional<uint64_t> decimal(const std::string &s, size_t at, size_t stop) {
  if (at >= stop || stop - at > 18)
    return std::nullopt;
  uint64_t x = 0;
  for (size_t i = at; i < stop; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return std::nullopt;
    x = x * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  return x;
}

// The rename is durable only once the directory entry is on disk. The new
// contents are already in place, so a directory we cannot open (no read
// permission) or a file system without directory fsync (EINVAL) is no error.
absl::Status syncDirectory(const std::string &path, const std::string &target) {
  std::string dir = parentDirectory(target);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return absl::OkStatus();
  absl::Status st;
  if (::fsync(fd) != 0 && errno != EINVAL)
    st = errnoStatus(path, absl::StrCat("fsync of the directory ", dir), errno);
  ::close(fd);
  return st;
}

} // namespace

absl::Status resolveWriteTarget(const std::string &path, std::string &target) {
  std::string p = path;
  for (int hops = 0;; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      // A new file. Any other failure (a missing or unreadable directory)
      // shows up, with its reason, when the temporary is created.
      target = p;
      return absl::OkStatus();
    }
    if (S_ISREG(st.st_mode)) {
      target = p;
      return absl::OkStatus();
    }
    if (S_ISDIR(st.st_mode))
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": cannot write: ", p == path ? "" : p + " ",
                       "is a directory"));
    if (!S_ISLNK(st.st_mode))
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": cannot write: not a regular file (",
                       p == path ? "" : p + " is ", kindOf(st.st_mode), ")"));
    if (hops == kMaxSymlinkHops)
      return errnoStatus(path, "cannot write", ELOOP);
    std::string link(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlink(p.c_str(), link.data(), link.size());
    if (n < 0)
      return errnoStatus(path, absl::StrCat("cannot read the link ", p), errno);
    link.resize(static_cast<size_t>(n));
    // A relative link is relative to the directory holding it.
    if (link.empty() || link[0] != '/')
      link = p.find('/') == std::string::npos
                 ? link
                 : absl::StrCat(parentDirectory(p), "/", link);
    p = link;
  }
}

int removeStaleTemporaries(const std::string &target) {
  std::string dir = parentDirectory(target);
  std::string prefix = baseName(target) + ".tmp.";
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return 0;
  int removed = 0;
  while (const dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix))
      continue;
    // "<pid>.<n>" and nothing else.
    size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos)
      continue;
    std::optional<uint64_t> pid = decimal(name, prefix.size(), dot);
    if (!pid || *pid == 0 || *pid > INT32_MAX ||
        !decimal(name, dot + 1, name.size()))
      continue;
    // Only ESRCH proves the writer is gone; EPERM means it lives under
    // another user.
    if (::kill(static_cast<pid_t>(*pid), 0) == 0 || errno != ESRCH)
      continue;
    if (::unlinkat(::dirfd(d), name.c_str(), 0) == 0)
      ++removed;
  }
  ::closedir(d);
  return removed;
}

namespace {

// Fault injection for the tests that kill a process inside a write
// (tests/e2e/TuneResumeTest.cpp, ResumeTest.cpp): a kill from outside
// cannot reliably land in the microseconds between a file's fsync and its
// rename. With CNNC_TEST_KILL_BEFORE_RENAME=NAME:N, the process kills
// itself with SIGKILL at its N-th write of a file named NAME, the temporary
// written and not yet renamed.
void killIfRequested(const std::string &target) {
  static const std::pair<std::string, int> request = [] {
    const char *env = std::getenv("CNNC_TEST_KILL_BEFORE_RENAME");
    std::string v = env ? env : "";
    size_t colon = v.rfind(':');
    if (colon == std::string::npos)
      return std::pair<std::string, int>{"", 0};
    return std::pair<std::string, int>{v.substr(0, colon),
                                       std::atoi(v.c_str() + colon + 1)};
  }();
  static std::atomic<int> writes{0};
  if (request.second > 0 && baseName(target) == request.first &&
      writes.fetch_add(1) + 1 == request.second)
    ::kill(::getpid(), SIGKILL);
}

} // namespace

absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<std::string_view> &pieces) {
  std::string target;
  if (absl::Status s = resolveWriteTarget(path, target); !s.ok())
    return s;
  // Keep the permission bits of the file being replaced (not set-id bits,
  // which a copy by another user must not get).
  mode_t mode = 0644;
  struct stat old;
  bool replacing = ::stat(target.c_str(), &old) == 0;
  if (replacing)
    mode = old.st_mode & 0777;

  removeStaleTemporaries(target);
  std::string tmp = temporaryName(target);
  // O_NOFOLLOW: a link planted at the temporary's name is not followed.
  int fd = ::open(tmp.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    return errnoStatus(path, "cannot create a temporary file", errno, tmp);

  absl::Status st;
  for (std::string_view piece : pieces) {
    if (int err = writeAll(fd, piece); err != 0) {
      st = errnoStatus(path, "write failed", err, tmp);
      break;
    }
  }
  // open() applies the umask; the replaced file's bits are wanted as they
  // were.
  if (st.ok() && replacing && ::fchmod(fd, mode) != 0)
    st = errnoStatus(path, "cannot copy the file's permissions", errno, tmp);
  // fsync before rename: otherwise a crash can leave `path` renamed but empty.
  if (st.ok() && ::fsync(fd) != 0)
    st = errnoStatus(path, "fsync failed", errno, tmp);
  if (::close(fd) != 0 && st.ok())
    st = errnoStatus(path, "close failed", errno, tmp);
  if (st.ok())
    killIfRequested(target);
  if (st.ok() && ::rename(tmp.c_str(), target.c_str()) != 0)
    st = errnoStatus(path, "cannot rename the temporary file over it", errno,
                     tmp);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return syncDirectory(path, target);
}

} // namespace cnnc::support
