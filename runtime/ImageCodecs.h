// The per-format decoders behind decodeImage (runtime/Image.h), and what
// they share. Each returns the file's own channel layout: 1 grey, 2 grey +
// alpha, 3 RGB or 4 RGBA, 8 bits each; decodeImage converts to the colour
// mode asked for.
#pragma once

#include "runtime/Image.h"

#include "absl/strings/string_view.h"

namespace cnnc::runtime::detail {

absl::StatusOr<Image> decodePng(const uint8_t *data, size_t size,
                                const std::string &name);
// `grayscale`: let libjpeg produce luma directly (as TensorFlow's
// decode_jpeg(channels=1) does) rather than RGB.
absl::StatusOr<Image> decodeJpeg(const uint8_t *data, size_t size,
                                 bool grayscale, const std::string &name);
absl::StatusOr<Image> decodeGif(const uint8_t *data, size_t size,
                                const std::string &name);
absl::StatusOr<Image> decodeBmp(const uint8_t *data, size_t size,
                                const std::string &name);

// The pixel cap, checked from the header before any allocation: an error
// unless 1 <= width, height and width * height <= kMaxImagePixels.
absl::Status checkImageSize(int64_t width, int64_t height,
                            const std::string &name, absl::string_view format);

// "name: <what>", where `what` (often a library's message) is cut to one
// line of printable characters.
absl::Status imageError(const std::string &name, absl::string_view what);

// An error unless `image` has 1 <= height, width <= 2^30 and pixels of its
// size; the message starts with "cannot encode <format>".
absl::Status checkEncodable(const Image &image, absl::string_view format);

// Writes encoded bytes to `path` atomically; an encoding error gets the
// path in front.
absl::Status writeEncoded(const std::string &path,
                          const absl::StatusOr<std::vector<uint8_t>> &bytes);

} // namespace cnnc::runtime::detail
