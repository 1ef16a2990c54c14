// The augmentation kernels against hand-computed outputs (a 90 degree
// rotation is a transpose plus a flip, zero factors are the identity, each
// fill mode at the border, flips, the contrast and brightness formulas,
// crops) and against the reference interpreter on random odd shapes, bit
// for bit the same at 1, 2 and 3 threads.
#include "KernelTestUtil.h"

#include <set>

namespace cnnc::testing {
namespace {

using ir::OpKind;

std::vector<HostTensor> operands(std::vector<int64_t> shape,
                                 std::vector<float> x, int32_t step = 7) {
  return {HostTensor::floats(std::move(shape), std::move(x)),
          HostTensor::ints({}, {step})};
}

ir::Attrs resample(ir::Attrs a, const std::string &fill = "reflect",
                   const std::string &interpolation = "bilinear",
                   double fillValue = 0) {
  a.set(ir::AttrName::FillMode, fill);
  a.set(ir::AttrName::Interpolation, interpolation);
  a.set(ir::AttrName::FillValue, fillValue);
  a.set(ir::AttrName::Seed, int64_t{3});
  a.set(ir::AttrName::Salt, int64_t{1});
  return a;
}

ir::Attrs rotation(double lo, double hi, const std::string &fill = "reflect",
                   const std::string &interpolation = "bilinear") {
  return resample({{ir::AttrName::Lower, lo}, {ir::AttrName::Upper, hi}}, fill,
                  interpolation);
}

ir::Attrs shift(double h, double w, const std::string &fill,
                double fillValue = 0,
                const std::string &interpolation = "bilinear") {
  return resample({{ir::AttrName::HeightLower, h},
                   {ir::AttrName::HeightUpper, h},
                   {ir::AttrName::WidthLower, w},
                   {ir::AttrName::WidthUpper, w}},
                  fill, interpolation, fillValue);
}

std::vector<float> iota(int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(i + 1);
  return v;
}

std::vector<float> run1(OpKind kind, const std::vector<HostTensor> &in,
                        const ir::Attrs &attrs) {
  OpRunResult r = runChecked(kind, in, attrs);
  return r.results.empty() ? std::vector<float>{} : r.results[0].f;
}

// A quarter turn (factor 0.25, counter-clockwise as Keras) of a square
// image: y[i][j] = x[j][W-1-i], numpy's rot90: the transpose of the image
// flipped left to right.
TEST(AugmentKernels, QuarterTurnIsTransposePlusFlip) {
  const int64_t s = 5;
  std::vector<float> x = iota(2 * s * s);
  for (const char *interp : {"bilinear", "nearest"}) {
    std::vector<float> y =
        run1(OpKind::RandomRotation, operands({2, s, s, 1}, x),
             rotation(0.25, 0.25, "constant", interp));
    ASSERT_EQ(y.size(), x.size());
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < s; ++i)
        for (int64_t j = 0; j < s; ++j)
          EXPECT_NEAR(y[(n * s + i) * s + j], x[(n * s + j) * s + s - 1 - i],
                      1e-5)
              << interp << " at " << n << "," << i << "," << j;
  }
}

// Zero factors: rotation, zoom and translation copy x bit for bit.
TEST(AugmentKernels, ZeroFactorsAreTheIdentity) {
  std::mt19937 rng(5);
  std::vector<int64_t> shape{3, 7, 9, 2};
  std::vector<float> x = randomFloats(rng, 3 * 7 * 9 * 2);
  for (const char *fill : {"reflect", "wrap", "constant", "nearest"}) {
    EXPECT_EQ(
        run1(OpKind::RandomRotation, operands(shape, x), rotation(0, 0, fill)),
        x)
        << fill;
    ir::Attrs zoom = shift(0, 0, fill);
    zoom.set(ir::AttrName::KeepAspect, int64_t{0});
    EXPECT_EQ(run1(OpKind::RandomZoom, operands(shape, x), zoom), x) << fill;
    EXPECT_EQ(
        run1(OpKind::RandomTranslation, operands(shape, x), shift(0, 0, fill)),
        x)
        << fill;
  }
}

// A row [a b c d] shifted by whole pixels shows each fill mode:
// reflect (d c b a | a b c d | d c b a), wrap (a b c d | a b c d),
// nearest (a a | a b c d | d d), constant (k k | a b c d | k k).
TEST(AugmentKernels, FillModesAtTheBorder) {
  std::vector<float> row{1, 2, 3, 4}; // a b c d
  struct Case {
    const char *fill;
    double widthFactor; // x W = the shift right, in pixels
    std::vector<float> want;
  };
  for (const Case &c :
       {Case{"reflect", 0.5, {2, 1, 1, 2}}, Case{"wrap", 0.5, {3, 4, 1, 2}},
        Case{"nearest", 0.5, {1, 1, 1, 2}}, Case{"constant", 0.5, {9, 9, 1, 2}},
        Case{"reflect", -0.5, {3, 4, 4, 3}}, Case{"wrap", -0.5, {3, 4, 1, 2}},
        Case{"nearest", -0.5, {3, 4, 4, 4}},
        Case{"constant", -0.5, {3, 4, 9, 9}},
        Case{"reflect", 1.0, {4, 3, 2, 1}},
        Case{"reflect", -1.0, {4, 3, 2, 1}}}) {
    for (const char *interp : {"bilinear", "nearest"})
      EXPECT_EQ(run1(OpKind::RandomTranslation, operands({1, 1, 4, 1}, row),
                     shift(0, c.widthFactor, c.fill, 9, interp)),
                c.want)
          << c.fill << " shift " << c.widthFactor << " " << interp;
  }
  // Half a pixel: bilinear blends the border pixel with the extension.
  EXPECT_EQ(run1(OpKind::RandomTranslation, operands({1, 1, 4, 1}, row),
                 shift(0, 0.125, "constant", 9)),
            (std::vector<float>{5, 1.5, 2.5, 3.5}));
  EXPECT_EQ(run1(OpKind::RandomTranslation, operands({1, 1, 4, 1}, row),
                 shift(0, 0.125, "wrap", 9)),
            (std::vector<float>{2.5, 1.5, 2.5, 3.5}));
  // Vertically, on a column.
  EXPECT_EQ(run1(OpKind::RandomTranslation, operands({1, 4, 1, 1}, row),
                 shift(-0.25, 0, "nearest")),
            (std::vector<float>{2, 3, 4, 4}));
}

// Zoom by 2 about the centre (factor 1: zoom out) of a 1x5 row samples
// x' = 2 (x - 2) + 2 = -2, 0, 2, 4, 6.
TEST(AugmentKernels, ZoomMapsAboutTheCentre) {
  ir::Attrs zoom = shift(0, 1, "reflect");
  zoom.set(ir::AttrName::KeepAspect, int64_t{0});
  EXPECT_EQ(run1(OpKind::RandomZoom, operands({1, 1, 5, 1}, iota(5)), zoom),
            (std::vector<float>{2, 1, 3, 5, 4}));
  // keep_aspect uses the height draw for both axes: height 1 zooms x too.
  ir::Attrs keep = shift(1, 0, "reflect");
  keep.set(ir::AttrName::KeepAspect, int64_t{1});
  EXPECT_EQ(run1(OpKind::RandomZoom, operands({1, 1, 5, 1}, iota(5)), keep),
            (std::vector<float>{2, 1, 3, 5, 4}));
}

// Each image is either unchanged or flipped as the mode says (both axes on
// one draw for horizontal_and_vertical), about half of them flipped.
TEST(AugmentKernels, FlipModes) {
  const int64_t n = 200, h = 3, w = 4;
  std::vector<float> x = iota(n * h * w);
  for (const char *mode :
       {"horizontal", "vertical", "horizontal_and_vertical"}) {
    ir::Attrs a{{ir::AttrName::Mode, std::string(mode)},
                {ir::AttrName::Seed, int64_t{1}},
                {ir::AttrName::Salt, int64_t{2}}};
    std::vector<float> y =
        run1(OpKind::RandomFlip, operands({n, h, w, 1}, x), a);
    ASSERT_EQ(y.size(), x.size());
    bool fh = std::string(mode) != "vertical";
    bool fv = std::string(mode) != "horizontal";
    int flipped = 0;
    for (int64_t b = 0; b < n; ++b) {
      auto px = [&](const std::vector<float> &v, int64_t i, int64_t j) {
        return v[(b * h + i) * w + j];
      };
      bool same = true, flip = true;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          same &= px(y, i, j) == px(x, i, j);
          flip &= px(y, i, j) == px(x, fv ? h - 1 - i : i, fh ? w - 1 - j : j);
        }
      EXPECT_TRUE(same || flip) << mode << " image " << b;
      flipped += flip;
    }
    EXPECT_NEAR(flipped, n / 2, 40) << mode;
    EXPECT_EQ(y, toFloat(interpret1(OpKind::RandomFlip,
                                    operands({n, h, w, 1}, x), a)))
        << mode;
  }
}

// Degenerate ranges fix the draw: contrast factor 1.5 (lower -0.5, upper
// 0.5: [1 - lower, 1 + upper] = [1.5, 1.5]) and brightness delta 0.25 of
// the value range, both clipped to it.
TEST(AugmentKernels, ContrastAndBrightnessFormulas) {
  // One 2x2 image, two channels: channel 0 is 0.2, 0.4, 0.6, 0.8 (mean
  // 0.5), channel 1 is 0, 0, 0, 1 (mean 0.25).
  std::vector<float> x{0.2f, 0, 0.4f, 0, 0.6f, 0, 0.8f, 1};
  ir::Attrs contrast{
      {ir::AttrName::Lower, -0.5},      {ir::AttrName::Upper, 0.5},
      {ir::AttrName::ValueLow, 0.0},    {ir::AttrName::ValueHigh, 1.0},
      {ir::AttrName::Seed, int64_t{0}}, {ir::AttrName::Salt, int64_t{0}}};
  std::vector<float> y =
      run1(OpKind::RandomContrast, operands({1, 2, 2, 2}, x), contrast);
  std::vector<double> want{0.05, 0, 0.35, 0, 0.65, 0, 0.95, 1};
  // channel 1: (0 - 0.25) * 1.5 + 0.25 = -0.125 -> 0; (1 - .25) 1.5 + .25
  // = 1.375 -> 1.
  ASSERT_EQ(y.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(y[i], want[i], 1e-6) << i;

  ir::Attrs bright{
      {ir::AttrName::Lower, 0.25},      {ir::AttrName::Upper, 0.25},
      {ir::AttrName::ValueLow, 0.0},    {ir::AttrName::ValueHigh, 2.0},
      {ir::AttrName::Seed, int64_t{0}}, {ir::AttrName::Salt, int64_t{0}}};
  y = run1(OpKind::RandomBrightness, operands({1, 2, 2, 2}, x), bright);
  // delta = 0.25 * (2 - 0) = 0.5; 1 + 0.5 clips to... 1.5 (< 2).
  want = {0.7, 0.5, 0.9, 0.5, 1.1, 0.5, 1.3, 1.5};
  ASSERT_EQ(y.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(y[i], want[i], 1e-6) << i;
  bright.set(ir::AttrName::ValueHigh, 1.0);
  y = run1(OpKind::RandomBrightness, operands({1, 2, 2, 2}, x), bright);
  EXPECT_NEAR(y[7], 1.0, 0) << "clipped to value_high";
  EXPECT_NEAR(y[4], 0.85, 1e-6);
}

ir::Attrs crop(int64_t h, int64_t w, bool training) {
  return {{ir::AttrName::Height, h},
          {ir::AttrName::Width, w},
          {ir::AttrName::Training, int64_t{training}},
          {ir::AttrName::Seed, int64_t{4}},
          {ir::AttrName::Salt, int64_t{0}}};
}

TEST(AugmentKernels, CropWindows) {
  // Inference on 4x6 -> 4x4: the center window, copied.
  std::vector<float> x = iota(24);
  std::vector<float> y =
      run1(OpKind::RandomCrop, operands({1, 4, 6, 1}, x), crop(4, 4, false));
  std::vector<float> want;
  for (int i = 0; i < 4; ++i)
    for (int j = 1; j < 5; ++j)
      want.push_back(x[i * 6 + j]);
  EXPECT_EQ(y, want);
  // 4x6 -> 2x2: the center 4x4 window halved; bilinear at half-pixel
  // centres is the mean of each 2x2 block.
  y = run1(OpKind::RandomCrop, operands({1, 4, 6, 1}, x), crop(2, 2, false));
  want.clear();
  for (int i = 0; i < 4; i += 2)
    for (int j = 1; j < 5; j += 2)
      want.push_back((x[i * 6 + j] + x[i * 6 + j + 1] + x[i * 6 + 6 + j] +
                      x[i * 6 + 7 + j]) /
                     4);
  EXPECT_EQ(y, want);
  // Training with an input not larger in both axes: the same as inference.
  EXPECT_EQ(
      run1(OpKind::RandomCrop, operands({1, 4, 6, 1}, x), crop(4, 4, true)),
      run1(OpKind::RandomCrop, operands({1, 4, 6, 1}, x), crop(4, 4, false)));
  // Training, larger input: one window for the whole batch, every window
  // position reached over the steps.
  std::vector<float> batch = iota(2 * 5 * 6);
  std::set<std::pair<int, int>> seen;
  for (int32_t step = 0; step < 60; ++step) {
    y = run1(OpKind::RandomCrop, operands({2, 5, 6, 1}, batch, step),
             crop(3, 4, true));
    ASSERT_EQ(y.size(), 2u * 3 * 4);
    int top = static_cast<int>(y[0] - 1) / 6,
        left = static_cast<int>(y[0] - 1) % 6;
    ASSERT_LE(top, 2);
    ASSERT_LE(left, 2);
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j)
          ASSERT_EQ(y[(b * 3 + i) * 4 + j],
                    batch[(b * 5 + top + i) * 6 + left + j]);
    seen.insert({top, left});
  }
  EXPECT_EQ(seen.size(), 9u);
}

TEST(AugmentKernels, RescaleIsFloatMultiplyAdd) {
  std::mt19937 rng(8);
  std::vector<float> x = randomFloats(rng, 37, -3, 3);
  std::vector<float> y =
      run1(OpKind::Rescale, {HostTensor::floats({37}, x)},
           {{ir::AttrName::Scale, 1.0 / 255}, {ir::AttrName::Offset, -0.5}});
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(y[i], x[i] * static_cast<float>(1.0 / 255) + -0.5f) << i;
}

// Every op on random odd shapes and settings against the interpreter, and
// the draws change with the step.
TEST(AugmentKernels, MatchTheReferenceOnRandomShapes) {
  std::mt19937 rng(9);
  auto pick = [&](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng() % (hi - lo + 1));
  };
  const char *fills[] = {"reflect", "wrap", "constant", "nearest"};
  for (int trial = 0; trial < 24; ++trial) {
    // Widths past 16 too: the resampling kernels' full vectors (16 float
    // lanes with AVX-512) and masked remainders.
    std::vector<int64_t> shape{pick(1, 5), pick(1, 13),
                               trial % 3 == 1 ? pick(14, 40) : pick(1, 13),
                               pick(1, 3)};
    int64_t count = shape[0] * shape[1] * shape[2] * shape[3];
    std::vector<float> x = randomFloats(rng, count, 0, 1);
    std::string fill = fills[trial % 4];
    std::string interp = trial % 3 == 0 ? "nearest" : "bilinear";
    double f = 0.05 + 0.3 * (trial % 5) / 4;
    ir::Attrs zoom = shift(0, 0, fill, 0.25, interp);
    zoom.set(ir::AttrName::HeightLower, -f);
    zoom.set(ir::AttrName::WidthUpper, f);
    zoom.set(ir::AttrName::KeepAspect, int64_t{trial % 2});
    ir::Attrs translate = shift(0, 0, fill, 0.5, interp);
    translate.set(ir::AttrName::HeightLower, -f);
    translate.set(ir::AttrName::WidthLower, -f);
    translate.set(ir::AttrName::WidthUpper, f / 2);
    std::vector<std::pair<OpKind, ir::Attrs>> cases{
        {OpKind::RandomRotation, rotation(-f, f, fill, interp)},
        {OpKind::RandomZoom, zoom},
        {OpKind::RandomTranslation, translate},
        {OpKind::RandomContrast, ir::Attrs{{ir::AttrName::Lower, f},
                                           {ir::AttrName::Upper, f},
                                           {ir::AttrName::ValueLow, 0.0},
                                           {ir::AttrName::ValueHigh, 1.0},
                                           {ir::AttrName::Seed, int64_t{trial}},
                                           {ir::AttrName::Salt, int64_t{1}}}},
        {OpKind::RandomBrightness,
         ir::Attrs{{ir::AttrName::Lower, -f},
                   {ir::AttrName::Upper, f},
                   {ir::AttrName::ValueLow, 0.0},
                   {ir::AttrName::ValueHigh, 1.0},
                   {ir::AttrName::Seed, int64_t{trial}},
                   {ir::AttrName::Salt, int64_t{2}}}},
        {OpKind::RandomCrop,
         crop(pick(1, shape[1]), pick(1, shape[2]), trial % 2 == 0)}};
    for (auto &[kind, attrs] : cases) {
      std::string what = fmt::format("{} {} trial {}", ir::opName(kind),
                                     ir::shapeStr(shape), trial);
      std::vector<float> y = run1(kind, operands(shape, x, trial), attrs);
      std::vector<double> want =
          interpret1(kind, operands(shape, x, trial), attrs);
      ASSERT_EQ(y.size(), want.size()) << what;
      EXPECT_LT(maxRelError(y, want), 1e-5) << what;
    }
  }
  // Another step, another rotation.
  std::vector<float> x = randomFloats(rng, 2 * 9 * 9, 0, 1);
  EXPECT_NE(run1(OpKind::RandomRotation, operands({2, 9, 9, 1}, x, 1),
                 rotation(-0.2, 0.2)),
            run1(OpKind::RandomRotation, operands({2, 9, 9, 1}, x, 2),
                 rotation(-0.2, 0.2)));
}

} // namespace
} // namespace cnnc::testing
