#include "runtime/ClassSubset.h"

#include "runtime/ClassNames.h"

#include <fmt/format.h>

#include <algorithm>

namespace cnnc::runtime {

int64_t classCount(const LabeledImages &data) {
  if (!data.classNames.empty())
    return static_cast<int64_t>(data.classNames.size());
  int64_t top = -1;
  for (uint8_t l : data.labels)
    top = std::max<int64_t>(top, l);
  return top + 1;
}

absl::StatusOr<LabeledImages> selectClasses(const LabeledImages &data,
                                            const std::vector<int64_t> &classes,
                                            const std::string &who,
                                            const std::string &what) {
  if (classes.empty())
    return absl::InvalidArgumentError(
        fmt::format("{}: expects at least one class", who));
  const IdxImages &from = data.images;
  int64_t size = from.imageSize();
  if (static_cast<int64_t>(data.labels.size()) != from.count ||
      static_cast<int64_t>(from.pixels.size()) != from.count * size)
    return absl::InvalidArgumentError(
        fmt::format("{}: {} holds {} labels and {} pixels for {} images", who,
                    what, data.labels.size(), from.pixels.size(), from.count));
  int64_t count = classCount(data);
  // Every u8 label has a slot.
  constexpr int kNone = -1;
  std::vector<int> newLabel(std::max<int64_t>(256, count), kNone);
  for (size_t i = 0; i < classes.size(); ++i) {
    int64_t c = classes[i];
    if (c < 0 || c >= count) {
      std::string range =
          count == 0 ? "" : fmt::format(" (0 to {})", count - 1);
      if (!data.classNames.empty())
        range = fmt::format(" (0 to {}: {})", count - 1,
                            joinClassNames(data.classNames));
      return absl::InvalidArgumentError(
          fmt::format("{}: {} is not a class of {}, which has {} class{}{}",
                      who, c, what, count, count == 1 ? "" : "es", range));
    }
    if (newLabel[c] != kNone)
      return absl::InvalidArgumentError(
          fmt::format("{}: class {} is listed twice", who, c));
    newLabel[c] = static_cast<int>(i);
  }

  LabeledImages out;
  out.images.rows = from.rows;
  out.images.cols = from.cols;
  out.images.channels = from.channels;
  int64_t kept = 0;
  for (uint8_t l : data.labels)
    kept += newLabel[l] != kNone;
  if (kept == 0)
    return absl::InvalidArgumentError(
        fmt::format("{}: none of the {} examples of {} is of the classes kept",
                    who, data.labels.size(), what));
  out.images.count = kept;
  out.images.pixels.reserve(kept * size);
  out.labels.reserve(kept);
  for (size_t i = 0; i < data.labels.size(); ++i) {
    int label = newLabel[data.labels[i]];
    if (label == kNone)
      continue;
    out.labels.push_back(static_cast<uint8_t>(label));
    const uint8_t *px = from.pixels.data() + static_cast<int64_t>(i) * size;
    out.images.pixels.insert(out.images.pixels.end(), px, px + size);
  }
  for (int64_t c : classes)
    out.classNames.push_back(data.classNames.empty() ? std::to_string(c)
                                                     : data.classNames[c]);
  return out;
}

std::string subsetLog(const LabeledImages &all, const LabeledImages &kept) {
  return fmt::format("Keeping {} of {} classes ({}): {} images.\n",
                     kept.classNames.size(), classCount(all),
                     joinClassNames(kept.classNames), kept.images.count);
}

} // namespace cnnc::runtime
