// A small BMP reader: Windows BMP with a BITMAPINFOHEADER or one of its
// later versions (V2 to V5), uncompressed (BI_RGB) 1, 4 or 8 bits with a
// palette, 16, 24 or 32 bits, and BI_BITFIELDS 16 or 32 bits; bottom-up or
// top-down rows. No RLE, no embedded JPEG/PNG, no OS/2 headers. Every field
// is checked against the data before it is used.
#include "runtime/ImageCodecs.h"

#include "absl/strings/str_cat.h"

#include <bit>

namespace cnnc::runtime::detail {
namespace {

uint32_t le32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}
uint16_t le16(const uint8_t *p) { return uint16_t(p[0] | p[1] << 8); }

constexpr uint32_t kBiRgb = 0, kBiBitfields = 3;

// One channel of a BI_BITFIELDS (or 16-bit BI_RGB) pixel: its bits, scaled
// to 0..255.
struct Field {
  uint32_t mask = 0;
  int shift = 0;
  uint32_t max = 0; // mask >> shift

  explicit Field(uint32_t m) : mask(m) {
    if (m) {
      shift = std::countr_zero(m);
      max = m >> shift;
    }
  }
  bool valid() const { return mask == 0 || ((max + 1) & max) == 0; }
  uint8_t get(uint32_t px) const {
    if (!max)
      return 0;
    uint64_t v = (px & mask) >> shift;
    return static_cast<uint8_t>((v * 255 + max / 2) / max);
  }
};

absl::Status truncated(const std::string &name) {
  return absl::DataLossError(absl::StrCat(name, ": truncated BMP data"));
}

} // namespace

absl::StatusOr<Image> decodeBmp(const uint8_t *data, size_t size,
                                const std::string &name) {
  if (size < 14 + 4)
    return truncated(name);
  const uint64_t dataOffset = le32(data + 10);
  const uint32_t headerSize = le32(data + 14);
  if (headerSize != 40 && headerSize != 52 && headerSize != 56 &&
      headerSize != 108 && headerSize != 124)
    return imageError(
        name, absl::StrCat("unsupported BMP header of ", headerSize, " bytes"));
  if (size < 14 + uint64_t{headerSize})
    return truncated(name);
  const uint8_t *h = data + 14;
  const int32_t rawWidth = static_cast<int32_t>(le32(h + 4));
  const int32_t rawHeight = static_cast<int32_t>(le32(h + 8));
  const uint16_t planes = le16(h + 12), bits = le16(h + 14);
  const uint32_t compression = le32(h + 16), colorsUsed = le32(h + 32);
  // A negative height means the rows are stored top-down.
  const bool topDown = rawHeight < 0;
  const int64_t width = rawWidth;
  const int64_t height = topDown ? -int64_t{rawHeight} : int64_t{rawHeight};
  if (absl::Status st = checkImageSize(width, height, name, "BMP"); !st.ok())
    return st;
  if (planes != 1)
    return imageError(name, absl::StrCat("BMP with ", planes, " planes"));
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 &&
      bits != 32)
    return imageError(name, absl::StrCat("unsupported BMP bit depth ", bits));
  const bool bitfields = compression == kBiBitfields;
  if (compression != kBiRgb && !(bitfields && (bits == 16 || bits == 32)))
    return imageError(name,
                      absl::StrCat("unsupported BMP compression ", compression,
                                   " at ", bits, " bits (only uncompressed)"));

  // Channel masks: inside V2+ headers, else right after a 40-byte header.
  uint32_t masks[4] = {0, 0, 0, 0};
  if (bits == 16 && !bitfields) {
    masks[0] = 0x7c00; // 5-5-5
    masks[1] = 0x03e0;
    masks[2] = 0x001f;
  } else if (bits == 32 && !bitfields) {
    masks[0] = 0x00ff0000;
    masks[1] = 0x0000ff00;
    masks[2] = 0x000000ff;
    masks[3] = 0xff000000; // Used only if some pixel sets it, see below.
  } else if (bitfields) {
    const uint64_t at = 14 + 40;
    int count = headerSize >= 56 ? 4 : 3; // V3+ headers add an alpha mask.
    if (size < at + 4 * uint64_t(count))
      return truncated(name);
    for (int i = 0; i < count; ++i)
      masks[i] = le32(data + at + 4 * i);
  }
  const Field fields[4] = {Field(masks[0]), Field(masks[1]), Field(masks[2]),
                           Field(masks[3])};
  for (const Field &f : fields)
    if (!f.valid())
      return imageError(name, "BMP with a non-contiguous channel mask");

  // The palette (BGRX entries) follows the header and any masks.
  uint64_t paletteSize = 0;
  const uint8_t *palette = nullptr;
  if (bits <= 8) {
    uint64_t maxColors = uint64_t{1} << bits;
    paletteSize = colorsUsed ? colorsUsed : maxColors;
    if (paletteSize > maxColors)
      return imageError(name, absl::StrCat("BMP palette of ", colorsUsed,
                                           " colours at ", bits, " bits"));
    uint64_t at =
        14 + uint64_t{headerSize} + (bitfields && headerSize == 40 ? 12 : 0);
    if (size < at + 4 * paletteSize)
      return truncated(name);
    palette = data + at;
  }

  const uint64_t stride = (static_cast<uint64_t>(width) * bits + 31) / 32 * 4;
  if (dataOffset > size || size - dataOffset < stride * uint64_t(height))
    return truncated(name);
  const uint8_t *pixels = data + dataOffset;

  // 32-bit BI_RGB keeps alpha in the spare byte only if some pixel uses it
  // (most writers leave it 0, meaning opaque).
  bool alpha = fields[3].mask != 0;
  if (bits == 32 && !bitfields) {
    alpha = false;
    for (int64_t y = 0; y < height && !alpha; ++y)
      for (int64_t x = 0; x < width; ++x)
        if (pixels[y * stride + x * 4 + 3]) {
          alpha = true;
          break;
        }
  }

  Image image;
  image.height = height;
  image.width = width;
  image.channels = alpha ? 4 : 3;
  const int64_t c = image.channels;
  image.pixels.resize(static_cast<size_t>(height * width * c));
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t *row = pixels + (topDown ? y : height - 1 - y) * stride;
    uint8_t *out = image.pixels.data() + y * width * c;
    for (int64_t x = 0; x < width; ++x, out += c) {
      if (bits <= 8) {
        unsigned index;
        if (bits == 8)
          index = row[x];
        else if (bits == 4)
          index = (row[x / 2] >> (x % 2 ? 0 : 4)) & 0xf;
        else
          index = (row[x / 8] >> (7 - x % 8)) & 1;
        if (index < paletteSize) {
          const uint8_t *e = palette + 4 * index;
          out[0] = e[2];
          out[1] = e[1];
          out[2] = e[0];
        } else { // Past the palette: black.
          out[0] = out[1] = out[2] = 0;
        }
      } else if (bits == 24) {
        const uint8_t *p = row + x * 3;
        out[0] = p[2];
        out[1] = p[1];
        out[2] = p[0];
      } else {
        uint32_t px = bits == 16 ? le16(row + x * 2) : le32(row + x * 4);
        out[0] = fields[0].get(px);
        out[1] = fields[1].get(px);
        out[2] = fields[2].get(px);
        if (alpha)
          out[3] = fields[3].get(px);
      }
    }
  }
  return image;
}

} // namespace cnnc::runtime::detail
