// The error value types, rendered exactly as the frontend renders them.
#include "api/Internal.h"

#include <fmt/format.h>

#ifndef CNNC_VERSION
#error "CNNC_VERSION must be defined by the build"
#endif

namespace cnnc {

const char *version() { return CNNC_VERSION; }

std::string Diagnostic::str() const {
  frontend::Diagnostic d;
  d.file = file;
  d.line = line;
  d.col = column;
  d.message = message;
  d.sourceLine = sourceLine;
  return d.str();
}

Status::Status(Diagnostic diagnostic) : ok_(false) {
  message_ = diagnostic.line > 0
                 ? fmt::format("{}:{}:{}: {}", diagnostic.file, diagnostic.line,
                               diagnostic.column, diagnostic.message)
                 : fmt::format("{}: {}", diagnostic.file, diagnostic.message);
  diagnostic_ = std::move(diagnostic);
}

namespace api {

Diagnostic toDiagnostic(const frontend::Diagnostic &d) {
  Diagnostic out;
  out.file = d.file;
  out.line = d.line;
  out.column = d.col;
  out.message = d.message;
  out.sourceLine = d.sourceLine;
  return out;
}

Status toStatus(const absl::Status &s) {
  if (s.ok())
    return Status();
  return Status(std::string(s.message()));
}

std::string csvField(const std::string &s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos)
    return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + "\"";
}

} // namespace api
} // namespace cnnc
