// File loading and the training recipe; parsing is in Parser.cpp, lowering in
// Lowering.cpp, the summary table in Summary.cpp.
#include "frontend/Frontend.h"

#include "support/TextFile.h"

namespace cnnc::frontend {

ParseResult parseFile(const std::string &path) {
  auto text = support::readTextFile(path, "a model file");
  if (!text.ok()) {
    Diagnostic d;
    d.file = path;
    d.message = std::string(text.status().message());
    return {std::nullopt, std::move(d)};
  }
  return parseProgram(*text, path);
}

ir::TrainingSpec trainingSpec(const Program &p) {
  ir::TrainingSpec spec;
  if (p.compile) {
    spec.loss = p.compile->loss;
    spec.optimizer = p.compile->optimizer;
    spec.accuracyMetric = p.compile->accuracy;
    spec.dtypePolicy = p.compile->dtypePolicy;
  }
  if (p.fit)
    spec.fit = p.fit->fit;
  return spec;
}

} // namespace cnnc::frontend
