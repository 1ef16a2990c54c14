// Labeled images: loaded from IDX files or copied from the caller's memory.
#include "api/Internal.h"

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
                                    int64_t rows, int64_t cols) {
  if (count < 0 || count > kMaxCount)
    return Status(fmt::format(
        "Dataset::fromMemory: count {} is outside [0, {}]", count, kMaxCount));
  if (rows < 1 || rows > kMaxSide || cols < 1 || cols > kMaxSide)
    return Status(fmt::format(
        "Dataset::fromMemory: images of {}x{} pixels (each side 1 to {})", rows,
        cols, kMaxSide));
  if (count > 0 && (!pixels || !labels))
    return Status("Dataset::fromMemory: null pixels or labels");
  auto impl = std::make_shared<Impl>();
  runtime::IdxImages &images = impl->data.images;
  images.count = count;
  images.rows = rows;
  images.cols = cols;
  if (count > 0) {
    images.pixels.assign(pixels, pixels + count * rows * cols);
    impl->data.labels.assign(labels, labels + count);
  }
  return Dataset(std::move(impl));
}

int64_t Dataset::size() const { return impl_->data.images.count; }
int64_t Dataset::rows() const { return impl_->data.images.rows; }
int64_t Dataset::cols() const { return impl_->data.images.cols; }
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
  images.pixels.assign(from.pixels.begin(),
                       from.pixels.begin() + n * from.rows * from.cols);
  impl->data.labels.assign(impl_->data.labels.begin(),
                           impl_->data.labels.begin() + n);
  return Dataset(std::move(impl));
}

} // namespace cnnc
