// libFuzzer harness for the image decoders (runtime/Image*.cpp): PNG, JPEG,
// GIF and BMP through libpng, libjpeg-turbo, giflib and our BMP reader, in
// each colour mode, then resizeImage of the result with each method.
//
// Defects: an error that is not one line starting with the name; a decoded
// image whose sizes disagree with its pixels or the pixel cap; colour modes
// that disagree on the size, or RGB and the colour part of RGBA that
// differ; an image that decodes in one mode but not in another.
#include "FuzzCheck.h"

#include "runtime/Image.h"

#include <cstdint>
#include <string>
#include <vector>

using namespace cnnc;
using runtime::ColorMode;

namespace {

const std::string kName = "fuzz/img.png";

void checkError(const absl::Status &s) {
  std::string m(s.message());
  CNNC_FUZZ_CHECK(fuzz::isOneLine(m), m);
  CNNC_FUZZ_CHECK(m.substr(0, kName.size() + 2) == kName + ": ", m);
}

void checkImage(const runtime::Image &im, ColorMode mode) {
  CNNC_FUZZ_CHECK(im.height >= 1 && im.width >= 1, "empty image");
  CNNC_FUZZ_CHECK(im.height * im.width <= runtime::kMaxImagePixels,
                  "over the pixel cap");
  CNNC_FUZZ_CHECK(im.channels == runtime::channelsOf(mode), "channels");
  CNNC_FUZZ_CHECK(static_cast<uint64_t>(im.pixels.size()) ==
                      static_cast<uint64_t>(im.height * im.width * im.channels),
                  "pixel count differs from the sizes");
}

// A few bytes can declare a big image (a GIF's logical screen, arithmetic-
// coded JPEG), and resizing it 18 times under ASan takes seconds; the
// resize code paths are the same for a smaller one.
constexpr int64_t kMaxResizedPixels = int64_t{1} << 18;

void resizeAll(const runtime::Image &im) {
  if (im.height * im.width > kMaxResizedPixels)
    return;
  static const runtime::Interpolation kMethods[] = {
      runtime::Interpolation::Bilinear, runtime::Interpolation::Nearest,
      runtime::Interpolation::Area};
  // Small targets keep area resizing of big inputs cheap enough.
  static const int64_t kSizes[][2] = {{3, 5}, {1, 1}, {7, 2}};
  std::vector<uint8_t> out;
  for (const auto &size : kSizes) {
    // Guard bytes after the output catch a write past its end even without
    // ASan.
    size_t n = static_cast<size_t>(size[0] * size[1] * im.channels);
    for (runtime::Interpolation m : kMethods)
      for (bool crop : {false, true}) {
        out.assign(n + 8, 0xa5);
        runtime::resizeImage(im, size[0], size[1], m, crop, out.data());
        for (size_t i = n; i < n + 8; ++i)
          CNNC_FUZZ_CHECK(out[i] == 0xa5, "resizeImage wrote past its end");
      }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  absl::StatusOr<runtime::Image> rgb =
      runtime::decodeImage(data, size, ColorMode::Rgb, kName);
  absl::StatusOr<runtime::Image> rgba =
      runtime::decodeImage(data, size, ColorMode::Rgba, kName);
  absl::StatusOr<runtime::Image> grey =
      runtime::decodeImage(data, size, ColorMode::Grayscale, kName);
  CNNC_FUZZ_CHECK(rgb.ok() == rgba.ok(), "RGB and RGBA disagree on success");
  if (!rgb.ok()) {
    checkError(rgb.status());
    checkError(rgba.status());
  }
  if (!grey.ok())
    checkError(grey.status());
  if (!rgb.ok())
    return 0;
  checkImage(*rgb, ColorMode::Rgb);
  checkImage(*rgba, ColorMode::Rgba);
  CNNC_FUZZ_CHECK(rgb->height == rgba->height && rgb->width == rgba->width,
                  "RGB and RGBA sizes differ");
  // A plain loop: memcmp per pixel goes through ASan's interceptor, which
  // is slow for the tens of millions of pixels a few bytes can declare.
  const uint8_t *a = rgb->pixels.data(), *b = rgba->pixels.data();
  bool same = true;
  for (size_t i = 0, n = static_cast<size_t>(rgb->height * rgb->width); i < n;
       ++i, a += 3, b += 4)
    same &= a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
  CNNC_FUZZ_CHECK(same, "RGB differs from the colour of RGBA");
  if (grey.ok()) {
    checkImage(*grey, ColorMode::Grayscale);
    CNNC_FUZZ_CHECK(grey->height == rgb->height && grey->width == rgb->width,
                    "greyscale and RGB sizes differ");
    resizeAll(*grey);
  }
  resizeAll(*rgba);
  return 0;
}
