// File loading and the training recipe; parsing is in Parser.cpp, lowering in
// Lowering.cpp, the summary table in Summary.cpp.
#include "frontend/Frontend.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace cnnc::frontend {

namespace {

ParseResult cannotRead(const std::string &path, int err) {
  Diagnostic d;
  d.file = path;
  d.message =
      fmt::format("cannot read: {}", std::generic_category().message(err));
  return {std::nullopt, std::move(d)};
}

} // namespace

ParseResult parseFile(const std::string &path) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return cannotRead(path, errno);
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    text.append(buf, n);
  // A directory opens fine and fails on the first read (EISDIR).
  int err = std::ferror(f) ? (errno != 0 ? errno : EIO) : 0;
  std::fclose(f);
  if (err != 0)
    return cannotRead(path, err);
  return parseProgram(text, path);
}

ir::TrainingSpec trainingSpec(const Program &p) {
  ir::TrainingSpec spec;
  if (p.compile) {
    spec.loss = p.compile->loss;
    spec.optimizer = p.compile->optimizer;
    spec.accuracyMetric = p.compile->accuracy;
  }
  if (p.fit)
    spec.fit = p.fit->fit;
  return spec;
}

} // namespace cnnc::frontend
