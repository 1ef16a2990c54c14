// The fit statement's callbacks (ir/Callbacks.def), run after every epoch
// with Keras 3's semantics: early_stopping, model_checkpoint, csv_logger,
// reduce_lr_on_plateau. terminate_on_nan acts after every step and
// backup_and_restore around the whole fit: both live in Model::fit.
#pragma once

#include "ir/TrainingSpec.h"
#include "runtime/History.h"

#include "absl/status/statusor.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace cnnc::runtime {

// What callbacks may do to the model.
struct CallbackHooks {
  std::function<std::vector<std::vector<float>>()> snapshotWeights;
  std::function<void(const std::vector<std::vector<float>> &)> restoreWeights;
  std::function<absl::Status(const std::string &path)> saveWeights;
  // The optimizer's current (constant) learning rate, kept in f32 as Keras
  // keeps it.
  std::function<float()> learningRate;
  std::function<void(float)> setLearningRate;
  // False on the ranks other than 0 of a data-parallel run: they keep the
  // callbacks' state alike but leave the files (model_checkpoint,
  // csv_logger) to rank 0.
  bool writesFiles = true;
};

// What a callback remembers between epochs, in a form a backup can hold:
// numbers and strings by name, and early_stopping's best weights.
struct CallbackState {
  std::map<std::string, std::string> values;
  std::vector<std::vector<float>> bestWeights;
};

class Callbacks {
public:
  Callbacks(std::vector<ir::CallbackSpec> specs, CallbackHooks hooks);

  // After each epoch; `history` ends with that epoch's record. Returns true
  // when training should stop. Lines to show the user (what a callback
  // did, as Keras's verbose callbacks say it) are appended to `notes`.
  absl::StatusOr<bool> epochEnd(const std::vector<EpochRecord> &history,
                                std::vector<std::string> &notes);

  // The value a callback reads from an epoch's record.
  static double monitored(const EpochRecord &r, ir::Monitor m);
  // Whether `current` improves on `best` by more than `minDelta`.
  static bool improves(ir::Monitor m, ir::MonitorMode mode, double current,
                       double best, double minDelta);
  // model_checkpoint's file name for a 1-based epoch: "{epoch}" and
  // "{epoch:0Nd}" are replaced as Python's format would.
  static std::string checkpointPath(const std::string &pattern, int epoch);

  // The state of each callback, in the order given, and back (for
  // backup_and_restore); restore fails on state that does not fit.
  std::vector<CallbackState> saveState() const;
  absl::Status restoreState(const std::vector<CallbackState> &states);

private:
  struct State {
    double best = 0;
    bool hasBest = false;
    int64_t wait = 0;
    int bestEpoch = 0;
    std::vector<std::vector<float>> bestWeights;
    std::string csvPrefix; // csv_logger: what the file held before this fit
    bool csvPrefixRead = false;
    int64_t cooldown = 0; // reduce_lr_on_plateau: epochs left
  };
  std::vector<ir::CallbackSpec> specs_;
  std::vector<State> states_;
  CallbackHooks hooks_;
};

} // namespace cnnc::runtime
