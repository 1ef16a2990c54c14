// Image files for training on image folders (docs/formats.md, "Images"):
// PNG, JPEG, BMP and GIF decoding (by content, not by name), conversion to
// one colour mode, Keras-style resizing to a fixed size, and PNG/JPEG
// encoding for tools and tests that write image folders.
#pragma once

#include "ir/TrainingSpec.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::runtime {

// Keras color_mode ("grayscale", "rgb", "rgba": 1, 3, 4 channels) and the
// tf.image.resize methods cnnc implements, as the fit statement names them.
using ir::channelsOf;
using ir::ColorMode;
using ir::Interpolation;

// Decompression-bomb guard: images whose header declares more pixels
// (width * height) than this are refused before any pixel is decoded.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26; // e.g. 8192 x 8192
// readImageFile refuses larger files.
constexpr int64_t kMaxImageFileBytes = int64_t{256} << 20;

// 8-bit pixels, row-major [height, width, channels].
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Decodes a PNG, JPEG, BMP or GIF (its first frame), recognised by its magic
// bytes, and converts it to `mode`. Errors are one line starting with
// `name + ": "`. Never prints anything; the libraries' warnings are
// ignored. Safe to call from several threads at once: each call has its
// own decoder state.
absl::StatusOr<Image> decodeImage(const uint8_t *data, size_t size,
                                  ColorMode mode, const std::string &name);

// Reads a regular file of at most kMaxImageFileBytes and decodes it; errors
// start with "path: ".
absl::StatusOr<Image> readImageFile(const std::string &path, ColorMode mode);

// Resizes `in` to height x width (same channels) into
// out[height * width * in.channels], as Keras' image_dataset_from_directory
// does: tf.image.resize(method, antialias=False) (half-pixel centres for
// bilinear and nearest, exact footprints for area), with the result rounded
// to the nearest integer and clamped to [0, 255] (Keras keeps the floats).
// With cropToAspectRatio, first the largest centred crop with the target's
// aspect ratio is taken (keras.utils.smart_resize). Equal sizes and no crop
// copy the pixels. `in` must be a valid image (height, width >= 1, pixels
// of its size) and height, width >= 1; otherwise `out` is zero-filled.
void resizeImage(const Image &in, int64_t height, int64_t width,
                 Interpolation method, bool cropToAspectRatio, uint8_t *out);

// The crop resizeImage takes with cropToAspectRatio: rows [top, top +
// height), columns [left, left + width) of the input.
struct CropWindow {
  int64_t top = 0, left = 0, height = 0, width = 0;
};
CropWindow aspectRatioCrop(int64_t inHeight, int64_t inWidth, int64_t outHeight,
                           int64_t outWidth);

// Encoders: 8-bit, 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels
// for PNG; 1 or 3 channels and quality 1..100 for JPEG (baseline, 4:2:0
// chroma subsampling for colour). The files are written atomically
// (support/AtomicFile.h).
absl::StatusOr<std::vector<uint8_t>> encodePng(const Image &image);
absl::StatusOr<std::vector<uint8_t>> encodeJpeg(const Image &image,
                                                int quality = 95);
absl::Status writePng(const std::string &path, const Image &image);
absl::Status writeJpeg(const std::string &path, const Image &image,
                       int quality = 95);

} // namespace cnnc::runtime
