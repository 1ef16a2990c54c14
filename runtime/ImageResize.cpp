// resizeImage: tf.image.resize's bilinear, nearest and area kernels on u8
// HWC images, computed in float32 as TensorFlow's CPU kernels compute them
// (resize_bilinear_op.cc, resize_nearest_neighbor_op.cc, resize_area_op.cc
// with the arguments tf.image.resize passes), then rounded to u8. The
// per-column taps are computed once per call.
#include "runtime/Image.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace cnnc::runtime {

namespace {

// A window of an image: `stride` bytes between rows.
struct View {
  const uint8_t *data;
  int64_t height, width, channels, stride;
};

// Keras keeps the floats; we store u8: nearest, halves up, clamped.
inline uint8_t toU8(float v) {
  v += 0.5f;
  if (!(v > 0.0f)) // Also NaN, which cannot arise from u8 inputs.
    return 0;
  if (v >= 255.0f)
    return 255;
  return static_cast<uint8_t>(v);
}

// TensorFlow's CalculateResizeScale without align_corners.
inline float scaleOf(int64_t in, int64_t out) {
  return static_cast<float>(in) / static_cast<float>(out);
}

// Half-pixel centres: source coordinate (i + 0.5) * scale - 0.5; the two
// neighbours clamped to the image, weight of the upper one `lerp`.
struct LinearTap {
  int64_t lo, hi; // Element offsets (index * channels) along the axis.
  float lerp;
};

std::vector<LinearTap> linearTaps(int64_t in, int64_t out, int64_t unit) {
  std::vector<LinearTap> taps(static_cast<size_t>(out));
  const float scale = scaleOf(in, out);
  for (int64_t i = 0; i < out; ++i) {
    const float src = (static_cast<float>(i) + 0.5f) * scale - 0.5f;
    const float f = std::floor(src);
    int64_t lo = std::clamp<int64_t>(static_cast<int64_t>(f), 0, in - 1);
    int64_t hi =
        std::clamp<int64_t>(static_cast<int64_t>(std::ceil(src)), 0, in - 1);
    taps[static_cast<size_t>(i)] = {lo * unit, hi * unit, src - f};
  }
  return taps;
}

void resizeBilinear(const View &in, int64_t height, int64_t width,
                    uint8_t *out) {
  const int64_t c = in.channels;
  const std::vector<LinearTap> ys = linearTaps(in.height, height, in.stride);
  const std::vector<LinearTap> xs = linearTaps(in.width, width, c);
  for (const LinearTap &ty : ys) {
    const uint8_t *top = in.data + ty.lo, *bottom = in.data + ty.hi;
    for (const LinearTap &tx : xs) {
      for (int64_t k = 0; k < c; ++k) {
        const float tl = top[tx.lo + k], tr = top[tx.hi + k];
        const float bl = bottom[tx.lo + k], br = bottom[tx.hi + k];
        const float t = tl + (tr - tl) * tx.lerp;
        const float b = bl + (br - bl) * tx.lerp;
        *out++ = toU8(t + (b - t) * ty.lerp);
      }
    }
  }
}

// TF2 nearest neighbour: min(floor((i + 0.5) * scale), in - 1).
std::vector<int64_t> nearestTaps(int64_t in, int64_t out, int64_t unit) {
  std::vector<int64_t> taps(static_cast<size_t>(out));
  const float scale = scaleOf(in, out);
  for (int64_t i = 0; i < out; ++i) {
    const float src = (static_cast<float>(i) + 0.5f) * scale;
    taps[static_cast<size_t>(i)] =
        std::clamp<int64_t>(static_cast<int64_t>(std::floor(src)), 0, in - 1) *
        unit;
  }
  return taps;
}

void resizeNearest(const View &in, int64_t height, int64_t width,
                   uint8_t *out) {
  const int64_t c = in.channels;
  const std::vector<int64_t> ys = nearestTaps(in.height, height, in.stride);
  const std::vector<int64_t> xs = nearestTaps(in.width, width, c);
  for (int64_t y : ys) {
    const uint8_t *row = in.data + y;
    for (int64_t x : xs) {
      std::memcpy(out, row + x, static_cast<size_t>(c));
      out += c;
    }
  }
}

// Area: output pixel i covers source interval [i * scale, (i + 1) * scale);
// each source pixel k it touches weighs the length of its overlap with it.
// The sum of weights is the scale, divided out at the end.
struct AreaTaps {
  std::vector<size_t> begin; // Taps of output i: [begin[i], begin[i + 1]).
  std::vector<int64_t> offset;
  std::vector<float> weight;
};

AreaTaps areaTaps(int64_t in, int64_t out, int64_t unit, float scale) {
  AreaTaps t;
  t.begin.reserve(static_cast<size_t>(out) + 1);
  for (int64_t i = 0; i < out; ++i) {
    t.begin.push_back(t.offset.size());
    const float in0 = static_cast<float>(i) * scale;
    const float in1 = static_cast<float>(i + 1) * scale;
    const int64_t start = static_cast<int64_t>(std::floor(in0));
    const int64_t end = static_cast<int64_t>(std::ceil(in1));
    for (int64_t k = start; k < end; ++k) {
      const float kf = static_cast<float>(k);
      float w;
      if (kf < in0)
        w = kf + 1 > in1 ? scale : kf + 1 - in0;
      else
        w = kf + 1 > in1 ? in1 - kf : 1.0f;
      t.offset.push_back(std::clamp<int64_t>(k, 0, in - 1) * unit);
      t.weight.push_back(w);
    }
  }
  t.begin.push_back(t.offset.size());
  return t;
}

void resizeArea(const View &in, int64_t height, int64_t width, uint8_t *out) {
  const int64_t c = in.channels;
  const float sy = scaleOf(in.height, height), sx = scaleOf(in.width, width);
  const AreaTaps ys = areaTaps(in.height, height, in.stride, sy);
  const AreaTaps xs = areaTaps(in.width, width, c, sx);
  const float norm = static_cast<float>(1.0 / (sy * sx));
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      for (int64_t k = 0; k < c; ++k) {
        float sum = 0;
        for (size_t i = ys.begin[y]; i < ys.begin[y + 1]; ++i) {
          const uint8_t *row = in.data + ys.offset[i] + k;
          float sumY = 0;
          for (size_t j = xs.begin[x]; j < xs.begin[x + 1]; ++j)
            sumY += static_cast<float>(row[xs.offset[j]]) * xs.weight[j];
          sum += sumY * ys.weight[i];
        }
        *out++ = toU8(sum * norm);
      }
    }
  }
}

} // namespace

CropWindow aspectRatioCrop(int64_t inHeight, int64_t inWidth, int64_t outHeight,
                           int64_t outWidth) {
  // keras.utils.smart_resize on a tensor of dynamic shape (as in
  // image_dataset_from_directory): float32 quotients, truncated.
  CropWindow w;
  w.height = static_cast<int64_t>(static_cast<float>(inWidth * outHeight) /
                                  static_cast<float>(outWidth));
  w.height = std::max<int64_t>(std::min(inHeight, w.height), 1);
  w.width = static_cast<int64_t>(static_cast<float>(inHeight * outWidth) /
                                 static_cast<float>(outHeight));
  w.width = std::max<int64_t>(std::min(inWidth, w.width), 1);
  w.top = (inHeight - w.height) / 2;
  w.left = (inWidth - w.width) / 2;
  return w;
}

void resizeImage(const Image &in, int64_t height, int64_t width,
                 Interpolation method, bool cropToAspectRatio, uint8_t *out) {
  const int64_t c = in.channels;
  if (height < 1 || width < 1 || c < 1)
    return; // Nothing to write.
  if (in.height < 1 || in.width < 1 ||
      in.pixels.size() != static_cast<uint64_t>(in.height) *
                              static_cast<uint64_t>(in.width) *
                              static_cast<uint64_t>(c)) {
    std::memset(out, 0, static_cast<size_t>(height * width * c));
    return;
  }
  View v{in.pixels.data(), in.height, in.width, c, in.width * c};
  if (cropToAspectRatio) {
    CropWindow w = aspectRatioCrop(in.height, in.width, height, width);
    v.data += w.top * v.stride + w.left * c;
    v.height = w.height;
    v.width = w.width;
  }
  if (v.height == height && v.width == width) {
    // Every method is the identity at equal sizes.
    const size_t rowBytes = static_cast<size_t>(width * c);
    for (int64_t y = 0; y < height; ++y)
      std::memcpy(out + y * width * c, v.data + y * v.stride, rowBytes);
    return;
  }
  switch (method) {
  case Interpolation::Bilinear:
    resizeBilinear(v, height, width, out);
    return;
  case Interpolation::Nearest:
    resizeNearest(v, height, width, out);
    return;
  case Interpolation::Area:
    resizeArea(v, height, width, out);
    return;
  }
}

} // namespace cnnc::runtime
