#include "support/Text.h"

#include <fmt/format.h>

namespace cnnc::support {

std::string escapeControlBytes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n')
      out.append("\\n");
    else if (u < 0x20 || u == 0x7f)
      out.append(fmt::format("\\x{:02x}", u));
    else
      out.push_back(c);
  }
  return out;
}

std::string quoteForMessage(std::string_view s, size_t max) {
  if (s.size() <= max)
    return escapeControlBytes(s);
  return escapeControlBytes(s.substr(0, max)) + "...";
}

std::string orList(const std::vector<std::string> &names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

} // namespace cnnc::support
