// Training history output: a Keras-style CSV log and an SVG plot of the
// accuracy and loss curves.
#pragma once

#include "absl/status/status.h"

#include <limits>
#include <string>
#include <vector>

namespace cnnc::runtime {

struct EpochRecord {
  int epoch = 0; // 1-based
  double loss = 0, accuracy = 0;
  bool hasValidation = false;
  double valLoss = 0, valAccuracy = 0;
  double seconds = 0;
  // The optimizer's learning rate at the epoch's end, logged (as Keras logs
  // it) only when reduce_lr_on_plateau is used; NaN otherwise.
  double learningRate = std::numeric_limits<double>::quiet_NaN();
  bool hasLearningRate() const { return learningRate == learningRate; }
};

// Writes what Keras' CSVLogger writes, plus a timing column:
//   epoch,accuracy,loss,val_accuracy,val_loss,seconds
// with the epoch 0-based and the val_ columns empty without validation; with
// a logged learning rate, Keras's (sorted) column learning_rate after
// accuracy.
// Numbers are shortest round-trip, spelled as Python prints them. Atomic.
absl::Status writeHistoryCsv(const std::string &path,
                             const std::vector<EpochRecord> &records);
// The same text, with or without the header line.
std::string formatHistoryCsv(const std::vector<EpochRecord> &records,
                             bool header);

// Writes a standalone SVG: an "Accuracy" and a "Loss" panel side by side,
// training and validation curves per epoch, under `title`. Atomic.
absl::Status writeHistorySvg(const std::string &path,
                             const std::vector<EpochRecord> &records,
                             const std::string &title);

} // namespace cnnc::runtime
