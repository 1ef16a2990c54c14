// Ctrl-C and SIGTERM during training (cnnc --train, --tune): the first one
// only sets a flag that fit reads after every step; a second one kills at
// once.
#pragma once

#include <atomic>
#include <csignal>

namespace cnnc::tools {

// Set by the first SIGINT or SIGTERM once catchStopSignals() ran.
extern std::atomic<bool> gStop;
// That signal's number; 0 while none came.
extern volatile std::sig_atomic_t gStopSignal;

// From now on the first SIGINT or SIGTERM sets gStop and gStopSignal and
// puts the default action back.
void catchStopSignals();
// The default action again (a signal now kills).
void defaultStopSignals();

} // namespace cnnc::tools
