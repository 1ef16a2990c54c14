// Errors as values: a message tied to a file position, rendered like a
// compiler diagnostic with the source line and a caret.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::frontend {

// A 1-based position in a source file; line 0 means "no position".
struct SourceLoc {
  int line = 0, col = 0;
  bool known() const { return line > 0; }
};

struct Diagnostic {
  std::string file;
  int line = 0, col = 0; // 1-based; line 0: about the whole file
  std::string message;
  std::string sourceLine; // the text of `line`, without its newline

  // Three lines without a trailing newline:
  //   file:line:col: error: message
  //     <source line>
  //     <spaces>^
  // or, for line 0, the single line "file: error: message".
  std::string str() const;
};

// The text of 1-based line `line` of `source` (without "\n" or "\r"); empty
// when there is no such line.
std::string_view sourceLineAt(std::string_view source, int line);

// A diagnostic at `loc`, quoting that line of `source`.
Diagnostic makeDiagnostic(const std::string &file, std::string_view source,
                          SourceLoc loc, std::string message);

// Case-insensitive optimal-string-alignment distance (an adjacent swap
// counts as one edit, which catches "mnsit").
size_t editDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a typo of it.
std::optional<std::string>
closestMatch(std::string_view word, const std::vector<std::string> &candidates);

// "; did you mean 'x'?" when a candidate is close to `word`, else
// "; expected one of a, b, c".
std::string suggestionSuffix(std::string_view word,
                             const std::vector<std::string> &candidates);

// "unknown <what> '<word>'" followed by "; did you mean 'x'?" when a
// candidate is close, else "; expected one of a, b, c".
std::string unknownMessage(std::string_view what, std::string_view word,
                           const std::vector<std::string> &candidates);

// "a, b, c" / "a or b" helpers for messages.
std::string joinNames(const std::vector<std::string> &names,
                      std::string_view lastSeparator = ", ");

} // namespace cnnc::frontend
