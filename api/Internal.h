// What the API's implementation files share: the Dataset's representation
// and conversions from the internal error types.
#pragma once

#include "cnnc/cnnc.h"
#include "frontend/Diagnostics.h"
#include "frontend/SearchSpace.h"
#include "ir/TrainingSpec.h"
#include "runtime/Idx.h"

#include "absl/status/status.h"

namespace cnnc {

struct Dataset::Impl {
  runtime::LabeledImages data;
  std::string log; // Dataset::loadLog()
};

struct Search::Impl {
  frontend::SearchProgram program;
  std::vector<std::string> names; // the spaces'
  TuneSettings settings;
};

// The library's own view into a Model.
struct ModelAccess {
  static const Model::Impl &impl(const Model &m) { return *m.impl_; }
};

namespace api {

// Everything the data a model's fit statement names depends on, as text:
// models with equal keys train and validate on the same data.
std::string dataKey(const Model &model);

Diagnostic toDiagnostic(const frontend::Diagnostic &d);
// The names of ImageFolderOptions, as the DSL spells them; errors name the
// option.
Result<ir::ColorMode> colorModeFromName(const std::string &name);
Result<ir::Interpolation> interpolationFromName(const std::string &name);
// The fit statement's image_folder(...) as Dataset::imageFolder's options
// (subset, seed and threads left at their defaults).
ImageFolderOptions toOptions(const ir::ImageFolderSpec &spec);
Status toStatus(const absl::Status &s);
// RFC 4180: a field with a comma, quote or line break is quoted, its quotes
// doubled.
std::string csvField(const std::string &s);

} // namespace api
} // namespace cnnc
