#include "ir/IrLexer.h"

#include <fmt/format.h>

namespace cnnc::ir {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isBareStart(char c) { return isLetter(c) || c == '_'; }
bool isBareChar(char c) {
  return isLetter(c) || isDigit(c) || c == '_' || c == '.' || c == '$';
}
int hexValue(char c) {
  if (isDigit(c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string describeChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f)
    return fmt::format("'{}'", c);
  return fmt::format("byte 0x{:02X}", u);
}

} // namespace

bool isIrNameChar(char c) { return isBareChar(c) || c == '-'; }

bool isPlainIrName(std::string_view name) {
  if (name.empty())
    return false;
  for (char c : name)
    if (!isIrNameChar(c))
      return false;
  return true;
}

bool isBareIrName(std::string_view name) {
  if (name.empty() || !isBareStart(name[0]))
    return false;
  for (char c : name)
    if (!isBareChar(c))
      return false;
  return true;
}

void IrLexer::advance() {
  if (text_[pos_] == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  ++pos_;
}

IrTok IrLexer::next() {
  // Whitespace and comments.
  while (pos_ < text_.size()) {
    char c = peek();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      advance();
    } else if (c == '/' && peek(1) == '/') {
      while (pos_ < text_.size() && peek() != '\n')
        advance();
    } else {
      break;
    }
  }
  TextPos at = here();
  if (pos_ >= text_.size())
    return make(IrToken::Eof, "", at);
  char c = peek();
  auto punct = [&](IrToken kind) {
    advance();
    return make(kind, std::string(1, c), at);
  };
  switch (c) {
  case '{':
    return punct(IrToken::LBrace);
  case '}':
    return punct(IrToken::RBrace);
  case '(':
    return punct(IrToken::LParen);
  case ')':
    return punct(IrToken::RParen);
  case '[':
    return punct(IrToken::LBracket);
  case ']':
    return punct(IrToken::RBracket);
  case '=':
    return punct(IrToken::Equal);
  case ',':
    return punct(IrToken::Comma);
  case ':':
    return punct(IrToken::Colon);
  case '"':
    return lexString(at);
  case '%':
    return lexSigil(IrToken::ValueRef, at);
  case '@':
    return lexSigil(IrToken::GraphRef, at);
  default:
    break;
  }
  if (isDigit(c) || c == '-')
    return lexNumber(at);
  if (isBareStart(c)) {
    size_t start = pos_;
    while (pos_ < text_.size() && isBareChar(peek()))
      advance();
    return make(IrToken::BareId, std::string(text_.substr(start, pos_ - start)),
                at);
  }
  advance();
  return make(IrToken::Error,
              fmt::format("unexpected character {}", describeChar(c)), at);
}

// [-]digits[.digits][(e|E)[+|-]digits], or -inf / -nan (inf and nan without
// the sign are bare identifiers; the parser reads them as floats).
IrTok IrLexer::lexNumber(TextPos at) {
  size_t start = pos_;
  if (peek() == '-') {
    advance();
    for (const char *word : {"inf", "nan"}) {
      std::string_view w(word);
      if (text_.substr(pos_, 3) == w && !isBareChar(peek(3))) {
        for (int i = 0; i < 3; ++i)
          advance();
        return make(IrToken::Float, std::string("-").append(w), at);
      }
    }
    if (!isDigit(peek()))
      return make(IrToken::Error, "expected a number after '-'", at);
  }
  bool isFloat = false;
  while (isDigit(peek()))
    advance();
  if (peek() == '.') {
    if (!isDigit(peek(1)))
      return make(IrToken::Error, "expected digits after '.'", at);
    isFloat = true;
    advance();
    while (isDigit(peek()))
      advance();
  }
  if (peek() == 'e' || peek() == 'E') {
    size_t sign = (peek(1) == '+' || peek(1) == '-') ? 1 : 0;
    if (isDigit(peek(1 + sign))) {
      isFloat = true;
      for (size_t i = 0; i < 1 + sign; ++i)
        advance();
      while (isDigit(peek()))
        advance();
    }
  }
  if (isBareChar(peek()))
    return make(IrToken::Error,
                fmt::format("malformed number '{}{}'",
                            text_.substr(start, pos_ - start), peek()),
                at);
  return make(isFloat ? IrToken::Float : IrToken::Int,
              std::string(text_.substr(start, pos_ - start)), at);
}

// "..." with escapes \" \\ \n \t and \XX (two hex digits), on one line.
IrTok IrLexer::lexString(TextPos at) {
  advance(); // opening quote
  std::string out;
  while (true) {
    if (pos_ >= text_.size() || peek() == '\n')
      return make(IrToken::Error, "unterminated string", at);
    char c = peek();
    if (c == '"') {
      advance();
      return make(IrToken::String, std::move(out), at);
    }
    if (c != '\\') {
      out += c;
      advance();
      continue;
    }
    TextPos escapeAt = here();
    advance();
    char e = peek();
    if (e == '"' || e == '\\') {
      out += e;
      advance();
    } else if (e == 'n' || e == 't') {
      out += e == 'n' ? '\n' : '\t';
      advance();
    } else if (hexValue(e) >= 0 && hexValue(peek(1)) >= 0) {
      out += static_cast<char>(hexValue(e) * 16 + hexValue(peek(1)));
      advance();
      advance();
    } else {
      return make(IrToken::Error, "invalid escape in string", escapeAt);
    }
  }
}

// %name, %"name", @name, @"name".
IrTok IrLexer::lexSigil(IrToken kind, TextPos at) {
  char sigil = peek();
  advance();
  if (peek() == '"') {
    IrTok s = lexString(here());
    if (s.kind == IrToken::Error)
      return s;
    if (s.text.empty() && kind == IrToken::ValueRef)
      return make(IrToken::Error, fmt::format("empty name after '{}'", sigil),
                  at);
    return make(kind, std::move(s.text), at);
  }
  size_t start = pos_;
  while (pos_ < text_.size() && isIrNameChar(peek()))
    advance();
  if (pos_ == start)
    return make(IrToken::Error,
                fmt::format("expected a name after '{}'", sigil), at);
  return make(kind, std::string(text_.substr(start, pos_ - start)), at);
}

const char *irTokenName(IrToken kind) {
  switch (kind) {
  case IrToken::Eof:
    return "end of input";
  case IrToken::Error:
    return "invalid token";
  case IrToken::BareId:
    return "identifier";
  case IrToken::ValueRef:
    return "value name";
  case IrToken::GraphRef:
    return "graph name";
  case IrToken::Int:
    return "integer";
  case IrToken::Float:
    return "float";
  case IrToken::String:
    return "string";
  case IrToken::LBrace:
    return "'{'";
  case IrToken::RBrace:
    return "'}'";
  case IrToken::LParen:
    return "'('";
  case IrToken::RParen:
    return "')'";
  case IrToken::LBracket:
    return "'['";
  case IrToken::RBracket:
    return "']'";
  case IrToken::Equal:
    return "'='";
  case IrToken::Comma:
    return "','";
  case IrToken::Colon:
    return "':'";
  }
  return "token";
}

} // namespace cnnc::ir
