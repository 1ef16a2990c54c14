// Waiting for a file to appear in a directory while a child process runs:
// tests that kill a process inside a write (backups, tune journals) wait for
// the write's temporary file, so that the kill lands inside the write (the
// write and its fsync take milliseconds, the inotify wake-up microseconds).
#pragma once

#include <filesystem>
#include <functional>
#include <poll.h>
#include <string>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cnnc::testing {

// Waits up to a minute for a file whose name satisfies `match` to be
// created in `dir`, or for `pid` to exit (it is not reaped); whether one
// was.
inline bool
waitForFileCreated(const std::filesystem::path &dir, pid_t pid,
                   const std::function<bool(const std::string &)> &match) {
  int fd = ::inotify_init1(IN_CLOEXEC);
  if (fd < 0)
    return false;
  bool seen = false;
  if (::inotify_add_watch(fd, dir.c_str(), IN_CREATE) >= 0) {
    alignas(inotify_event) char buf[4096];
    pollfd p{fd, POLLIN, 0};
    auto exited = [pid] {
      siginfo_t info{};
      return ::waitid(P_PID, static_cast<id_t>(pid), &info,
                      WEXITED | WNOHANG | WNOWAIT) == 0 &&
             info.si_pid == pid;
    };
    for (int i = 0; i < 600 && !seen && !exited(); ++i) {
      if (::poll(&p, 1, 100) <= 0)
        continue;
      ssize_t n = ::read(fd, buf, sizeof buf);
      for (ssize_t at = 0; at < n;) {
        auto *e = reinterpret_cast<inotify_event *>(buf + at);
        seen |= e->len > 0 && match(e->name);
        at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
  }
  ::close(fd);
  return seen;
}

} // namespace cnnc::testing
