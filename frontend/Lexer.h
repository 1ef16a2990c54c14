// Splits DSL source into tokens. Newlines end statements, except inside
// parentheses and brackets, where they are plain whitespace.
#pragma once

#include "frontend/Diagnostics.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::frontend {

enum class TokenKind {
  Ident,
  Int,
  Float,
  String,
  Equals,
  Comma,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Newline,
  Eof,
};

struct Token {
  TokenKind kind = TokenKind::Eof;
  std::string text; // the spelling; for strings, the unescaped contents
  SourceLoc loc;
  // The token's bytes in the source, [offset, end): its exact spelling
  // (a string with its quotes and escapes) for source rewriting.
  size_t offset = 0, end = 0;
  int64_t intValue = 0;  // Int
  double floatValue = 0; // Int and Float
};

// How a token reads in a message: "'conv2d'", "end of line", "a string".
std::string describeToken(const Token &t);

struct LexError {
  SourceLoc loc;
  std::string message;
};

struct LexResult {
  std::vector<Token> tokens; // ends with Eof unless there is an error
  std::optional<LexError> error;
};

// Limits that keep every later stage (suggestions compare names pairwise,
// errors quote them) cheap on generated or hostile input; docs/dsl.md.
inline constexpr size_t kMaxNameLength = 256;    // names and numbers
inline constexpr size_t kMaxStringLength = 4096; // "..." (paths)

LexResult lex(std::string_view source);

} // namespace cnnc::frontend
