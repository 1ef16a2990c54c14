// Image decoding, colour conversion, resizing and encoding (runtime/Image.h).
// The odd inputs (16-bit, palette, interlaced PNG; progressive and CMYK
// JPEG; GIF; BMP) are written here with the libraries' own encoders or by
// hand, independently of the code under test.
#include "runtime/Image.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <random>
#include <sys/stat.h>
#include <zlib.h>

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>

namespace cnnc::runtime {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

::testing::AssertionResult isErrorFor(const absl::Status &s,
                                      const std::string &name,
                                      const std::string &part = "") {
  std::string m(s.message());
  if (s.ok())
    return ::testing::AssertionFailure() << "no error";
  if (m.rfind(name + ": ", 0) != 0)
    return ::testing::AssertionFailure()
           << "'" << m << "' does not start with '" << name << ": '";
  if (m.find('\n') != std::string::npos)
    return ::testing::AssertionFailure() << "'" << m << "' is not one line";
  if (m.find(part) == std::string::npos)
    return ::testing::AssertionFailure()
           << "'" << m << "' does not contain '" << part << "'";
  return ::testing::AssertionSuccess();
}

Image makeImage(int64_t h, int64_t w, int64_t c, uint32_t seed,
                bool smooth = false) {
  Image im{h, w, c, Bytes(static_cast<size_t>(h * w * c))};
  std::mt19937 rng(seed);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < c; ++k) {
        int v = static_cast<int>(rng() % 256);
        if (smooth) { // Gradients and a little noise: what JPEG is for.
          int64_t g = k % 3 == 0 ? x * 180 / std::max<int64_t>(w - 1, 1)
                      : k % 3 == 1
                          ? y * 180 / std::max<int64_t>(h - 1, 1)
                          : (x + y) * 90 / std::max<int64_t>(w + h - 2, 1);
          v = static_cast<int>(20 + g) + static_cast<int>(rng() % 5);
        }
        im.pixels[static_cast<size_t>((y * w + x) * c + k)] =
            static_cast<uint8_t>(v);
      }
  return im;
}

double psnr(const Image &a, const Image &b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  double se = 0;
  for (size_t i = 0; i < std::min(a.pixels.size(), b.pixels.size()); ++i) {
    double d = double(a.pixels[i]) - double(b.pixels[i]);
    se += d * d;
  }
  double mse = se / double(a.pixels.size());
  return mse == 0 ? 99 : 10 * std::log10(255.0 * 255.0 / mse);
}

uint8_t luma(int r, int g, int b) {
  return static_cast<uint8_t>(std::lround(0.299 * r + 0.587 * g + 0.114 * b));
}

// ---- PNG written with libpng's own write API ----

struct PngSpec {
  int colorType = PNG_COLOR_TYPE_RGB;
  int bitDepth = 8;
  bool interlace = false;
  std::vector<png_color> palette;
  Bytes trnsAlpha;   // palette tRNS
  int trnsGrey = -1; // grey tRNS
};

void appendBytes(png_structp png, png_bytep data, size_t n) {
  auto *out = static_cast<Bytes *>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}
void noFlush(png_structp) {}

// `rows`: packed sample rows as libpng takes them (16-bit big-endian).
Bytes writeTestPng(uint32_t w, uint32_t h, const PngSpec &spec,
                   std::vector<Bytes> rows) {
  Bytes out;
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, appendBytes, noFlush);
  png_set_IHDR(png, info, w, h, spec.bitDepth, spec.colorType,
               spec.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty())
    png_set_PLTE(png, info, spec.palette.data(),
                 static_cast<int>(spec.palette.size()));
  if (!spec.trnsAlpha.empty())
    png_set_tRNS(png, info, spec.trnsAlpha.data(),
                 static_cast<int>(spec.trnsAlpha.size()), nullptr);
  if (spec.trnsGrey >= 0) {
    png_color_16 c{};
    c.gray = static_cast<png_uint_16>(spec.trnsGrey);
    png_set_tRNS(png, info, nullptr, 0, &c);
  }
  png_write_info(png, info);
  std::vector<png_bytep> ptrs;
  for (Bytes &r : rows)
    ptrs.push_back(r.data());
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::vector<Bytes> rowsOf(const Image &im) {
  std::vector<Bytes> rows;
  size_t stride = static_cast<size_t>(im.width * im.channels);
  for (int64_t y = 0; y < im.height; ++y)
    rows.emplace_back(im.pixels.begin() + y * stride,
                      im.pixels.begin() + (y + 1) * stride);
  return rows;
}

absl::StatusOr<Image> decode(const Bytes &b, ColorMode mode,
                             const std::string &name = "mem.png") {
  return decodeImage(b.data(), b.size(), mode, name);
}

// ---- JPEG written with libjpeg directly (progressive, CMYK, YCCK) ----

// `pixels`: components per pixel as `in` says (1, 3 or 4).
Bytes writeTestJpeg(const Bytes &pixels, int w, int h, J_COLOR_SPACE in,
                    int components, bool progressive,
                    J_COLOR_SPACE stored = JCS_UNKNOWN) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char *buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = components;
  c.in_color_space = in;
  jpeg_set_defaults(&c);
  if (stored != JCS_UNKNOWN)
    jpeg_set_colorspace(&c, stored);
  jpeg_set_quality(&c, 95, TRUE);
  if (progressive)
    jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data()) +
                   c.next_scanline * static_cast<size_t>(w * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  Bytes out(buf, buf + size);
  free(buf);
  return out;
}

class ImageTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "cnnc-image-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string &name) const {
    return (fs::path(dir) / name).string();
  }
  std::string writeFile(const std::string &name, const Bytes &bytes) const {
    std::string p = path(name);
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  std::string dir;
};

// ---- PNG ----

TEST_F(ImageTest, PngRoundTripsEveryModeAndOddSizes) {
  const ColorMode modes[] = {ColorMode::Grayscale, ColorMode::Rgb,
                             ColorMode::Rgba};
  const int64_t sizes[][2] = {{1, 1}, {7, 5}, {3, 13}, {31, 2}};
  uint32_t seed = 1;
  for (ColorMode mode : modes)
    for (const auto &s : sizes) {
      Image im = makeImage(s[0], s[1], channelsOf(mode), seed++);
      std::string p = path("a.png");
      ASSERT_TRUE(writePng(p, im).ok());
      absl::StatusOr<Image> back = readImageFile(p, mode);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->height, s[0]);
      EXPECT_EQ(back->width, s[1]);
      EXPECT_EQ(back->channels, channelsOf(mode));
      EXPECT_EQ(back->pixels, im.pixels);
    }
}

TEST_F(ImageTest, Png16BitIsScaledTo8) {
  // RGB, 16 bits: v16 -> round(v16 * 255 / 65535).
  const uint16_t values[] = {0, 1, 128, 129, 257, 32767, 32768, 65279, 65535};
  Bytes row;
  for (uint16_t v : values)
    for (int k = 0; k < 3; ++k) {
      row.push_back(static_cast<uint8_t>(v >> 8));
      row.push_back(static_cast<uint8_t>(v & 0xff));
    }
  PngSpec spec;
  spec.bitDepth = 16;
  Bytes png = writeTestPng(std::size(values), 1, spec, {row});
  absl::StatusOr<Image> im = decode(png, ColorMode::Rgb);
  ASSERT_TRUE(im.ok()) << im.status();
  for (size_t i = 0; i < std::size(values); ++i)
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(im->pixels[i * 3 + k], std::lround(values[i] * 255.0 / 65535))
          << values[i];
}

TEST_F(ImageTest, PalettePngWithTransparency) {
  PngSpec spec;
  spec.colorType = PNG_COLOR_TYPE_PALETTE;
  spec.bitDepth = 4;
  spec.palette = {{10, 20, 30}, {200, 100, 50}, {0, 255, 0}};
  spec.trnsAlpha = {0, 128}; // Entry 2 has no tRNS value: opaque.
  // 5 pixels at 4 bits: indices 0 1 2 1 0, packed high nibble first.
  Bytes row = {0x01, 0x21, 0x00};
  Bytes png = writeTestPng(5, 1, spec, {row});
  absl::StatusOr<Image> rgba = decode(png, ColorMode::Rgba);
  ASSERT_TRUE(rgba.ok()) << rgba.status();
  EXPECT_EQ(rgba->pixels, (Bytes{10, 20,  30,  0,   200, 100, 50, 128, 0,  255,
                                 0,  255, 200, 100, 50,  128, 10, 20,  30, 0}));
  absl::StatusOr<Image> rgb = decode(png, ColorMode::Rgb);
  ASSERT_TRUE(rgb.ok());
  EXPECT_EQ(rgb->pixels, (Bytes{10, 20, 30, 200, 100, 50, 0, 255, 0, 200, 100,
                                50, 10, 20, 30}));
  absl::StatusOr<Image> grey = decode(png, ColorMode::Grayscale);
  ASSERT_TRUE(grey.ok());
  EXPECT_EQ(grey->pixels,
            (Bytes{luma(10, 20, 30), luma(200, 100, 50), luma(0, 255, 0),
                   luma(200, 100, 50), luma(10, 20, 30)}));
}

TEST_F(ImageTest, GreyAlphaAndLowBitGreyPng) {
  PngSpec ga;
  ga.colorType = PNG_COLOR_TYPE_GRAY_ALPHA;
  Bytes png = writeTestPng(2, 1, ga, {{7, 200, 250, 3}});
  absl::StatusOr<Image> rgba = decode(png, ColorMode::Rgba);
  ASSERT_TRUE(rgba.ok()) << rgba.status();
  EXPECT_EQ(rgba->pixels, (Bytes{7, 7, 7, 200, 250, 250, 250, 3}));
  absl::StatusOr<Image> grey = decode(png, ColorMode::Grayscale);
  ASSERT_TRUE(grey.ok());
  EXPECT_EQ(grey->pixels, (Bytes{7, 250}));
  absl::StatusOr<Image> rgb = decode(png, ColorMode::Rgb);
  ASSERT_TRUE(rgb.ok());
  EXPECT_EQ(rgb->pixels, (Bytes{7, 7, 7, 250, 250, 250}));

  // 2-bit grey: 0..3 -> 0, 85, 170, 255; value 2 transparent via tRNS.
  PngSpec g2;
  g2.colorType = PNG_COLOR_TYPE_GRAY;
  g2.bitDepth = 2;
  g2.trnsGrey = 2;
  png = writeTestPng(4, 1, g2, {{0x1b}}); // 00 01 10 11
  rgba = decode(png, ColorMode::Rgba);
  ASSERT_TRUE(rgba.ok()) << rgba.status();
  EXPECT_EQ(rgba->pixels, (Bytes{0, 0, 0, 255, 85, 85, 85, 255, 170, 170, 170,
                                 0, 255, 255, 255, 255}));
  grey = decode(png, ColorMode::Grayscale);
  ASSERT_TRUE(grey.ok());
  EXPECT_EQ(grey->pixels, (Bytes{0, 85, 170, 255}));
}

TEST_F(ImageTest, InterlacedPng) {
  for (int64_t c : {1, 3, 4}) {
    Image im = makeImage(11, 9, c, 77 + static_cast<uint32_t>(c));
    PngSpec spec;
    spec.colorType = c == 1   ? PNG_COLOR_TYPE_GRAY
                     : c == 3 ? PNG_COLOR_TYPE_RGB
                              : PNG_COLOR_TYPE_RGB_ALPHA;
    spec.interlace = true;
    Bytes png = writeTestPng(9, 11, spec, rowsOf(im));
    ColorMode mode = c == 1   ? ColorMode::Grayscale
                     : c == 3 ? ColorMode::Rgb
                              : ColorMode::Rgba;
    absl::StatusOr<Image> back = decode(png, mode);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->pixels, im.pixels);
  }
}

TEST_F(ImageTest, ColourModeConversions) {
  // RGBA source: RGB drops alpha (no compositing), grey is BT.601 luma.
  Image rgba{1, 3, 4, {255, 0, 0, 10, 0, 255, 0, 0, 12, 34, 56, 255}};
  Bytes png = *encodePng(rgba);
  EXPECT_EQ(decode(png, ColorMode::Rgb)->pixels,
            (Bytes{255, 0, 0, 0, 255, 0, 12, 34, 56}));
  EXPECT_EQ(decode(png, ColorMode::Grayscale)->pixels,
            (Bytes{76, 150, luma(12, 34, 56)}));
  // RGB source: alpha 255 added.
  Image rgb{1, 2, 3, {1, 2, 3, 250, 251, 252}};
  png = *encodePng(rgb);
  EXPECT_EQ(decode(png, ColorMode::Rgba)->pixels,
            (Bytes{1, 2, 3, 255, 250, 251, 252, 255}));
  EXPECT_EQ(decode(png, ColorMode::Grayscale)->pixels,
            (Bytes{luma(1, 2, 3), luma(250, 251, 252)}));
  // Grey source: replicated.
  Image grey{2, 1, 1, {9, 200}};
  png = *encodePng(grey);
  EXPECT_EQ(decode(png, ColorMode::Rgb)->pixels,
            (Bytes{9, 9, 9, 200, 200, 200}));
  EXPECT_EQ(decode(png, ColorMode::Rgba)->pixels,
            (Bytes{9, 9, 9, 255, 200, 200, 200, 255}));
  // Luma of every grey level is itself, of white 255.
  EXPECT_EQ(luma(255, 255, 255), 255);
}

// ---- JPEG ----

TEST_F(ImageTest, JpegBaselineProgressiveAndGrey) {
  Image rgb = makeImage(37, 53, 3, 5, /*smooth=*/true);
  std::string p = path("a.jpg");
  ASSERT_TRUE(writeJpeg(p, rgb, 95).ok());
  absl::StatusOr<Image> back = readImageFile(p, ColorMode::Rgb);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_GT(psnr(*back, rgb), 30);

  Bytes prog = writeTestJpeg(rgb.pixels, 53, 37, JCS_RGB, 3, true);
  absl::StatusOr<Image> fromProg = decode(prog, ColorMode::Rgb, "p.jpg");
  ASSERT_TRUE(fromProg.ok()) << fromProg.status();
  EXPECT_GT(psnr(*fromProg, rgb), 30);
  // RGBA adds alpha 255 to the same colours.
  absl::StatusOr<Image> withAlpha = decode(prog, ColorMode::Rgba, "p.jpg");
  ASSERT_TRUE(withAlpha.ok());
  for (size_t i = 0; i < 37 * 53; ++i) {
    ASSERT_EQ(withAlpha->pixels[4 * i + 3], 255);
    ASSERT_EQ(withAlpha->pixels[4 * i], fromProg->pixels[3 * i]);
  }
  // Grey from a colour JPEG is libjpeg's luma: close to BT.601 of its RGB.
  absl::StatusOr<Image> grey = decode(prog, ColorMode::Grayscale, "p.jpg");
  ASSERT_TRUE(grey.ok());
  for (size_t i = 0; i < 37 * 53; ++i) {
    const uint8_t *c = &fromProg->pixels[3 * i];
    ASSERT_NEAR(grey->pixels[i], luma(c[0], c[1], c[2]), 3);
  }

  Image g = makeImage(20, 17, 1, 6, true);
  ASSERT_TRUE(writeJpeg(p, g, 90).ok());
  absl::StatusOr<Image> gBack = readImageFile(p, ColorMode::Grayscale);
  ASSERT_TRUE(gBack.ok()) << gBack.status();
  EXPECT_GT(psnr(*gBack, g), 30);
  absl::StatusOr<Image> gRgb = readImageFile(p, ColorMode::Rgb);
  ASSERT_TRUE(gRgb.ok());
  for (size_t i = 0; i < 20 * 17; ++i)
    for (int k = 0; k < 3; ++k)
      ASSERT_EQ(gRgb->pixels[3 * i + k], gBack->pixels[i]);
}

TEST_F(ImageTest, CmykAndYcckJpeg) {
  Image rgb = makeImage(16, 24, 3, 8, true);
  // Adobe-style inverted CMYK holding the colour with no black ink:
  // stored C = R, M = G, Y = B, K = 255.
  Bytes cmyk;
  for (size_t i = 0; i < 16 * 24; ++i) {
    cmyk.insert(cmyk.end(), &rgb.pixels[3 * i], &rgb.pixels[3 * i] + 3);
    cmyk.push_back(255);
  }
  for (J_COLOR_SPACE stored : {JCS_CMYK, JCS_YCCK}) {
    Bytes jpg = writeTestJpeg(cmyk, 24, 16, JCS_CMYK, 4, false, stored);
    absl::StatusOr<Image> back = decode(jpg, ColorMode::Rgb, "c.jpg");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_GT(psnr(*back, rgb), 30) << stored;
    absl::StatusOr<Image> grey = decode(jpg, ColorMode::Grayscale, "c.jpg");
    ASSERT_TRUE(grey.ok());
    for (size_t i = 0; i < 16 * 24; ++i) {
      const uint8_t *c = &back->pixels[3 * i];
      ASSERT_EQ(grey->pixels[i], luma(c[0], c[1], c[2]));
    }
  }
}

// ---- GIF and BMP ----

int appendGif(GifFileType *gif, const GifByteType *data, int n) {
  auto *out = static_cast<Bytes *>(gif->UserData);
  out->insert(out->end(), data, data + n);
  return n;
}

TEST_F(ImageTest, GifFirstFrameOnTheScreen) {
  // 4x3 screen; first frame 2x2 at (1, 1), interlaced, index 3
  // transparent; a second frame that must be ignored.
  Bytes out;
  int err = 0;
  GifFileType *gif = EGifOpen(&out, appendGif, &err);
  ASSERT_NE(gif, nullptr);
  GifColorType colors[4] = {{0, 0, 0}, {255, 0, 0}, {0, 0, 255}, {9, 9, 9}};
  ColorMapObject *map = GifMakeMapObject(4, colors);
  EGifSetGifVersion(gif, true);
  ASSERT_EQ(EGifPutScreenDesc(gif, 4, 3, 8, 0, map), GIF_OK);
  GraphicsControlBlock gcb{DISPOSAL_UNSPECIFIED, false, 0, 3};
  GifByteType ext[4];
  size_t n = EGifGCBToExtension(&gcb, ext);
  ASSERT_EQ(
      EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(n), ext),
      GIF_OK);
  ASSERT_EQ(EGifPutImageDesc(gif, 1, 1, 2, 2, true, nullptr), GIF_OK);
  GifPixelType r0[] = {1, 2}, r1[] = {3, 1};
  ASSERT_EQ(EGifPutLine(gif, r0, 2), GIF_OK);
  ASSERT_EQ(EGifPutLine(gif, r1, 2), GIF_OK);
  ASSERT_EQ(EGifPutImageDesc(gif, 0, 0, 4, 3, false, nullptr), GIF_OK);
  GifPixelType all[12] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  for (int y = 0; y < 3; ++y)
    ASSERT_EQ(EGifPutLine(gif, all + 4 * y, 4), GIF_OK);
  ASSERT_EQ(EGifCloseFile(gif, &err), GIF_OK);
  GifFreeMapObject(map);

  absl::StatusOr<Image> im = decode(out, ColorMode::Rgba, "a.gif");
  ASSERT_TRUE(im.ok()) << im.status();
  ASSERT_EQ(im->height, 3);
  ASSERT_EQ(im->width, 4);
  Bytes expected(3 * 4 * 4, 0);
  auto set = [&](int y, int x, Bytes px) {
    std::copy(px.begin(), px.end(), expected.begin() + (y * 4 + x) * 4);
  };
  set(1, 1, {255, 0, 0, 255});
  set(1, 2, {0, 0, 255, 255});
  set(2, 2, {255, 0, 0, 255}); // (2, 1) is transparent.
  EXPECT_EQ(im->pixels, expected);
  // Cut anywhere: an error, or (once the first frame is whole) the same
  // image.
  int failed = 0;
  for (size_t cut = 0; cut < out.size(); ++cut) {
    absl::StatusOr<Image> r =
        decodeImage(out.data(), cut, ColorMode::Rgba, "cut.gif");
    if (r.ok()) {
      EXPECT_EQ(r->pixels, expected) << cut;
    } else {
      ++failed;
      EXPECT_TRUE(isErrorFor(r.status(), "cut.gif")) << cut;
    }
  }
  EXPECT_GT(failed, 20);
}

void le16(Bytes &b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void le32(Bytes &b, uint32_t v) {
  le16(b, v & 0xffff);
  le16(b, v >> 16);
}

Bytes bmp(int32_t w, int32_t h, uint16_t bits, uint32_t compression,
          const Bytes &extra, const Bytes &pixelData, uint32_t colors = 0) {
  Bytes b = {'B', 'M'};
  le32(b, 0);
  le32(b, 0);
  le32(b, static_cast<uint32_t>(14 + 40 + extra.size()));
  le32(b, 40);
  le32(b, static_cast<uint32_t>(w));
  le32(b, static_cast<uint32_t>(h));
  le16(b, 1);
  le16(b, bits);
  le32(b, compression);
  le32(b, static_cast<uint32_t>(pixelData.size()));
  le32(b, 2835);
  le32(b, 2835);
  le32(b, colors);
  le32(b, 0);
  b.insert(b.end(), extra.begin(), extra.end());
  b.insert(b.end(), pixelData.begin(), pixelData.end());
  return b;
}

TEST_F(ImageTest, BmpVariants) {
  // 24-bit, bottom-up, 2x2: rows padded to 8 bytes, BGR.
  Bytes px24 = {3, 2, 1, 6, 5, 4, 0, 0, 9, 8, 7, 12, 11, 10, 0, 0};
  Bytes file = bmp(2, 2, 24, 0, {}, px24);
  absl::StatusOr<Image> im = decode(file, ColorMode::Rgb, "a.bmp");
  ASSERT_TRUE(im.ok()) << im.status();
  EXPECT_EQ(im->pixels, (Bytes{7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6}));
  // Top-down (negative height): rows in file order.
  im = decode(bmp(2, -2, 24, 0, {}, px24), ColorMode::Rgb, "a.bmp");
  ASSERT_TRUE(im.ok());
  EXPECT_EQ(im->pixels, (Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));

  // 8-bit palette of 2 colours, 3x1; index 5 is past the palette: black.
  Bytes palette = {30, 20, 10, 0, 0, 0, 255, 0};
  im = decode(bmp(3, 1, 8, 0, palette, {1, 0, 5, 0}, 2), ColorMode::Rgba,
              "p.bmp");
  ASSERT_TRUE(im.ok()) << im.status();
  EXPECT_EQ(im->pixels, (Bytes{255, 0, 0, 255, 10, 20, 30, 255, 0, 0, 0, 255}));

  // 32-bit BI_RGB: a zero spare byte everywhere means opaque; otherwise
  // it is alpha.
  im = decode(bmp(2, 1, 32, 0, {}, {1, 2, 3, 0, 4, 5, 6, 0}), ColorMode::Rgba,
              "x.bmp");
  ASSERT_TRUE(im.ok());
  EXPECT_EQ(im->pixels, (Bytes{3, 2, 1, 255, 6, 5, 4, 255}));
  im = decode(bmp(2, 1, 32, 0, {}, {1, 2, 3, 0, 4, 5, 6, 99}), ColorMode::Rgba,
              "x.bmp");
  ASSERT_TRUE(im.ok());
  EXPECT_EQ(im->pixels, (Bytes{3, 2, 1, 0, 6, 5, 4, 99}));

  // 16-bit BI_BITFIELDS 5-6-5: pure red, full green.
  Bytes masks;
  le32(masks, 0xf800);
  le32(masks, 0x07e0);
  le32(masks, 0x001f);
  im = decode(bmp(2, 1, 16, 3, masks, {0x00, 0xf8, 0xe0, 0x07}), ColorMode::Rgb,
              "f.bmp");
  ASSERT_TRUE(im.ok()) << im.status();
  EXPECT_EQ(im->pixels, (Bytes{255, 0, 0, 0, 255, 0}));

  // RLE is not supported; short pixel data is truncation.
  EXPECT_TRUE(isErrorFor(
      decode(bmp(2, 1, 8, 1, palette, {0, 0}, 2), ColorMode::Rgb, "r.bmp")
          .status(),
      "r.bmp", "unsupported BMP compression 1"));
  for (size_t cut = 2; cut < file.size(); ++cut)
    EXPECT_TRUE(isErrorFor(
        decodeImage(file.data(), cut, ColorMode::Rgb, "t.bmp").status(),
        "t.bmp", "truncated"))
        << cut;
}

// ---- Resizing ----

// Naive double-precision references of the documented formulas.
double refBilinear(const Image &in, int64_t oh, int64_t ow, int64_t y,
                   int64_t x, int64_t k) {
  auto coord = [](int64_t d, int64_t inSize, int64_t outSize, int64_t &i0,
                  int64_t &i1) {
    double src = (d + 0.5) * double(inSize) / double(outSize) - 0.5;
    double lo = std::floor(src);
    i0 = std::clamp<int64_t>(int64_t(lo), 0, inSize - 1);
    i1 = std::clamp<int64_t>(int64_t(lo) + 1, 0, inSize - 1);
    return src - lo;
  };
  int64_t y0, y1, x0, x1;
  double fy = coord(y, in.height, oh, y0, y1);
  double fx = coord(x, in.width, ow, x0, x1);
  auto p = [&](int64_t yy, int64_t xx) {
    return double(in.pixels[size_t((yy * in.width + xx) * in.channels + k)]);
  };
  return (1 - fy) * ((1 - fx) * p(y0, x0) + fx * p(y0, x1)) +
         fy * ((1 - fx) * p(y1, x0) + fx * p(y1, x1));
}

double refArea(const Image &in, int64_t oh, int64_t ow, int64_t y, int64_t x,
               int64_t k) {
  double sy = double(in.height) / oh, sx = double(in.width) / ow;
  double sum = 0;
  for (int64_t i = 0; i < in.height; ++i) {
    double wy = std::min(i + 1.0, (y + 1) * sy) - std::max(double(i), y * sy);
    if (wy <= 0)
      continue;
    for (int64_t j = 0; j < in.width; ++j) {
      double wx = std::min(j + 1.0, (x + 1) * sx) - std::max(double(j), x * sx);
      if (wx > 0)
        sum +=
            wy * wx * in.pixels[size_t((i * in.width + j) * in.channels + k)];
    }
  }
  return sum / (sy * sx);
}

// Exact unless the reference is within 0.01 of a rounding boundary, where
// float and double may round differently.
void expectMatches(double ref, uint8_t got, const std::string &where) {
  double r = std::floor(ref + 0.5);
  double frac = ref - std::floor(ref);
  if (std::fabs(frac - 0.5) < 0.01)
    EXPECT_LE(std::fabs(got - ref), 0.51) << where;
  else
    EXPECT_EQ(got, r) << where << " ref " << ref;
}

TEST(ImageResize, MatchesReferenceOnRandomSizes) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 60; ++trial) {
    int64_t ih = 1 + rng() % 23, iw = 1 + rng() % 23, c = 1 + rng() % 4;
    int64_t oh = 1 + rng() % 23, ow = 1 + rng() % 23;
    Image in = makeImage(ih, iw, c, static_cast<uint32_t>(trial));
    Bytes bil(size_t(oh * ow * c)), near(bil.size()), area(bil.size());
    resizeImage(in, oh, ow, Interpolation::Bilinear, false, bil.data());
    resizeImage(in, oh, ow, Interpolation::Nearest, false, near.data());
    resizeImage(in, oh, ow, Interpolation::Area, false, area.data());
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x)
        for (int64_t k = 0; k < c; ++k) {
          std::string where = std::to_string(ih) + "x" + std::to_string(iw) +
                              "->" + std::to_string(oh) + "x" +
                              std::to_string(ow) + " at " + std::to_string(y) +
                              "," + std::to_string(x);
          size_t o = size_t((y * ow + x) * c + k);
          expectMatches(refBilinear(in, oh, ow, y, x, k), bil[o],
                        "bilinear " + where);
          expectMatches(refArea(in, oh, ow, y, x, k), area[o], "area " + where);
          // Nearest: floor((d + 0.5) * in / out) in float32, as TF.
          auto src = [](int64_t d, int64_t inSize, int64_t outSize) {
            float s = float(inSize) / float(outSize);
            return std::min<int64_t>(int64_t(std::floor((d + 0.5f) * s)),
                                     inSize - 1);
          };
          EXPECT_EQ(
              near[o],
              in.pixels[size_t((src(y, ih, oh) * iw + src(x, iw, ow)) * c + k)])
              << "nearest " << where;
        }
  }
}

TEST(ImageResize, HandComputedValues) {
  Image row{1, 2, 1, {0, 100}};
  Bytes out(4);
  // Half-pixel centres: sources -0.25, 0.25, 0.75, 1.25.
  resizeImage(row, 1, 4, Interpolation::Bilinear, false, out.data());
  EXPECT_EQ(out, (Bytes{0, 25, 75, 100}));
  resizeImage(row, 1, 4, Interpolation::Nearest, false, out.data());
  EXPECT_EQ(out, (Bytes{0, 0, 100, 100}));
  Image four{1, 4, 1, {12, 20, 30, 50}};
  Bytes two(2);
  resizeImage(four, 1, 2, Interpolation::Area, false, two.data());
  EXPECT_EQ(two, (Bytes{16, 40}));
  resizeImage(four, 1, 2, Interpolation::Nearest, false, two.data());
  EXPECT_EQ(two, (Bytes{20, 50})); // sources 1 and 3
  resizeImage(four, 1, 2, Interpolation::Bilinear, false, two.data());
  EXPECT_EQ(two, (Bytes{16, 40})); // sources 0.5 and 2.5
  // 4 -> 3 area, footprints of 4/3: (12 + 20/3) * 3/4, (20 * 2/3 + 30 *
  // 2/3) * 3/4, (30/3 + 50) * 3/4.
  Bytes three(3);
  resizeImage(four, 1, 3, Interpolation::Area, false, three.data());
  EXPECT_EQ(three, (Bytes{14, 25, 45}));
}

TEST(ImageResize, SameSizeIsACopy) {
  Image in = makeImage(9, 7, 3, 3);
  for (Interpolation m :
       {Interpolation::Bilinear, Interpolation::Nearest, Interpolation::Area}) {
    Bytes out(in.pixels.size());
    resizeImage(in, 9, 7, m, false, out.data());
    EXPECT_EQ(out, in.pixels);
    resizeImage(in, 9, 7, m, true, out.data()); // Same aspect: no crop.
    EXPECT_EQ(out, in.pixels);
  }
}

TEST(ImageResize, CropToAspectRatio) {
  // keras.utils.smart_resize's example: (340, 500) -> (200, 200) crops
  // (340, 340) centred along the width.
  CropWindow w = aspectRatioCrop(340, 500, 200, 200);
  EXPECT_EQ(w.top, 0);
  EXPECT_EQ(w.left, 80);
  EXPECT_EQ(w.height, 340);
  EXPECT_EQ(w.width, 340);
  w = aspectRatioCrop(5, 3, 2, 4); // crop height int(3 * 2 / 4) = 1
  EXPECT_EQ(w.top, 2);
  EXPECT_EQ(w.left, 0);
  EXPECT_EQ(w.height, 1);
  EXPECT_EQ(w.width, 3);
  w = aspectRatioCrop(1, 100, 100, 1); // never below 1
  EXPECT_EQ(w.width, 1);
  EXPECT_EQ(w.height, 1);
  EXPECT_EQ(w.left, 49);

  // A 4x8 image cropped to 4x4 (columns 2..5) and resized to 4x4: the
  // window itself; to 2x2 by area: the 2x2 block means of the window.
  Image in = makeImage(4, 8, 2, 11);
  Bytes out(4 * 4 * 2);
  resizeImage(in, 4, 4, Interpolation::Bilinear, true, out.data());
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 4; ++x)
      for (int64_t k = 0; k < 2; ++k)
        EXPECT_EQ(out[size_t((y * 4 + x) * 2 + k)],
                  in.pixels[size_t((y * 8 + x + 2) * 2 + k)]);
  Bytes small(2 * 2 * 2);
  resizeImage(in, 2, 2, Interpolation::Area, true, small.data());
  for (int64_t y = 0; y < 2; ++y)
    for (int64_t x = 0; x < 2; ++x)
      for (int64_t k = 0; k < 2; ++k) {
        double s = 0;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx)
            s += in.pixels[size_t(((2 * y + dy) * 8 + 2 + 2 * x + dx) * 2 + k)];
        expectMatches(s / 4, small[size_t((y * 2 + x) * 2 + k)], "crop area");
      }
}

TEST(ImageResize, InvalidInputZeroFills) {
  Image bad{2, 2, 1, {1, 2, 3}}; // pixels too short
  Bytes out(4, 7);
  resizeImage(bad, 2, 2, Interpolation::Bilinear, false, out.data());
  EXPECT_EQ(out, Bytes(4, 0));
}

TEST(ImageSeeds, FuzzSeedCorpusDecodesInEveryMode) {
  // Every seed of tests/fuzz/corpus/image is a valid file of its kind.
  fs::path corpus = fs::path(CNNC_SOURCE_DIR) / "tests/fuzz/corpus/image";
  int files = 0;
  for (const fs::directory_entry &e : fs::directory_iterator(corpus)) {
    ++files;
    for (ColorMode mode :
         {ColorMode::Grayscale, ColorMode::Rgb, ColorMode::Rgba}) {
      absl::StatusOr<Image> im = readImageFile(e.path().string(), mode);
      EXPECT_TRUE(im.ok()) << im.status();
    }
  }
  EXPECT_GE(files, 20);
}

// ---- Bad input ----

Bytes pngChunk(const char *type, const Bytes &data) {
  // Length, type, data, CRC of type and data; sized up front (GCC 12 warns
  // falsely about push_back here).
  const size_t n = data.size();
  Bytes c(12 + n);
  for (int i = 0; i < 4; ++i) {
    c[i] = static_cast<uint8_t>(n >> (24 - 8 * i));
    c[4 + i] = static_cast<uint8_t>(type[i]);
  }
  std::copy(data.begin(), data.end(), c.begin() + 8);
  uLong crc = crc32(0, c.data() + 4, static_cast<uInt>(4 + n));
  for (int i = 0; i < 4; ++i)
    c[8 + n + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  return c;
}

TEST_F(ImageTest, HugeHeadersAreRefusedBeforeDecoding) {
  // PNG: 100000 x 100000 RGB, with an empty IDAT.
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0};
  for (const Bytes &c :
       {pngChunk("IHDR", ihdr), pngChunk("IDAT", {}), pngChunk("IEND", {})})
    png.insert(png.end(), c.begin(), c.end());
  EXPECT_TRUE(isErrorFor(decode(png, ColorMode::Rgb, "big.png").status(),
                         "big.png",
                         "100000x100000 pixels exceeds the limit of 67108864"));
  // JPEG: SOI, SOF0 65000 x 65000 grey, SOS.
  Bytes jpg = {0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xfd, 0xe8, 0xfd, 0xe8, 1, 1,
               0x11, 0,    0xff, 0xda, 0, 8,  1, 1,    0,    0,    0x3f, 0};
  EXPECT_TRUE(isErrorFor(decode(jpg, ColorMode::Rgb, "big.jpg").status(),
                         "big.jpg", "65000x65000 pixels exceeds the limit"));
  // GIF: a 65535 x 65535 screen.
  Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0};
  EXPECT_TRUE(isErrorFor(decode(gif, ColorMode::Rgb, "big.gif").status(),
                         "big.gif", "65535x65535 pixels exceeds the limit"));
  // BMP: 70000 x 70000 with no pixel data.
  EXPECT_TRUE(isErrorFor(
      decode(bmp(70000, 70000, 24, 0, {}, {}), ColorMode::Rgb, "big.bmp")
          .status(),
      "big.bmp", "70000x70000 pixels exceeds the limit"));
}

TEST_F(ImageTest, TruncatedAndCorruptFilesFailCleanly) {
  Image im = makeImage(13, 11, 3, 21, true);
  Bytes png = *encodePng(im);
  Bytes jpg = *encodeJpeg(im, 90);
  Bytes prog = writeTestJpeg(im.pixels, 11, 13, JCS_RGB, 3, true);
  ::testing::internal::CaptureStderr();
  for (const Bytes *file : {&png, &jpg, &prog}) {
    // Every cut, including one inside the final marker or chunk, fails.
    for (size_t cut = 1; cut < file->size(); ++cut)
      ASSERT_TRUE(isErrorFor(
          decodeImage(file->data(), cut, ColorMode::Rgb, "cut").status(),
          "cut"))
          << cut << " of " << file->size();
    // Corrupt bytes: an error or an image, never a crash.
    std::mt19937 rng(3);
    for (int trial = 0; trial < 300; ++trial) {
      Bytes bad = *file;
      for (int k = 0; k < 1 + trial % 4; ++k)
        bad[2 + rng() % (bad.size() - 2)] ^= static_cast<uint8_t>(1 + rng());
      for (ColorMode mode : {ColorMode::Grayscale, ColorMode::Rgba}) {
        absl::StatusOr<Image> r = decode(bad, mode, "bad");
        if (!r.ok())
          ASSERT_TRUE(isErrorFor(r.status(), "bad"));
        else
          ASSERT_EQ(r->pixels.size(),
                    size_t(r->height * r->width * r->channels));
      }
    }
  }
  // Corrupting a PNG chunk's data breaks its CRC: an error naming it.
  Bytes bad = png;
  bad[png.size() - 20] ^= 0x40; // inside the last IDAT
  absl::Status s = decode(bad, ColorMode::Rgb, "crc.png").status();
  EXPECT_TRUE(isErrorFor(s, "crc.png", "corrupt PNG data"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(ImageTest, BadFiles) {
  std::string empty = writeFile("empty.png", {});
  EXPECT_TRUE(isErrorFor(readImageFile(empty, ColorMode::Rgb).status(), empty,
                         "empty file"));
  std::string text = writeFile("notes.png", {'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_TRUE(isErrorFor(readImageFile(text, ColorMode::Rgb).status(), text,
                         "not a PNG, JPEG, BMP or GIF image"));
  std::string sig = writeFile("cut.png", {0x89, 'P', 'N'});
  EXPECT_TRUE(isErrorFor(readImageFile(sig, ColorMode::Rgb).status(), sig,
                         "truncated PNG data"));
  EXPECT_TRUE(isErrorFor(readImageFile(dir, ColorMode::Rgb).status(), dir,
                         "is a directory"));
  std::string missing = path("missing.jpg");
  EXPECT_TRUE(isErrorFor(readImageFile(missing, ColorMode::Rgb).status(),
                         missing, "no such file"));
  std::string fifo = path("fifo.png");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(isErrorFor(readImageFile(fifo, ColorMode::Rgb).status(), fifo,
                         "not a regular file"));
}

TEST_F(ImageTest, EncoderRefusesBadImages) {
  Image twoChannels{1, 1, 2, {1, 2}};
  EXPECT_FALSE(encodeJpeg(twoChannels).ok());
  EXPECT_TRUE(encodePng(twoChannels).ok());
  Image rgb = makeImage(2, 2, 3, 1);
  EXPECT_FALSE(encodeJpeg(rgb, 0).ok());
  EXPECT_FALSE(encodeJpeg(rgb, 101).ok());
  Image wrongSize{2, 2, 3, {1, 2, 3}};
  EXPECT_FALSE(encodePng(wrongSize).ok());
  absl::Status s = writePng(path("no/such/dir/x.png"), rgb);
  EXPECT_TRUE(isErrorFor(s, path("no/such/dir/x.png")));
}

} // namespace
} // namespace cnnc::runtime
