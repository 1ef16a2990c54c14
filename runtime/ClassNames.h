// Class names as they travel with the weights: a JSON array of strings in
// the safetensors "__metadata__" entry "class_names" (docs/formats.md).
#pragma once

#include "absl/status/statusor.h"

#include <string>
#include <vector>

namespace cnnc::runtime {

inline constexpr const char *kClassNamesKey = "class_names";

std::string classNamesToJson(const std::vector<std::string> &names);
// `path` labels the error ("W.safetensors: __metadata__ class_names: ...").
absl::StatusOr<std::vector<std::string>>
classNamesFromJson(const std::string &json, const std::string &path);

// "cat, dog, bird" for messages; long lists end with ", ... (N in all)".
std::string joinClassNames(const std::vector<std::string> &names);

} // namespace cnnc::runtime
