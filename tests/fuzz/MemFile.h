// Gives fuzz input a file name: the data-file readers under test open files
// by path. One in-memory file (memfd) per process is rewritten for each
// input and opened through /proc/self/fd, so nothing touches the disk.
#pragma once

#include "FuzzCheck.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace cnnc::fuzz {

class MemFile {
public:
  MemFile() : fd_(::memfd_create("cnnc-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0)
      fail("memfd_create", std::strerror(errno));
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile &) = delete;
  MemFile &operator=(const MemFile &) = delete;
  ~MemFile() { ::close(fd_); }

  // Makes the file hold exactly `data`; returns its path.
  const std::string &write(const uint8_t *data, size_t size) {
    if (::ftruncate(fd_, 0) != 0)
      fail("ftruncate", std::strerror(errno));
    size_t done = 0;
    while (done < size) {
      ssize_t n =
          ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        fail("pwrite", std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    return path_;
  }

private:
  int fd_;
  std::string path_;
};

} // namespace cnnc::fuzz
