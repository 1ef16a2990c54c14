#include "runtime/Progress.h"

#include <fmt/format.h>

#include <cmath>

namespace cnnc::runtime {

namespace {
// A NaN prints as "nan", as Keras prints it, whatever its sign bit.
double shown(double v) { return std::isnan(v) ? std::fabs(v) : v; }
} // namespace

std::string formatDuration(double seconds) {
  int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600)
    return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  if (s >= 60)
    return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

void ProgressLog::beginEpoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  start_ = Clock::now();
  lastDraw_ = start_ - std::chrono::seconds(1);
  lastWidth_ = 0;
}

void ProgressLog::step(int64_t done, double loss, double accuracy) {
  if (!live_)
    return;
  Clock::time_point now = Clock::now();
  if (done < steps_ && now - lastDraw_ < std::chrono::milliseconds(100))
    return;
  lastDraw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = done > 0 ? elapsed / done * (steps_ - done) : 0;
  constexpr int kBar = 30;
  int filled = static_cast<int>(kBar * done / std::max<int64_t>(steps_, 1));
  std::string bar(filled, '=');
  if (filled < kBar)
    bar += '>' + std::string(kBar - filled - 1, '.');
  std::string line = fmt::format(
      "Epoch {}/{} {}/{} [{}] - {} - ETA: {} - loss: {:.4f} - accuracy: "
      "{:.4f}",
      epoch_, epochs_, done, steps_, bar, formatDuration(elapsed),
      formatDuration(eta), shown(loss), shown(accuracy));
  size_t width = line.size();
  if (width < lastWidth_)
    line += std::string(lastWidth_ - width, ' ');
  lastWidth_ = width;
  fmt::print(out_, "\r{}", line);
  std::fflush(out_);
}

void ProgressLog::endEpoch(const EpochRecord &r) {
  std::string line = fmt::format(
      "Epoch {}/{} {}/{} - {:.1f}s {:.1f}ms/step - loss: {:.4f} - accuracy: "
      "{:.4f}",
      r.epoch, epochs_, steps_, steps_, r.seconds,
      r.seconds * 1000.0 / std::max<int64_t>(steps_, 1), shown(r.loss),
      shown(r.accuracy));
  if (r.hasValidation)
    line += fmt::format(" - val_loss: {:.4f} - val_accuracy: {:.4f}",
                        shown(r.valLoss), shown(r.valAccuracy));
  if (live_) {
    if (line.size() < lastWidth_)
      line += std::string(lastWidth_ - line.size(), ' ');
    fmt::print(out_, "\r");
  }
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

void ProgressLog::note(const std::string &line) {
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

} // namespace cnnc::runtime
