// cnnc-idx-to-images: writes an IDX data set (MNIST, Fashion-MNIST) as an
// image folder, one subdirectory per class, so that the own-images path can
// be tried, tested and measured on real data (scripts/write-image-folders.sh).
//
//   cnnc-idx-to-images PREFIX SPLIT OUT_DIR [--format png|jpeg] [--rgb]
//                      [--quality Q] [--limit N] [--class-names a,b,...]
//
// Reads PREFIX + SPLIT + "-images-idx3-ubyte[.gz]" and the labels; writes
// OUT_DIR/<class>/<index>.<png|jpg>, index zero-padded in file order. --rgb
// writes three equal channels. Class directories are named by --class-names
// (in label order) or by the label's digits.
#include "runtime/Idx.h"
#include "runtime/Image.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace cnnc;

namespace {

int fail(const std::string &message) {
  fmt::print(stderr, "cnnc-idx-to-images: error: {}\n", message);
  return 1;
}

bool parseInt(const std::string &s, int64_t &out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> positional, classNames;
  std::string format = "png";
  bool rgb = false;
  int64_t quality = 95, limit = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    auto value = [&](std::string &out) {
      if (i + 1 >= args.size())
        return false;
      out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--rgb") {
      rgb = true;
    } else if (a == "--format") {
      if (!value(format) || (format != "png" && format != "jpeg"))
        return fail("--format expects png or jpeg");
    } else if (a == "--quality") {
      if (!value(v) || !parseInt(v, quality) || quality < 1 || quality > 100)
        return fail("--quality expects 1 to 100");
    } else if (a == "--limit") {
      if (!value(v) || !parseInt(v, limit) || limit < 1)
        return fail("--limit expects a positive integer");
    } else if (a == "--class-names") {
      if (!value(v))
        return fail("--class-names expects a comma-separated list");
      size_t begin = 0;
      while (true) {
        size_t comma = v.find(',', begin);
        classNames.push_back(v.substr(begin, comma - begin));
        if (comma == std::string::npos)
          break;
        begin = comma + 1;
      }
    } else if (!a.empty() && a[0] == '-') {
      return fail(fmt::format("unknown option '{}'", a));
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 3)
    return fail("usage: cnnc-idx-to-images PREFIX SPLIT OUT_DIR [--format "
                "png|jpeg] [--rgb] [--quality Q] [--limit N] "
                "[--class-names a,b,...]");
  auto data = runtime::loadIdxSplit(positional[0], positional[1]);
  if (!data.ok())
    return fail(std::string(data.status().message()));
  const runtime::IdxImages &im = data->images;
  int64_t count = limit > 0 ? std::min(limit, im.count) : im.count;
  int width = static_cast<int>(std::to_string(count - 1).size());
  fs::path out = positional[2];
  for (int64_t i = 0; i < count; ++i) {
    uint8_t label = data->labels[i];
    std::string cls =
        label < classNames.size() ? classNames[label] : std::to_string(label);
    fs::path dir = out / cls;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      return fail(fmt::format("{}: {}", dir.string(), ec.message()));
    runtime::Image image;
    image.height = im.rows;
    image.width = im.cols;
    image.channels = rgb ? 3 : 1;
    const uint8_t *src = im.pixels.data() + i * im.rows * im.cols;
    for (int64_t p = 0; p < im.rows * im.cols; ++p)
      for (int c = 0; c < image.channels; ++c)
        image.pixels.push_back(src[p]);
    std::string name =
        fmt::format("{:0{}}.{}", i, width, format == "png" ? "png" : "jpg");
    // Plain writes: tens of thousands of small files, where writePng's
    // fsync per file would take minutes. A failed run leaves OUT_DIR
    // incomplete (the script writes to a temporary name and renames).
    auto bytes = format == "png"
                     ? runtime::encodePng(image)
                     : runtime::encodeJpeg(image, static_cast<int>(quality));
    if (!bytes.ok())
      return fail(std::string(bytes.status().message()));
    std::ofstream file(dir / name, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char *>(bytes->data()),
               static_cast<std::streamsize>(bytes->size()));
    if (!file.flush())
      return fail(fmt::format("{}: cannot write", (dir / name).string()));
  }
  fmt::print("{}: {} images in {} format{}\n", out.string(), count, format,
             rgb ? " (RGB)" : "");
  return 0;
}
