// What the API's implementation files share: the Dataset's representation
// and conversions from the internal error types.
#pragma once

#include "cnnc/cnnc.h"
#include "frontend/Diagnostics.h"
#include "runtime/Idx.h"

#include "absl/status/status.h"

namespace cnnc {

struct Dataset::Impl {
  runtime::LabeledImages data;
};

namespace api {

Diagnostic toDiagnostic(const frontend::Diagnostic &d);
Status toStatus(const absl::Status &s);

} // namespace api
} // namespace cnnc
