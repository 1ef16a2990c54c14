// Runs a built tool as a user does, from the shell, with stdin closed and
// stdout and stderr captured: for tests of the commands' exit status and
// output.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace cnnc::testing {

struct RunResult {
  int status = -1; // exit status; -1 when killed by a signal
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The lines of `text`, without their line breaks.
inline std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

// `commandLine` is passed to the shell; `scratch` (an existing directory)
// receives the captured streams.
inline RunResult runTool(const std::string &commandLine,
                         const std::filesystem::path &scratch) {
  std::filesystem::path out = scratch / "stdout", err = scratch / "stderr";
  std::string cmd =
      commandLine + " >" + out.string() + " 2>" + err.string() + " </dev/null";
  int raw = std::system(cmd.c_str());
  RunResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

} // namespace cnnc::testing
