// JPEG decoding and encoding with libjpeg-turbo's libjpeg API.
//
// libjpeg reports errors through error_exit, which here longjmps to the
// last setjmp. Every function that calls setjmp is C-like: it owns no
// object with a destructor, and the only frames between it and a longjmp
// are libjpeg's and the callbacks below, which own none either. The C++
// callers own the libjpeg structs and the pixel buffers, so nothing leaks
// when a decode fails half-way. (The TurboJPEG API would hide the setjmp,
// but its Debian package is not otherwise needed, and it cannot report a
// truncated file as an error: it decodes the missing part as grey.)
#include "runtime/Image.h"
#include "runtime/ImageCodecs.h"

#include "support/AtomicFile.h"

#include "absl/strings/str_cat.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>

namespace cnnc::runtime {
namespace detail {
namespace {

// A progressive JPEG may have any number of scans, each over the whole
// image; real encoders write about ten. Cap them so that a small file
// cannot make us decode the same huge image thousands of times.
constexpr int kMaxScans = 500;

struct JpegErrorMgr {
  jpeg_error_mgr mgr; // First: libjpeg sees only this part.
  std::jmp_buf jump;
  bool truncated;
  bool tooManyScans;
  char message[JMSG_LENGTH_MAX];
};

JpegErrorMgr *errorsOf(j_common_ptr cinfo) {
  return reinterpret_cast<JpegErrorMgr *>(cinfo->err);
}

void jpegErrorExit(j_common_ptr cinfo) {
  JpegErrorMgr *e = errorsOf(cinfo);
  if (!e->message[0])
    (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings (e.g. "Corrupt JPEG data: N extraneous bytes") and traces are
// not ours to print; like TensorFlow, we keep the decoded image.
void jpegEmitMessage(j_common_ptr, int) {}
void jpegOutputMessage(j_common_ptr) {}

void jpegProgress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor)
    return;
  auto *d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    errorsOf(cinfo)->tooManyScans = true;
    ERREXIT(cinfo, JERR_NOTIMPL);
  }
}

// A memory source that, unlike jpeg_mem_src, treats the end of the data as
// an error rather than inserting a fake end-of-image marker.
void srcInit(j_decompress_ptr) {}
void srcTerm(j_decompress_ptr) {}

boolean srcFill(j_decompress_ptr cinfo) {
  errorsOf(reinterpret_cast<j_common_ptr>(cinfo))->truncated = true;
  ERREXIT(cinfo, JERR_INPUT_EOF);
  return FALSE;
}

void srcSkip(j_decompress_ptr cinfo, long n) {
  if (n <= 0)
    return;
  jpeg_source_mgr *src = cinfo->src;
  if (static_cast<unsigned long>(n) > src->bytes_in_buffer)
    srcFill(cinfo);
  src->next_input_byte += n;
  src->bytes_in_buffer -= static_cast<size_t>(n);
}

// Everything a decode needs in one trivially destructible block.
struct JpegDecoder {
  jpeg_decompress_struct cinfo;
  JpegErrorMgr err;
  jpeg_source_mgr src;
  jpeg_progress_mgr progress;
};

void setErrorHandlers(jpeg_error_mgr *mgr, JpegErrorMgr *err) {
  jpeg_std_error(mgr);
  mgr->error_exit = jpegErrorExit;
  mgr->emit_message = jpegEmitMessage;
  mgr->output_message = jpegOutputMessage;
  err->truncated = false;
  err->tooManyScans = false;
  err->message[0] = 0;
}

bool jpegReadHeader(JpegDecoder *d, const uint8_t *data, size_t size) {
  if (setjmp(d->err.jump))
    return false;
  jpeg_create_decompress(&d->cinfo);
  d->src.next_input_byte = data;
  d->src.bytes_in_buffer = size;
  d->src.init_source = srcInit;
  d->src.fill_input_buffer = srcFill;
  d->src.skip_input_data = srcSkip;
  d->src.resync_to_restart = jpeg_resync_to_restart;
  d->src.term_source = srcTerm;
  d->cinfo.src = &d->src;
  d->progress.progress_monitor = jpegProgress;
  d->cinfo.progress = &d->progress;
  jpeg_read_header(&d->cinfo, TRUE);
  return true;
}

bool jpegStartDecompress(JpegDecoder *d, J_COLOR_SPACE out) {
  if (setjmp(d->err.jump))
    return false;
  d->cinfo.out_color_space = out;
  // The slow integer IDCT and fancy upsampling, libjpeg's (and
  // TensorFlow's) defaults.
  d->cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&d->cinfo);
  return true;
}

bool jpegReadRows(JpegDecoder *d, uint8_t *pixels, size_t stride) {
  if (setjmp(d->err.jump))
    return false;
  while (d->cinfo.output_scanline < d->cinfo.output_height) {
    JSAMPROW row = pixels + d->cinfo.output_scanline * stride;
    jpeg_read_scanlines(&d->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&d->cinfo);
  return true;
}

class JpegDecoderGuard {
public:
  JpegDecoderGuard() {
    std::memset(&d, 0, sizeof d);
    d.cinfo.err = &d.err.mgr;
    setErrorHandlers(&d.err.mgr, &d.err);
  }
  JpegDecoderGuard(const JpegDecoderGuard &) = delete;
  JpegDecoderGuard &operator=(const JpegDecoderGuard &) = delete;
  // Safe after a failed or never-finished create: libjpeg checks cinfo.mem.
  ~JpegDecoderGuard() { jpeg_destroy_decompress(&d.cinfo); }
  JpegDecoder d;
};

absl::Status jpegFailure(const std::string &name, const JpegErrorMgr &e) {
  if (e.truncated)
    return absl::DataLossError(absl::StrCat(name, ": truncated JPEG data"));
  if (e.tooManyScans)
    return imageError(
        name, absl::StrCat("JPEG with more than ", kMaxScans, " scans"));
  return imageError(name, absl::StrCat("corrupt JPEG data: ", e.message));
}

// Adobe applications write CMYK inverted (0 = full ink) and flag it with an
// APP14 "Adobe" marker; others write it plain. The conversion is the naive
// one common decoders (TensorFlow, stb_image) use, rounded.
void cmykToRgb(const uint8_t *in, uint8_t *out, size_t pixels, bool inverted) {
  for (size_t i = 0; i < pixels; ++i, in += 4, out += 3) {
    unsigned c = in[0], m = in[1], y = in[2], k = in[3];
    if (!inverted) {
      c = 255 - c;
      m = 255 - m;
      y = 255 - y;
      k = 255 - k;
    }
    out[0] = static_cast<uint8_t>((c * k + 127) / 255);
    out[1] = static_cast<uint8_t>((m * k + 127) / 255);
    out[2] = static_cast<uint8_t>((y * k + 127) / 255);
  }
}

} // namespace

absl::StatusOr<Image> decodeJpeg(const uint8_t *data, size_t size,
                                 bool grayscale, const std::string &name) {
  JpegDecoderGuard g;
  JpegDecoder *d = &g.d;
  if (!jpegReadHeader(d, data, size))
    return jpegFailure(name, d->err);
  int64_t width = d->cinfo.image_width, height = d->cinfo.image_height;
  if (absl::Status st = checkImageSize(width, height, name, "JPEG"); !st.ok())
    return st;

  bool cmyk = d->cinfo.jpeg_color_space == JCS_CMYK ||
              d->cinfo.jpeg_color_space == JCS_YCCK;
  J_COLOR_SPACE out = cmyk ? JCS_CMYK : grayscale ? JCS_GRAYSCALE : JCS_RGB;
  int64_t components = cmyk ? 4 : grayscale ? 1 : 3;
  if (!jpegStartDecompress(d, out))
    return jpegFailure(name, d->err);
  if (d->cinfo.output_width != width || d->cinfo.output_height != height ||
      d->cinfo.output_components != components)
    return imageError(name, "unsupported JPEG output layout");

  Image image;
  image.height = height;
  image.width = width;
  image.channels = components;
  image.pixels.resize(static_cast<size_t>(height * width * components));
  if (!jpegReadRows(d, image.pixels.data(),
                    static_cast<size_t>(width * components)))
    return jpegFailure(name, d->err);
  if (cmyk) {
    // In place: each RGB pixel is written no later than its CMYK source.
    cmykToRgb(image.pixels.data(), image.pixels.data(),
              static_cast<size_t>(height * width),
              d->cinfo.saw_Adobe_marker != 0);
    image.channels = 3;
    image.pixels.resize(static_cast<size_t>(height * width * 3));
  }
  return image;
}

namespace {

struct JpegEncoder {
  jpeg_compress_struct cinfo;
  JpegErrorMgr err;
};

bool jpegCompress(JpegEncoder *e, const Image *image, int quality,
                  unsigned char **buffer, unsigned long *size) {
  if (setjmp(e->err.jump))
    return false;
  jpeg_create_compress(&e->cinfo);
  jpeg_mem_dest(&e->cinfo, buffer, size);
  e->cinfo.image_width = static_cast<JDIMENSION>(image->width);
  e->cinfo.image_height = static_cast<JDIMENSION>(image->height);
  e->cinfo.input_components = static_cast<int>(image->channels);
  e->cinfo.in_color_space = image->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&e->cinfo);
  jpeg_set_quality(&e->cinfo, quality, TRUE);
  jpeg_start_compress(&e->cinfo, TRUE);
  size_t stride = static_cast<size_t>(image->width * image->channels);
  while (e->cinfo.next_scanline < e->cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(image->pixels.data()) +
                   e->cinfo.next_scanline * stride;
    jpeg_write_scanlines(&e->cinfo, &row, 1);
  }
  jpeg_finish_compress(&e->cinfo);
  return true;
}

} // namespace
} // namespace detail

absl::StatusOr<std::vector<uint8_t>> encodeJpeg(const Image &image,
                                                int quality) {
  if (image.channels != 1 && image.channels != 3)
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot encode JPEG: ", image.channels, " channels (1 or 3)"));
  if (quality < 1 || quality > 100)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode JPEG: quality ", quality, " (1 to 100)"));
  if (absl::Status s = detail::checkEncodable(image, "JPEG"); !s.ok())
    return s;
  if (image.height > JPEG_MAX_DIMENSION || image.width > JPEG_MAX_DIMENSION)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode JPEG: ", image.height, "x", image.width,
                     " is over the format's ", JPEG_MAX_DIMENSION, " limit"));
  detail::JpegEncoder e;
  std::memset(&e, 0, sizeof e);
  e.cinfo.err = &e.err.mgr;
  detail::setErrorHandlers(&e.err.mgr, &e.err);
  unsigned char *buffer = nullptr;
  unsigned long size = 0;
  bool ok = detail::jpegCompress(&e, &image, quality, &buffer, &size);
  std::vector<uint8_t> bytes;
  if (ok)
    bytes.assign(buffer, buffer + size);
  jpeg_destroy_compress(&e.cinfo);
  std::free(buffer); // Allocated by jpeg_mem_dest with malloc.
  if (!ok)
    return absl::InternalError(
        absl::StrCat("JPEG encoder failed: ", e.err.message));
  return bytes;
}

absl::Status writeJpeg(const std::string &path, const Image &image,
                       int quality) {
  return detail::writeEncoded(path, encodeJpeg(image, quality));
}

} // namespace cnnc::runtime
