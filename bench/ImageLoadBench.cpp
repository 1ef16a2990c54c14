// cnnc-image-bench: how long an image folder takes to load, decoded and
// resized on all threads versus read from the decoded-image cache
// (docs/performance.md, "Image folders").
//
//   cnnc-image-bench DIR [--size H W] [--color grayscale|rgb|rgba]
//                    [--threads N] [--repeats N]
//
// Each timed run is a full runtime::loadImageFolder (listing, stat of every
// file, decode or cache read). The first, untimed run warms the page cache,
// so the figures leave cold disk reads aside.
#include "runtime/ImageFolder.h"
#include "runtime/ThreadPool.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

using namespace cnnc;
namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int fail(const std::string &m) {
  fmt::print(stderr, "cnnc-image-bench: error: {}\n", m);
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  ir::ImageFolderSpec spec;
  spec.height = spec.width = 28;
  spec.colorMode = ir::ColorMode::Grayscale;
  int threads = 0, repeats = 5;
  for (size_t i = 0; i < args.size(); ++i) {
    auto next = [&]() -> std::string {
      return i + 1 < args.size() ? args[++i] : std::string();
    };
    if (args[i] == "--size") {
      spec.height = std::atoi(next().c_str());
      spec.width = std::atoi(next().c_str());
    } else if (args[i] == "--color") {
      std::string c = next();
      spec.colorMode = c == "rgb"    ? ir::ColorMode::Rgb
                       : c == "rgba" ? ir::ColorMode::Rgba
                                     : ir::ColorMode::Grayscale;
    } else if (args[i] == "--threads") {
      threads = std::atoi(next().c_str());
    } else if (args[i] == "--repeats") {
      repeats = std::max(1, std::atoi(next().c_str()));
    } else if (spec.directory.empty()) {
      spec.directory = args[i];
    } else {
      return fail("usage: cnnc-image-bench DIR [--size H W] [--color MODE] "
                  "[--threads N] [--repeats N]");
    }
  }
  if (spec.directory.empty() || spec.height < 1 || spec.width < 1)
    return fail("usage: cnnc-image-bench DIR [--size H W] [--color MODE] "
                "[--threads N] [--repeats N]");
  runtime::ThreadPool pool(threads);
  std::string cache =
      (fs::temp_directory_path() / fmt::format("cnnc-image-bench-{}", getpid()))
          .string();
  auto timed = [&](bool useCache, runtime::ImageLoadInfo &info) -> double {
    if (useCache) {
      ::unsetenv("CNNC_NO_CACHE");
      ::setenv("CNNC_CACHE_DIR", cache.c_str(), 1);
    } else {
      ::setenv("CNNC_NO_CACHE", "1", 1);
    }
    auto start = std::chrono::steady_clock::now();
    auto r = runtime::loadImageFolder(spec, pool, &info);
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (!r.ok()) {
      fail(std::string(r.status().message()));
      std::exit(1);
    }
    return s;
  };
  runtime::ImageLoadInfo info;
  timed(false, info); // warms the page cache
  std::vector<double> decode, cached;
  for (int r = 0; r < repeats; ++r)
    decode.push_back(timed(false, info));
  timed(true, info); // writes the cache
  for (int r = 0; r < repeats; ++r) {
    cached.push_back(timed(true, info));
    if (!info.fromCache)
      return fail("the cache was not used");
  }
  fs::remove_all(cache);
  auto listing = runtime::listImageFolder(spec.directory);
  fmt::print("{}: {} images, {}x{}x{}, {} threads; median of {}\n",
             spec.directory, listing.ok() ? listing->files.size() : 0,
             spec.height, spec.width, ir::channelsOf(spec.colorMode),
             pool.size(), repeats);
  fmt::print("  decode + resize: {:.3f} s\n  from the cache:  {:.3f} s\n",
             median(decode), median(cached));
  return 0;
}
