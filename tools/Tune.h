// cnnc MODEL.dsl --tune: the hyper-parameter search of the model's tune
// statement (docs/dsl.md, "Hyper-parameter search").
#pragma once

#include "tools/CommandLine.h"

namespace cnnc::tools {

// Runs every trial, prints a row per trial and the best, and writes
// results.csv, best.dsl and best.safetensors to the tune directory. The
// exit status: 0, 1 after a one-line error, 128 + signal when interrupted.
int runTune(const Options &opt);

} // namespace cnnc::tools
