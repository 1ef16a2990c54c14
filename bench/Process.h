// Runs a program as a child process and captures its stdout, exit status,
// wall time and peak RSS (each benchmark configuration runs in a fresh
// process so that its RSS and compile times are its own).
#pragma once

#include <string>
#include <vector>

namespace cnnc::bench {

struct ProcessResult {
  bool started = false;
  int exitCode = -1; // -1: killed by a signal or not started
  std::string out;   // stdout (stderr passes through)
  double seconds = 0;
  double maxRssMb = 0; // peak resident set size
};

ProcessResult runProcess(const std::vector<std::string> &argv,
                         bool quietStderr = false);

// This executable's path (for re-running itself).
std::string selfPath();

// The value of "key=value" in the first line of `out` that starts with
// `prefix`; empty when absent.
std::string field(const std::string &out, const std::string &prefix,
                  const std::string &key);
double fieldNumber(const std::string &out, const std::string &prefix,
                   const std::string &key);

} // namespace cnnc::bench
