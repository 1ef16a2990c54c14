// decodeImage and readImageFile: format detection by magic bytes, the pixel
// cap, and conversion from a decoder's channel layout to a colour mode.
#include "runtime/Image.h"
#include "runtime/ImageCodecs.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cnnc::runtime {

namespace detail {

absl::Status checkImageSize(int64_t width, int64_t height,
                            const std::string &name, absl::string_view format) {
  if (width < 1 || height < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ", format, " image of ", width, "x", height, " pixels"));
  // Both fit in 32 bits in every format, so the product cannot overflow.
  if (width > kMaxImagePixels || height > kMaxImagePixels ||
      width * height > kMaxImagePixels)
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", width, "x", height,
                     " pixels exceeds the limit of ", kMaxImagePixels));
  return absl::OkStatus();
}

absl::Status imageError(const std::string &name, absl::string_view what) {
  std::string line;
  for (char c : what.substr(0, 200)) {
    if (c == '\n' || c == '\r')
      break;
    line += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  }
  while (!line.empty() && line.back() == ' ')
    line.pop_back();
  if (line.empty())
    line = "undecodable image";
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", line));
}

} // namespace detail

namespace {

enum class Format { Png, Jpeg, Gif, Bmp, None };

struct Magic {
  Format format;
  std::string_view bytes;
  const char *name;
};

constexpr Magic kMagics[] = {
    {Format::Png, std::string_view("\x89PNG\r\n\x1a\n", 8), "PNG"},
    {Format::Jpeg, std::string_view("\xff\xd8\xff", 3), "JPEG"},
    {Format::Gif, std::string_view("GIF87a", 6), "GIF"},
    {Format::Gif, std::string_view("GIF89a", 6), "GIF"},
    {Format::Bmp, std::string_view("BM", 2), "BMP"},
};

// ITU-R BT.601 luma, as TensorFlow's rgb_to_grayscale, rounded to nearest.
inline uint8_t luma(unsigned r, unsigned g, unsigned b) {
  return static_cast<uint8_t>((299 * r + 587 * g + 114 * b + 500) / 1000);
}

// From a decoder's layout (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) to
// `mode`: grey is replicated, a missing alpha is 255, a dropped alpha is
// ignored (TensorFlow's decode_png(channels=3) drops it too, it does not
// composite), colour becomes BT.601 luma.
Image convert(Image src, ColorMode mode) {
  const int64_t from = src.channels, to = channelsOf(mode);
  if (from == to)
    return src;
  Image dst;
  dst.height = src.height;
  dst.width = src.width;
  dst.channels = to;
  const size_t n = static_cast<size_t>(src.height * src.width);
  dst.pixels.resize(n * static_cast<size_t>(to));
  const uint8_t *s = src.pixels.data();
  uint8_t *d = dst.pixels.data();
  for (size_t i = 0; i < n; ++i, s += from, d += to) {
    uint8_t r, g, b, a = 255;
    if (from <= 2) {
      r = g = b = s[0];
      if (from == 2)
        a = s[1];
    } else {
      r = s[0];
      g = s[1];
      b = s[2];
      if (from == 4)
        a = s[3];
    }
    if (to == 1) {
      d[0] = from <= 2 ? r : luma(r, g, b);
    } else {
      d[0] = r;
      d[1] = g;
      d[2] = b;
      if (to == 4)
        d[3] = a;
    }
  }
  return dst;
}

} // namespace

absl::StatusOr<Image> decodeImage(const uint8_t *data, size_t size,
                                  ColorMode mode, const std::string &name) {
  if (size == 0)
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": empty file, not an image"));
  std::string_view head(reinterpret_cast<const char *>(data), size);
  Format format = Format::None;
  for (const Magic &m : kMagics) {
    if (head.substr(0, m.bytes.size()) == m.bytes) {
      format = m.format;
      break;
    }
    // A file cut inside the signature says what it was meant to be.
    if (size < m.bytes.size() && m.bytes.substr(0, size) == head && size >= 2)
      return absl::DataLossError(
          absl::StrCat(name, ": truncated ", m.name, " data"));
  }

  absl::StatusOr<Image> image;
  switch (format) {
  case Format::Png:
    image = detail::decodePng(data, size, name);
    break;
  case Format::Jpeg:
    image = detail::decodeJpeg(data, size, mode == ColorMode::Grayscale, name);
    break;
  case Format::Gif:
    image = detail::decodeGif(data, size, name);
    break;
  case Format::Bmp:
    image = detail::decodeBmp(data, size, name);
    break;
  case Format::None:
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a PNG, JPEG, BMP or GIF image"));
  }
  if (!image.ok())
    return image.status();
  return convert(*std::move(image), mode);
}

absl::StatusOr<Image> readImageFile(const std::string &path, ColorMode mode) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
  // below like any other non-regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::Status(
        absl::ErrnoToStatusCode(err),
        absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    bool dir = S_ISDIR(st.st_mode);
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, dir ? ": is a directory, not an image file"
                               : ": not a regular file"));
  }
  if (st.st_size > kMaxImageFileBytes) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", st.st_size, " bytes exceeds the limit of ",
                     kMaxImageFileBytes, " bytes for an image file"));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t have = 0;
  while (have < bytes.size()) {
    ssize_t n = ::pread(fd, bytes.data() + have, bytes.size() - have,
                        static_cast<off_t>(have));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return absl::DataLossError(
          absl::StrCat(path, ": read failed: ", std::strerror(err)));
    }
    if (n == 0)
      break; // The file shrank while we read it: decode what is there.
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(have);
  return decodeImage(bytes.data(), bytes.size(), mode, path);
}

} // namespace cnnc::runtime
