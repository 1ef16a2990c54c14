// Training history files, through the runtime's writers.
#include "runtime/History.h"
#include "api/Internal.h"

namespace cnnc {

namespace {
std::vector<runtime::EpochRecord>
toRecords(const std::vector<EpochMetrics> &history) {
  std::vector<runtime::EpochRecord> out;
  for (const EpochMetrics &m : history) {
    runtime::EpochRecord r;
    r.epoch = m.epoch;
    r.loss = m.loss;
    r.accuracy = m.accuracy;
    r.hasValidation = m.hasValidation;
    r.valLoss = m.valLoss;
    r.valAccuracy = m.valAccuracy;
    r.seconds = m.seconds;
    if (m.learningRate)
      r.learningRate = *m.learningRate;
    out.push_back(r);
  }
  return out;
}
} // namespace

Status writeHistoryCsv(const std::string &path,
                       const std::vector<EpochMetrics> &history) {
  return api::toStatus(runtime::writeHistoryCsv(path, toRecords(history)));
}

Status writeHistorySvg(const std::string &path,
                       const std::vector<EpochMetrics> &history,
                       const std::string &title) {
  return api::toStatus(
      runtime::writeHistorySvg(path, toRecords(history), title));
}

} // namespace cnnc
