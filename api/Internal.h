// What the API's implementation files share: the Dataset's representation
// and conversions from the internal error types.
#pragma once

#include "cnnc/cnnc.h"
#include "frontend/Diagnostics.h"
#include "ir/TrainingSpec.h"
#include "runtime/Idx.h"

#include "absl/status/status.h"

namespace cnnc {

struct Dataset::Impl {
  runtime::LabeledImages data;
  std::string log; // Dataset::loadLog()
};

namespace api {

Diagnostic toDiagnostic(const frontend::Diagnostic &d);
// The names of ImageFolderOptions, as the DSL spells them; errors name the
// option.
Result<ir::ColorMode> colorModeFromName(const std::string &name);
Result<ir::Interpolation> interpolationFromName(const std::string &name);
// The fit statement's image_folder(...) as Dataset::imageFolder's options
// (subset, seed and threads left at their defaults).
ImageFolderOptions toOptions(const ir::ImageFolderSpec &spec);
Status toStatus(const absl::Status &s);

} // namespace api
} // namespace cnnc
