// PNG decoding and encoding with libpng.
//
// libpng reports errors by longjmp to the last setjmp. Every function here
// that calls setjmp is C-like: it owns no object with a destructor, and the
// only frames between it and a longjmp are libpng's and the callbacks
// below, which own none either. The C++ callers own the libpng structs and
// the pixel buffers, so nothing leaks when a decode fails half-way.
#include "runtime/Image.h"
#include "runtime/ImageCodecs.h"

#include "support/AtomicFile.h"

#include "absl/strings/str_cat.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <png.h>

namespace cnnc::runtime {
namespace detail {
namespace {

// What the callbacks share with the code that set up a read or write.
struct PngIo {
  const uint8_t *data = nullptr;
  size_t size = 0, pos = 0;
  std::vector<uint8_t> *out = nullptr;
  bool truncated = false;
  char message[256] = {};
};

void pngError(png_structp png, png_const_charp msg) {
  auto *io = static_cast<PngIo *>(png_get_error_ptr(png));
  if (io && !io->message[0])
    std::snprintf(io->message, sizeof io->message, "%s", msg ? msg : "");
  png_longjmp(png, 1);
}

// libpng's warnings (bad ancillary chunks, which it skips) are not ours to
// print.
void pngWarning(png_structp, png_const_charp) {}

void pngReadBytes(png_structp png, png_bytep out, size_t n) {
  auto *io = static_cast<PngIo *>(png_get_io_ptr(png));
  if (n > io->size - io->pos) {
    io->truncated = true;
    png_error(png, "truncated");
  }
  std::memcpy(out, io->data + io->pos, n);
  io->pos += n;
}

void pngWriteBytes(png_structp png, png_bytep data, size_t n) {
  auto *io = static_cast<PngIo *>(png_get_io_ptr(png));
  bool ok = true;
  try {
    io->out->insert(io->out->end(), data, data + n);
  } catch (...) {
    ok = false;
  }
  if (!ok)
    png_error(png, "out of memory");
}

void pngFlush(png_structp) {}

// Reads the chunks up to the first IDAT.
bool pngReadInfo(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png)))
    return false;
  png_read_info(png, info);
  return true;
}

// Asks for 8 bits per channel, palettes and tRNS expanded to RGB(A) or grey
// + alpha, 16 bits scaled (v * 255 / 65535, rounded), no gamma correction
// (as TensorFlow's decode_png), interlacing undone.
bool pngSetTransforms(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png)))
    return false;
  int colorType = png_get_color_type(png, info);
  int depth = png_get_bit_depth(png, info);
  if (colorType == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(png);
  if (colorType == PNG_COLOR_TYPE_GRAY && depth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_tRNS_to_alpha(png);
  if (depth == 16)
    png_set_scale_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return true;
}

bool pngReadRows(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png)))
    return false;
  png_read_image(png, rows);
  // Reads up to IEND, so that a file cut after its pixel data is an error
  // too.
  png_read_end(png, nullptr);
  return true;
}

bool pngWriteAll(png_structp png, png_infop info, png_uint_32 width,
                 png_uint_32 height, int colorType, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png)))
    return false;
  png_set_IHDR(png, info, width, height, 8, colorType, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

class PngReadStruct {
public:
  explicit PngReadStruct(PngIo *io) {
    png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, io, pngError, pngWarning);
    if (png)
      info = png_create_info_struct(png);
  }
  PngReadStruct(const PngReadStruct &) = delete;
  PngReadStruct &operator=(const PngReadStruct &) = delete;
  ~PngReadStruct() {
    if (png)
      png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
  png_structp png = nullptr;
  png_infop info = nullptr;
};

class PngWriteStruct {
public:
  explicit PngWriteStruct(PngIo *io) {
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, io, pngError,
                                  pngWarning);
    if (png)
      info = png_create_info_struct(png);
  }
  PngWriteStruct(const PngWriteStruct &) = delete;
  PngWriteStruct &operator=(const PngWriteStruct &) = delete;
  ~PngWriteStruct() {
    if (png)
      png_destroy_write_struct(&png, info ? &info : nullptr);
  }
  png_structp png = nullptr;
  png_infop info = nullptr;
};

absl::Status pngFailure(const std::string &name, const PngIo &io) {
  if (io.truncated)
    return absl::DataLossError(absl::StrCat(name, ": truncated PNG data"));
  return imageError(name, absl::StrCat("corrupt PNG data: ", io.message));
}

} // namespace

absl::StatusOr<Image> decodePng(const uint8_t *data, size_t size,
                                const std::string &name) {
  PngIo io;
  io.data = data;
  io.size = size;
  PngReadStruct s(&io);
  if (!s.png || !s.info)
    return absl::ResourceExhaustedError(
        absl::StrCat(name, ": cannot start the PNG decoder"));
  png_set_read_fn(s.png, &io, pngReadBytes);
  if (!pngReadInfo(s.png, s.info))
    return pngFailure(name, io);
  int64_t width = png_get_image_width(s.png, s.info);
  int64_t height = png_get_image_height(s.png, s.info);
  if (absl::Status st = checkImageSize(width, height, name, "PNG"); !st.ok())
    return st;
  if (!pngSetTransforms(s.png, s.info))
    return pngFailure(name, io);
  int64_t channels = png_get_channels(s.png, s.info);
  if (png_get_bit_depth(s.png, s.info) != 8 || channels < 1 || channels > 4 ||
      png_get_rowbytes(s.png, s.info) != static_cast<size_t>(width * channels))
    return imageError(name, "unsupported PNG pixel layout");

  Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels.resize(static_cast<size_t>(height * width * channels));
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y)
    rows[static_cast<size_t>(y)] =
        image.pixels.data() + static_cast<size_t>(y * width * channels);
  if (!pngReadRows(s.png, rows.data()))
    return pngFailure(name, io);
  return image;
}

absl::Status writeEncoded(const std::string &path,
                          const absl::StatusOr<std::vector<uint8_t>> &bytes) {
  if (!bytes.ok())
    return absl::Status(bytes.status().code(),
                        absl::StrCat(path, ": ", bytes.status().message()));
  return support::writeFileAtomically(
      path, std::string_view(reinterpret_cast<const char *>(bytes->data()),
                             bytes->size()));
}

absl::Status checkEncodable(const Image &image, absl::string_view format) {
  if (image.height < 1 || image.width < 1 || image.height > (1 << 30) ||
      image.width > (1 << 30) ||
      image.pixels.size() != static_cast<uint64_t>(image.height) *
                                 static_cast<uint64_t>(image.width) *
                                 static_cast<uint64_t>(image.channels))
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot encode ", format, ": ", image.height, "x", image.width, "x",
        image.channels, " image with ", image.pixels.size(), " bytes"));
  return absl::OkStatus();
}

} // namespace detail

absl::StatusOr<std::vector<uint8_t>> encodePng(const Image &image) {
  static constexpr int kColorTypes[] = {
      PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
      PNG_COLOR_TYPE_RGB_ALPHA};
  if (image.channels < 1 || image.channels > 4)
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot encode PNG: ", image.channels, " channels (1 to 4)"));
  if (absl::Status s = detail::checkEncodable(image, "PNG"); !s.ok())
    return s;
  std::vector<uint8_t> bytes;
  detail::PngIo io;
  io.out = &bytes;
  detail::PngWriteStruct s(&io);
  if (!s.png || !s.info)
    return absl::ResourceExhaustedError("cannot start the PNG encoder");
  png_set_write_fn(s.png, &io, detail::pngWriteBytes, detail::pngFlush);
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  size_t stride = static_cast<size_t>(image.width * image.channels);
  for (size_t y = 0; y < rows.size(); ++y)
    rows[y] = const_cast<png_bytep>(image.pixels.data()) + y * stride;
  if (!detail::pngWriteAll(s.png, s.info, static_cast<png_uint_32>(image.width),
                           static_cast<png_uint_32>(image.height),
                           kColorTypes[image.channels - 1], rows.data()))
    return absl::InternalError(
        absl::StrCat("PNG encoder failed: ", io.message));
  return bytes;
}

absl::Status writePng(const std::string &path, const Image &image) {
  return detail::writeEncoded(path, encodePng(image));
}

} // namespace cnnc::runtime
