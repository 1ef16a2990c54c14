// Labeled images: loaded from IDX files or copied from the caller's memory.
#include "api/Internal.h"

#include "runtime/ClassSubset.h"
#include "runtime/ImageFolder.h"
#include "runtime/ThreadPool.h"

#include <fmt/format.h>

#include <algorithm>

namespace cnnc {

namespace {
// Bounds that keep count * rows * cols far from overflow.
constexpr int64_t kMaxSide = 1 << 15;
constexpr int64_t kMaxCount = int64_t{1} << 31;
} // namespace

Result<Dataset> Dataset::mnist(const std::string &split,
                               const std::string &dir) {
  auto found = runtime::findMnistDir(dir);
  if (!found.ok())
    return api::toStatus(found.status());
  return idx(*found + "/", split);
}

Result<Dataset> Dataset::idx(const std::string &prefix,
                             const std::string &split) {
  auto loaded = runtime::loadIdxSplit(prefix, split);
  if (!loaded.ok())
    return api::toStatus(loaded.status());
  auto impl = std::make_shared<Impl>();
  impl->data = *std::move(loaded);
  return Dataset(std::move(impl));
}

Result<Dataset> Dataset::fromMemory(const uint8_t *pixels,
                                    const uint8_t *labels, int64_t count,
                                    int64_t rows, int64_t cols,
                                    int64_t channels) {
  if (count < 0 || count > kMaxCount)
    return Status(fmt::format(
        "Dataset::fromMemory: count {} is outside [0, {}]", count, kMaxCount));
  if (rows < 1 || rows > kMaxSide || cols < 1 || cols > kMaxSide)
    return Status(fmt::format(
        "Dataset::fromMemory: images of {}x{} pixels (each side 1 to {})", rows,
        cols, kMaxSide));
  if (channels != 1 && channels != 3 && channels != 4)
    return Status(fmt::format(
        "Dataset::fromMemory: {} channels (expects 1, 3 or 4)", channels));
  if (count > 0 && (!pixels || !labels))
    return Status("Dataset::fromMemory: null pixels or labels");
  auto impl = std::make_shared<Impl>();
  runtime::IdxImages &images = impl->data.images;
  images.count = count;
  images.rows = rows;
  images.cols = cols;
  images.channels = channels;
  if (count > 0) {
    images.pixels.assign(pixels, pixels + count * images.imageSize());
    impl->data.labels.assign(labels, labels + count);
  }
  return Dataset(std::move(impl));
}

Result<ir::ColorMode> api::colorModeFromName(const std::string &name) {
  for (auto m :
       {ir::ColorMode::Grayscale, ir::ColorMode::Rgb, ir::ColorMode::Rgba})
    if (name == ir::colorModeName(m))
      return m;
  return Status(
      fmt::format("colorMode: expects grayscale, rgb or rgba, got '{}'", name));
}

ImageFolderOptions api::toOptions(const ir::ImageFolderSpec &spec) {
  ImageFolderOptions o;
  o.height = spec.height;
  o.width = spec.width;
  o.colorMode = ir::colorModeName(spec.colorMode);
  o.interpolation = ir::interpolationName(spec.interpolation);
  o.cropToAspectRatio = spec.cropToAspectRatio;
  o.validationSplit = spec.validationSplit;
  return o;
}

Result<ir::Interpolation> api::interpolationFromName(const std::string &name) {
  for (auto m : {ir::Interpolation::Bilinear, ir::Interpolation::Nearest,
                 ir::Interpolation::Area})
    if (name == ir::interpolationName(m))
      return m;
  return Status(fmt::format(
      "interpolation: expects bilinear, nearest or area, got '{}'", name));
}

Result<Dataset> Dataset::imageFolder(const std::string &directory,
                                     const ImageFolderOptions &options) {
  ir::ImageFolderSpec spec;
  if (directory.empty())
    return Status("Dataset::imageFolder: the directory is empty");
  spec.directory = directory;
  constexpr int64_t kMaxImageSide = 1 << 15;
  if (options.height < 1 || options.height > kMaxImageSide ||
      options.width < 1 || options.width > kMaxImageSide)
    return Status(fmt::format("Dataset::imageFolder: image size {}x{} (each "
                              "side 1 to {})",
                              options.height, options.width, kMaxImageSide));
  spec.height = options.height;
  spec.width = options.width;
  auto mode = api::colorModeFromName(options.colorMode);
  if (!mode.ok())
    return mode.status();
  spec.colorMode = *mode;
  auto method = api::interpolationFromName(options.interpolation);
  if (!method.ok())
    return method.status();
  spec.interpolation = *method;
  spec.cropToAspectRatio = options.cropToAspectRatio;
  if (options.subset != "" && options.subset != "training" &&
      options.subset != "validation")
    return Status(fmt::format("subset: expects training or validation, got "
                              "'{}'",
                              options.subset));
  if (!options.subset.empty() &&
      !(options.validationSplit > 0 && options.validationSplit < 1))
    return Status(fmt::format("validationSplit: subset {} needs a split "
                              "between 0 and 1 (exclusive), got {}",
                              options.subset, options.validationSplit));
  spec.validationSplit = options.validationSplit;
  if (options.threads < 0 || options.threads > 1024)
    return Status(fmt::format("threads: expects 0 (one per core) to 1024, "
                              "got {}",
                              options.threads));
  runtime::ThreadPool pool(options.threads);
  runtime::ImageLoadInfo info;
  auto all = runtime::loadImageFolder(spec, pool, &info);
  if (!all.ok())
    return api::toStatus(all.status());
  auto impl = std::make_shared<Impl>();
  impl->log = fmt::format("Found {} files belonging to {} classes.",
                          all->images.count, all->classNames.size());
  if (info.skipped > 0)
    impl->log += fmt::format(" Skipped {} file{} of other types.", info.skipped,
                             info.skipped == 1 ? "" : "s");
  if (info.fromCache)
    impl->log += fmt::format(" Read from cache {}.", info.cachePath);
  impl->log += "\n";
  if (options.subset.empty()) {
    impl->data = *std::move(all);
    return Dataset(std::move(impl));
  }
  auto part = runtime::splitImageFolder(
      *all, spec.validationSplit, options.seed, options.subset == "validation");
  if (!part.ok())
    return api::toStatus(part.status());
  impl->data = *std::move(part);
  impl->log += fmt::format("Using {} files for {}.\n", impl->data.images.count,
                           options.subset);
  return Dataset(std::move(impl));
}

int64_t Dataset::size() const { return impl_->data.images.count; }
int64_t Dataset::rows() const { return impl_->data.images.rows; }
int64_t Dataset::cols() const { return impl_->data.images.cols; }
int64_t Dataset::channels() const { return impl_->data.images.channels; }
const std::vector<std::string> &Dataset::classNames() const {
  return impl_->data.classNames;
}
const std::string &Dataset::loadLog() const { return impl_->log; }
const uint8_t *Dataset::pixels() const {
  return impl_->data.images.pixels.data();
}
const uint8_t *Dataset::labels() const { return impl_->data.labels.data(); }

Dataset Dataset::head(int64_t n) const {
  n = std::clamp<int64_t>(n, 0, size());
  if (n == size())
    return *this;
  const runtime::IdxImages &from = impl_->data.images;
  auto impl = std::make_shared<Impl>();
  runtime::IdxImages &images = impl->data.images;
  images.count = n;
  images.rows = from.rows;
  images.cols = from.cols;
  images.channels = from.channels;
  images.pixels.assign(from.pixels.begin(),
                       from.pixels.begin() + n * from.imageSize());
  impl->data.classNames = impl_->data.classNames;
  impl->log = impl_->log;
  impl->data.labels.assign(impl_->data.labels.begin(),
                           impl_->data.labels.begin() + n);
  return Dataset(std::move(impl));
}

Result<Dataset> Dataset::subset(const std::vector<int64_t> &classes) const {
  auto kept = runtime::selectClasses(impl_->data, classes, "Dataset::subset",
                                     "the data");
  if (!kept.ok())
    return api::toStatus(kept.status());
  auto impl = std::make_shared<Impl>();
  impl->data = *std::move(kept);
  impl->log = impl_->log + runtime::subsetLog(impl_->data, impl->data);
  return Dataset(std::move(impl));
}

} // namespace cnnc
