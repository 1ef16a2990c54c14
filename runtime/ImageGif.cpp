// GIF decoding with giflib: the first frame only, drawn on the logical
// screen, as TensorFlow's decode_image(expand_animations=False) gives it.
// giflib reports errors by return code, so no setjmp is needed here.
#include "runtime/ImageCodecs.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstring>
#include <gif_lib.h>

namespace cnnc::runtime::detail {
namespace {

struct GifInput {
  const uint8_t *data;
  size_t size, pos;
  bool truncated;
};

int gifRead(GifFileType *gif, GifByteType *out, int n) {
  auto *in = static_cast<GifInput *>(gif->UserData);
  size_t want = n > 0 ? static_cast<size_t>(n) : 0;
  size_t got = std::min(want, in->size - in->pos);
  if (got < want)
    in->truncated = true;
  std::memcpy(out, in->data + in->pos, got);
  in->pos += got;
  return static_cast<int>(got);
}

class GifFile {
public:
  GifFile(GifInput *in, int *error) : gif(DGifOpen(in, gifRead, error)) {}
  GifFile(const GifFile &) = delete;
  GifFile &operator=(const GifFile &) = delete;
  ~GifFile() {
    if (gif) {
      int error = 0;
      DGifCloseFile(gif, &error);
    }
  }
  GifFileType *gif;
};

absl::Status gifFailure(const std::string &name, const GifInput &in,
                        int error) {
  if (in.truncated || error == D_GIF_ERR_EOF_TOO_SOON)
    return absl::DataLossError(absl::StrCat(name, ": truncated GIF data"));
  const char *what = GifErrorString(error);
  return imageError(name,
                    absl::StrCat("corrupt GIF data: ", what ? what : "error"));
}

} // namespace

absl::StatusOr<Image> decodeGif(const uint8_t *data, size_t size,
                                const std::string &name) {
  GifInput in{data, size, 0, false};
  int error = 0;
  GifFile f(&in, &error);
  GifFileType *gif = f.gif;
  if (!gif)
    return gifFailure(name, in, error);
  const int64_t width = gif->SWidth, height = gif->SHeight;
  if (absl::Status st = checkImageSize(width, height, name, "GIF"); !st.ok())
    return st;

  // Records up to the first image; a graphic control extension before it
  // may name a transparent colour index.
  int transparent = NO_TRANSPARENT_COLOR;
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR)
      return gifFailure(name, in, gif->Error);
    if (type == IMAGE_DESC_RECORD_TYPE)
      break;
    if (type == TERMINATE_RECORD_TYPE)
      return imageError(name, "GIF without an image");
    if (type != EXTENSION_RECORD_TYPE)
      return imageError(name, "corrupt GIF data: unknown record");
    int code = 0;
    GifByteType *ext = nullptr;
    if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR)
      return gifFailure(name, in, gif->Error);
    if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) {
      GraphicsControlBlock gcb;
      if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK)
        transparent = gcb.TransparentColor;
    }
    while (ext) {
      if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR)
        return gifFailure(name, in, gif->Error);
    }
  }
  if (DGifGetImageDesc(gif) == GIF_ERROR)
    return gifFailure(name, in, gif->Error);
  const GifImageDesc &desc = gif->Image;
  const int64_t fw = desc.Width, fh = desc.Height;
  if (absl::Status st = checkImageSize(fw, fh, name, "GIF frame"); !st.ok())
    return st;
  const ColorMapObject *map = desc.ColorMap ? desc.ColorMap : gif->SColorMap;
  if (!map || !map->Colors || map->ColorCount < 1)
    return imageError(name, "GIF image without a colour table");

  // RGBA; what the frame does not cover, or covers with the transparent
  // index, stays 0 (transparent black).
  Image image;
  image.height = height;
  image.width = width;
  image.channels = 4;
  image.pixels.assign(static_cast<size_t>(height * width * 4), 0);
  std::vector<GifPixelType> line(static_cast<size_t>(fw));
  // Interlaced frames send rows 0, 8, 16, ..., then 4, 12, ..., 2, 6, ...,
  // then the odd rows.
  static constexpr int kStart[] = {0, 4, 2, 1}, kStep[] = {8, 8, 4, 2};
  const int passes = desc.Interlace ? 4 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    int64_t start = desc.Interlace ? kStart[pass] : 0;
    int64_t step = desc.Interlace ? kStep[pass] : 1;
    for (int64_t fy = start; fy < fh; fy += step) {
      if (DGifGetLine(gif, line.data(), static_cast<int>(fw)) == GIF_ERROR)
        return gifFailure(name, in, gif->Error);
      int64_t y = desc.Top + fy;
      if (y >= height)
        continue;
      uint8_t *row = image.pixels.data() + static_cast<size_t>(y * width * 4);
      for (int64_t fx = 0; fx < fw; ++fx) {
        int64_t x = desc.Left + fx;
        int index = line[static_cast<size_t>(fx)];
        if (x >= width || index == transparent)
          continue;
        uint8_t *p = row + x * 4;
        if (index < map->ColorCount) {
          const GifColorType &c = map->Colors[index];
          p[0] = c.Red;
          p[1] = c.Green;
          p[2] = c.Blue;
        } // An index past the colour table is black.
        p[3] = 255;
      }
    }
  }
  return image;
}

} // namespace cnnc::runtime::detail
