// Small text helpers shared by the parsers and verifiers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cnnc::support {

// `s` with newlines as "\n" and other control bytes (and DEL) as "\xNN",
// so that a message quoting user bytes stays on one line.
std::string escapeControlBytes(std::string_view s);

// Bytes from a file quoted in a one-line message: escaped as above, and
// cut to `max` bytes with "..." when longer.
std::string quoteForMessage(std::string_view s, size_t max = 64);

// "a, b or c": choices for a message.
std::string orList(const std::vector<std::string> &names);

} // namespace cnnc::support
