#include "runtime/Callbacks.h"

#include "support/AtomicFile.h"
#include "support/TextFile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

namespace cnnc::runtime {

Callbacks::Callbacks(std::vector<ir::CallbackSpec> specs, CallbackHooks hooks)
    : specs_(std::move(specs)), states_(specs_.size()),
      hooks_(std::move(hooks)) {}

double Callbacks::monitored(const EpochRecord &r, ir::Monitor m) {
  switch (m) {
  case ir::Monitor::Loss:
    return r.loss;
  case ir::Monitor::Accuracy:
    return r.accuracy;
  case ir::Monitor::ValLoss:
    return r.hasValidation ? r.valLoss : std::nan("");
  case ir::Monitor::ValAccuracy:
    return r.hasValidation ? r.valAccuracy : std::nan("");
  }
  return std::nan("");
}

// Keras: mode auto means max for accuracies, min otherwise; an improvement
// is monitor_op(current - min_delta, best) with min_delta's sign flipped for
// min, i.e. better by more than min_delta.
bool Callbacks::improves(ir::Monitor m, ir::MonitorMode mode, double current,
                         double best, double minDelta) {
  bool max = mode == ir::MonitorMode::Max ||
             (mode == ir::MonitorMode::Auto &&
              (m == ir::Monitor::Accuracy || m == ir::Monitor::ValAccuracy));
  return max ? current - minDelta > best : current + minDelta < best;
}

std::string Callbacks::checkpointPath(const std::string &pattern, int epoch) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, 7, "{epoch}") == 0) {
      out += std::to_string(epoch);
      i += 7;
      continue;
    }
    // {epoch:0Nd}
    if (pattern.compare(i, 8, "{epoch:0") == 0) {
      size_t j = i + 8, width = 0;
      while (j < pattern.size() &&
             std::isdigit(static_cast<unsigned char>(pattern[j])) &&
             width < 100)
        width = width * 10 + static_cast<size_t>(pattern[j++] - '0');
      if (j + 1 < pattern.size() && pattern[j] == 'd' &&
          pattern[j + 1] == '}') {
        out += fmt::format("{:0{}}", epoch, width);
        i = j + 2;
        continue;
      }
    }
    out += pattern[i++];
  }
  return out;
}

absl::StatusOr<bool>
Callbacks::epochEnd(const std::vector<EpochRecord> &history,
                    std::vector<std::string> &notes) {
  const EpochRecord &r = history.back();
  bool stop = false;
  for (size_t i = 0; i < specs_.size(); ++i) {
    const ir::CallbackSpec &spec = specs_[i];
    State &st = states_[i];
    double current = monitored(r, spec.monitor);
    const char *monitor = ir::monitorName(spec.monitor);
    // A val_ metric of an epoch without validation is missing (Keras warns
    // and skips); a NaN loss is a value that never improves on anything.
    bool available =
        r.hasValidation || (spec.monitor != ir::Monitor::ValLoss &&
                            spec.monitor != ir::Monitor::ValAccuracy);
    switch (spec.kind) {
    case ir::CallbackKind::EarlyStopping: {
      // Keras's epochs are 0-based: start_from_epoch=2 skips the first two.
      if (!available || r.epoch - 1 < spec.startFromEpoch)
        break;
      if (spec.restoreBestWeights && st.bestWeights.empty())
        st.bestWeights = hooks_.snapshotWeights();
      ++st.wait;
      if (!st.hasBest ||
          improves(spec.monitor, spec.mode, current, st.best, spec.minDelta)) {
        st.best = current;
        st.hasBest = true;
        st.bestEpoch = r.epoch;
        if (spec.restoreBestWeights)
          st.bestWeights = hooks_.snapshotWeights();
        st.wait = 0;
        break;
      }
      if (st.wait >= spec.patience && r.epoch > 1) {
        stop = true;
        std::string note = fmt::format("Epoch {}: early stopping", r.epoch);
        if (spec.restoreBestWeights && !st.bestWeights.empty()) {
          hooks_.restoreWeights(st.bestWeights);
          note +=
              fmt::format("; restoring weights from epoch {}", st.bestEpoch);
        }
        notes.push_back(note);
      }
      break;
    }
    case ir::CallbackKind::ModelCheckpoint: {
      std::string path = checkpointPath(spec.path, r.epoch);
      if (spec.saveBestOnly) {
        if (std::isnan(current))
          break;
        bool first = !st.hasBest;
        if (!first && !improves(spec.monitor, spec.mode, current, st.best, 0))
          break;
        if (hooks_.writesFiles)
          if (absl::Status s = hooks_.saveWeights(path); !s.ok())
            return s;
        // As Keras's verbose ModelCheckpoint says it (best starts at inf).
        bool max = improves(spec.monitor, spec.mode, 1, 0, 0);
        notes.push_back(fmt::format(
            "Epoch {}: {} improved from {} to {:.5f}, saving weights to {}",
            r.epoch, monitor,
            first ? (max ? "-inf" : "inf") : fmt::format("{:.5f}", st.best),
            current, path));
        st.best = current;
        st.hasBest = true;
        break;
      }
      if (hooks_.writesFiles)
        if (absl::Status s = hooks_.saveWeights(path); !s.ok())
          return s;
      break;
    }
    case ir::CallbackKind::ReduceLrOnPlateau: {
      if (!available)
        break;
      if (st.cooldown > 0) {
        --st.cooldown;
        st.wait = 0;
      }
      if (!st.hasBest ||
          improves(spec.monitor, spec.mode, current, st.best, spec.minDelta)) {
        st.best = current;
        st.hasBest = true;
        st.wait = 0;
        break;
      }
      if (st.cooldown > 0 || ++st.wait < spec.patience)
        break;
      // Keras compares the f32 rate with np.float32(min_lr), then computes
      // the new rate in f64 and stores it in the f32 variable.
      float old = hooks_.learningRate();
      if (!(old > static_cast<float>(spec.minLr)))
        break;
      double reduced =
          std::max(static_cast<double>(old) * spec.factor, spec.minLr);
      hooks_.setLearningRate(static_cast<float>(reduced));
      notes.push_back(fmt::format(
          "Epoch {}: ReduceLROnPlateau reducing learning rate to {}.", r.epoch,
          reduced));
      st.cooldown = spec.cooldown;
      st.wait = 0;
      break;
    }
    case ir::CallbackKind::TerminateOnNan:   // after every step, in fit
    case ir::CallbackKind::BackupAndRestore: // around the fit
      break;
    case ir::CallbackKind::CsvLogger: {
      // Rewritten whole (atomically) after every epoch, so that the file
      // always holds every finished epoch; with append, after what the file
      // held when training started.
      if (!st.csvPrefixRead) {
        st.csvPrefixRead = true;
        std::error_code ec;
        if (spec.append && std::filesystem::exists(spec.path, ec)) {
          auto old = support::readTextFile(spec.path, "a CSV log");
          if (!old.ok())
            return absl::Status(
                old.status().code(),
                fmt::format("{}: {}", spec.path,
                            std::string(old.status().message())));
          st.csvPrefix = *std::move(old);
          if (!st.csvPrefix.empty() && st.csvPrefix.back() != '\n')
            st.csvPrefix += '\n';
        }
      }
      std::string text = st.csvPrefix.empty()
                             ? formatHistoryCsv(history, true)
                             : st.csvPrefix + formatHistoryCsv(history, false);
      if (hooks_.writesFiles)
        if (absl::Status s = support::writeFileAtomically(spec.path, text);
            !s.ok())
          return s;
      break;
    }
    }
  }
  return stop;
}

namespace {
// Doubles as text that reads back to the same bits.
std::string exact(double v) { return fmt::format("{}", v); }
} // namespace

std::vector<CallbackState> Callbacks::saveState() const {
  std::vector<CallbackState> out;
  for (const State &st : states_) {
    CallbackState c;
    c.values = {{"best", exact(st.best)},
                {"has_best", st.hasBest ? "1" : "0"},
                {"wait", std::to_string(st.wait)},
                {"best_epoch", std::to_string(st.bestEpoch)},
                {"csv_prefix", st.csvPrefix},
                {"csv_prefix_read", st.csvPrefixRead ? "1" : "0"},
                {"cooldown", std::to_string(st.cooldown)}};
    c.bestWeights = st.bestWeights;
    out.push_back(std::move(c));
  }
  return out;
}

absl::Status Callbacks::restoreState(const std::vector<CallbackState> &states) {
  if (states.size() != states_.size())
    return absl::InvalidArgumentError(
        fmt::format("it holds the state of {} callbacks, the fit statement "
                    "has {}",
                    states.size(), states_.size()));
  std::vector<State> restored(states.size());
  for (size_t i = 0; i < states.size(); ++i) {
    const auto &v = states[i].values;
    State &st = restored[i];
    auto get = [&](const char *key) -> const std::string * {
      auto it = v.find(key);
      return it == v.end() ? nullptr : &it->second;
    };
    const std::string *best = get("best"), *hasBest = get("has_best"),
                      *wait = get("wait"), *bestEpoch = get("best_epoch"),
                      *prefix = get("csv_prefix"),
                      *prefixRead = get("csv_prefix_read"),
                      *cooldown = get("cooldown");
    if (!best || !hasBest || !wait || !bestEpoch || !prefix || !prefixRead ||
        !cooldown)
      return absl::InvalidArgumentError(
          fmt::format("the state of callback {} is incomplete", i + 1));
    char *end = nullptr;
    st.best = std::strtod(best->c_str(), &end);
    bool ok = end && *end == '\0' && !best->empty();
    auto readInt = [&](const std::string &s, int64_t &out) {
      out = std::strtoll(s.c_str(), &end, 10);
      ok = ok && !s.empty() && *end == '\0' && out >= 0;
    };
    int64_t flag = 0, epoch = 0;
    readInt(*hasBest, flag);
    st.hasBest = flag != 0;
    readInt(*prefixRead, flag);
    st.csvPrefixRead = flag != 0;
    readInt(*wait, st.wait);
    readInt(*cooldown, st.cooldown);
    readInt(*bestEpoch, epoch);
    if (!ok || epoch > std::numeric_limits<int>::max())
      return absl::InvalidArgumentError(
          fmt::format("the state of callback {} is malformed", i + 1));
    st.bestEpoch = static_cast<int>(epoch);
    st.csvPrefix = *prefix;
    st.bestWeights = states[i].bestWeights;
  }
  states_ = std::move(restored);
  return absl::OkStatus();
}

} // namespace cnnc::runtime
