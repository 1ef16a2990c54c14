// Tokens of the textual tensor IR (docs/ir.md, "Textual form").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cnnc::ir {

// A 1-based line and byte column in an IR text.
struct TextPos {
  int line = 0, col = 0;
};

enum class IrToken : uint8_t {
  Eof,
  Error,    // text holds the message
  BareId,   // graph, input, conv2d, strides, f32, inf, loss ...
  ValueRef, // %name or %"name" (text: the name)
  GraphRef, // @name or @"name" (text: the name)
  Int,      // 3, -1
  Float,    // 0.5, 1e-07, -inf, -nan
  String,   // "..." (text: unescaped)
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Equal,
  Comma,
  Colon,
};

struct IrTok {
  IrToken kind = IrToken::Eof;
  std::string text; // spelling; unescaped for strings and quoted names
  TextPos pos;
};

// Characters of an unquoted %value, @graph or bare name.
bool isIrNameChar(char c);
// Whether `name` prints unquoted after '%' or '@' (else as %"...").
bool isPlainIrName(std::string_view name);
// Whether an attribute or output name prints as a bare identifier (else as a
// string).
bool isBareIrName(std::string_view name);

// Splits IR text into tokens on demand; skips whitespace and `//` comments.
class IrLexer {
public:
  explicit IrLexer(std::string_view text, int firstLine = 1)
      : text_(text), line_(firstLine) {}

  IrTok next();

private:
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void advance();
  TextPos here() const { return {line_, col_}; }
  IrTok make(IrToken kind, std::string text, TextPos at) const {
    return {kind, std::move(text), at};
  }
  IrTok lexNumber(TextPos at);
  IrTok lexString(TextPos at);
  IrTok lexSigil(IrToken kind, TextPos at);

  std::string_view text_;
  size_t pos_ = 0;
  int line_, col_ = 1;
};

const char *irTokenName(IrToken kind); // "'{'", "integer", ...

} // namespace cnnc::ir
