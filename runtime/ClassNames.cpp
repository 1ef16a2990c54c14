#include "runtime/ClassNames.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

namespace cnnc::runtime {

std::string classNamesToJson(const std::vector<std::string> &names) {
  // Names are directory names: not necessarily UTF-8, and nlohmann's dump
  // throws on invalid UTF-8 unless told to replace; the folder loader only
  // admits UTF-8 names, so replacement never happens in practice.
  return nlohmann::json(names).dump(-1, ' ', false,
                                    nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::vector<std::string>>
classNamesFromJson(const std::string &json, const std::string &path) {
  auto error = [&](const std::string &why) {
    return absl::DataLossError(
        fmt::format("{}: __metadata__ {}: {}", path, kClassNamesKey, why));
  };
  nlohmann::json parsed =
      nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return error("not valid JSON");
  if (!parsed.is_array())
    return error("expected a JSON array of strings");
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const nlohmann::json &item : parsed) {
    if (!item.is_string())
      return error("expected a JSON array of strings");
    std::string name = item.get<std::string>();
    if (name.empty())
      return error("a class name is empty");
    if (!seen.insert(name).second)
      return error(fmt::format("class name '{}' appears twice", name));
    names.push_back(std::move(name));
  }
  return names;
}

std::string joinClassNames(const std::vector<std::string> &names) {
  constexpr size_t kShown = 8;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i)
    out += (i ? ", " : "") + names[i];
  if (names.size() > kShown)
    out += fmt::format(", ... ({} in all)", names.size());
  return out;
}

} // namespace cnnc::runtime
