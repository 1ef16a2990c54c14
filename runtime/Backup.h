// backup_and_restore's file: everything a fit needs to continue exactly
// where it was, so that a run killed at any moment and started again ends
// with the same weights, history and callback files, bit for bit, as a run
// never interrupted (docs/formats.md, "Backups").
#pragma once

#include "ir/TrainingSpec.h"
#include "runtime/Callbacks.h"
#include "runtime/History.h"
#include "runtime/Safetensors.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cnnc::runtime {

// What a backup must match to be used: each part is compared on its own so
// that a refusal can say which one differs.
struct BackupIdentity {
  std::string version; // cnnc's
  std::string model;   // a hash of the forward graph's text
  std::string recipe;  // the training recipe, as text
  std::string data;    // training images and labels: count and a hash
  int threads = 0;     // results are bit-identical only for the same count
};

struct TrainingBackup {
  BackupIdentity identity;
  // Where training stands: `epoch` (1-based, of this fit) has run `step`
  // steps; step 0 is its start. `finished`: the fit ended (all epochs, or a
  // callback stopped it) and only its outputs remain to be written.
  int64_t epoch = 1, step = 0;
  bool finished = false;
  // The model's counters across fits (dropout masks and shuffle orders are
  // functions of them and the seed).
  int64_t globalStep = 0, globalEpoch = 0;
  // The epoch in progress: its running sums and the seconds it has taken.
  double lossSum = 0, correct = 0, seconds = 0;
  int64_t seen = 0;
  float learningRate = 0; // the optimizer's current constant rate
  std::vector<EpochRecord> history;
  std::vector<CallbackState> callbacks;
  // Params, optimizer state and moving statistics, by their store names.
  std::vector<NamedTensor> tensors;
};

// The training recipe as text, every field that shapes a run's results.
std::string recipeText(const ir::TrainingSpec &spec);

// The backup file in `dir`.
std::string backupPath(const std::string &dir);

// Writes the backup atomically (creating `dir`): a crash during the write
// leaves the previous backup as it was.
absl::Status writeBackup(const std::string &dir, const TrainingBackup &b);

// The backup in `dir`; nullopt when there is none. An error when it cannot
// be read or was made by another cnnc version, model, recipe, data set or
// thread count (the message says which, and to delete `dir` to start over).
absl::StatusOr<std::optional<TrainingBackup>>
readBackup(const std::string &dir, const BackupIdentity &expected);

// Removes the backup file and then `dir` if that left it empty (Keras's
// delete_checkpoint removes the directory).
absl::Status removeBackup(const std::string &dir);

} // namespace cnnc::runtime
