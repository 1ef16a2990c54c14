// Ranking and saving the predictions for image files.
#include "api/Internal.h"
#include "support/AtomicFile.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace cnnc {

std::vector<ClassScore> ImagePredictions::top(size_t i, int64_t k) const {
  size_t classes = classNames.size();
  if (classes == 0 || i >= files.size() ||
      probabilities.size() < (i + 1) * classes || k < 1)
    return {};
  const float *row = probabilities.data() + i * classes;
  std::vector<int64_t> order(classes);
  std::iota(order.begin(), order.end(), 0);
  size_t n = std::min<size_t>(static_cast<size_t>(k), classes);
  std::partial_sort(order.begin(), order.begin() + n, order.end(),
                    [&](int64_t a, int64_t b) {
                      return row[a] != row[b] ? row[a] > row[b] : a < b;
                    });
  std::vector<ClassScore> out;
  for (size_t r = 0; r < n; ++r)
    out.push_back({order[r], classNames[order[r]], row[order[r]]});
  return out;
}

Status writePredictionsCsv(const std::string &path,
                           const ImagePredictions &predictions, int64_t k) {
  if (k < 1)
    return Status(fmt::format("{}: top-k must be at least 1, got {}", path, k));
  k = std::min<int64_t>(k, predictions.classNames.size());
  std::string text = "file";
  if (k == 1)
    text += ",class,probability";
  else
    for (int64_t r = 1; r <= k; ++r)
      text += fmt::format(",class_{0},probability_{0}", r);
  text += "\n";
  for (size_t i = 0; i < predictions.files.size(); ++i) {
    text += api::csvField(predictions.files[i]);
    for (const ClassScore &c : predictions.top(i, k))
      text += fmt::format(",{},{:.6f}", api::csvField(c.name), c.probability);
    text += "\n";
  }
  return api::toStatus(support::writeFileAtomically(path, text));
}

} // namespace cnnc
