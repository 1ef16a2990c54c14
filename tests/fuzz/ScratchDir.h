// A directory of the harness's own for readers that take a directory (the
// tune journal, backups): under /dev/shm when there is one, so that writing
// each input costs no disk I/O; removed at exit.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace cnnc::fuzz {

class ScratchDir {
public:
  explicit ScratchDir(const std::string &tag) {
    std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                     ? "/dev/shm"
                                     : std::filesystem::temp_directory_path();
    root_ = base / ("cnnc-fuzz-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  // An empty subdirectory `name`.
  std::string fresh(const std::string &name) const {
    std::filesystem::path d = root_ / name;
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
    std::filesystem::create_directories(d);
    return d.string();
  }
  static void write(const std::string &path, const uint8_t *data, size_t n) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char *>(data),
               static_cast<std::streamsize>(n));
  }
  static std::string read(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

private:
  std::filesystem::path root_;
};

} // namespace cnnc::fuzz
