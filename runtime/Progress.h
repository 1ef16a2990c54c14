// Keras-like training log: a live line per epoch on a terminal, one summary
// line per epoch, e.g.
//   Epoch 3/10 1875/1875 - 12.3s 6.6ms/step - loss: 0.0470 - accuracy: 0.9854
//   - val_loss: 0.0292 - val_accuracy: 0.9903
#pragma once

#include "runtime/History.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace cnnc::runtime {

class ProgressLog {
public:
  // live: redraw a line with '\r' while an epoch runs (only on a terminal).
  ProgressLog(std::FILE *out, bool live) : out_(out), live_(live) {}

  // Epoch `epoch` of `epochs`, in `steps` steps (the training loop knows).
  void beginEpoch(int64_t epoch, int64_t epochs, int64_t steps);
  // Called after every step; redraws at most ~10 times a second.
  void step(int64_t done, double loss, double accuracy);
  void endEpoch(const EpochRecord &r);
  // A line of its own between epochs (what a callback did).
  void note(const std::string &line);

private:
  using Clock = std::chrono::steady_clock;
  std::FILE *out_;
  bool live_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0;
  Clock::time_point start_, lastDraw_;
  size_t lastWidth_ = 0;
};

// "1m 05s", "12s" for the ETA.
std::string formatDuration(double seconds);

} // namespace cnnc::runtime
