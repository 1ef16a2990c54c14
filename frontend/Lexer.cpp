#include "frontend/Lexer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace cnnc::frontend {

namespace {

bool isIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Printable characters as themselves, others as \xNN so that a message never
// carries control bytes.
std::string showChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f)
    return std::string(1, c);
  return fmt::format("\\x{:02x}", u);
}

class Lexer {
public:
  explicit Lexer(std::string_view src) : src_(src) {}

  LexResult run() {
    LexResult r;
    while (true) {
      skipBlanksAndComments();
      if (pos_ >= src_.size())
        break;
      size_t begin = pos_;
      if (auto err = next(r.tokens)) {
        r.error = std::move(err);
        r.tokens.clear();
        return r;
      }
      r.tokens.back().offset = begin;
      r.tokens.back().end = pos_;
    }
    Token eof;
    eof.kind = TokenKind::Eof;
    eof.loc = eofLoc();
    eof.offset = eof.end = src_.size();
    r.tokens.push_back(std::move(eof));
    return r;
  }

private:
  SourceLoc here() const {
    return {line_, static_cast<int>(pos_ - lineStart_) + 1};
  }

  // End of file reads best at the end of the last line that has text.
  SourceLoc eofLoc() const {
    size_t last = src_.find_last_not_of(" \t\r\n");
    if (last == std::string_view::npos)
      return {1, 1};
    size_t begin = src_.rfind('\n', last);
    begin = begin == std::string_view::npos ? 0 : begin + 1;
    int line = 1 + static_cast<int>(
                       std::count(src_.begin(), src_.begin() + begin, '\n'));
    return {line,
            static_cast<int>(sourceLineAt(src_.substr(begin), 1).size()) + 1};
  }

  void skipBlanksAndComments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n')
          ++pos_;
      } else if (c == '\n' && depth_ > 0) {
        newline();
      } else {
        return;
      }
    }
  }

  void newline() {
    ++pos_;
    ++line_;
    lineStart_ = pos_;
  }

  void push(std::vector<Token> &out, TokenKind kind, SourceLoc loc,
            std::string text) {
    Token t;
    t.kind = kind;
    t.loc = loc;
    t.text = std::move(text);
    out.push_back(std::move(t));
  }

  std::optional<LexError> next(std::vector<Token> &out) {
    SourceLoc loc = here();
    char c = src_[pos_];
    if (c == '\n') {
      push(out, TokenKind::Newline, loc, "\n");
      newline();
      return std::nullopt;
    }
    if (isIdentStart(c)) {
      size_t begin = pos_;
      while (pos_ < src_.size() && isIdentChar(src_[pos_]))
        ++pos_;
      if (pos_ - begin > kMaxNameLength)
        return LexError{loc, fmt::format("name '{}...' is {} characters long; "
                                         "a name has at most {}",
                                         src_.substr(begin, 20), pos_ - begin,
                                         kMaxNameLength)};
      push(out, TokenKind::Ident, loc,
           std::string(src_.substr(begin, pos_ - begin)));
      return std::nullopt;
    }
    if (isDigit(c) ||
        (c == '-' && pos_ + 1 < src_.size() && isDigit(src_[pos_ + 1])))
      return number(out);
    if (c == '"')
      return string(out);
    TokenKind kind;
    switch (c) {
    case '=':
      kind = TokenKind::Equals;
      break;
    case ',':
      kind = TokenKind::Comma;
      break;
    case '(':
      kind = TokenKind::LParen;
      ++depth_;
      break;
    case ')':
      kind = TokenKind::RParen;
      depth_ = depth_ > 0 ? depth_ - 1 : 0;
      break;
    case '[':
      kind = TokenKind::LBracket;
      ++depth_;
      break;
    case ']':
      kind = TokenKind::RBracket;
      depth_ = depth_ > 0 ? depth_ - 1 : 0;
      break;
    case '{':
      kind = TokenKind::LBrace;
      break;
    case '}':
      kind = TokenKind::RBrace;
      break;
    default:
      return LexError{loc,
                      fmt::format("unexpected character '{}'", showChar(c))};
    }
    ++pos_;
    push(out, kind, loc, std::string(1, c));
    return std::nullopt;
  }

  // -?digits[.digits][(e|E)[+-]digits], not followed by a name character.
  std::optional<LexError> number(std::vector<Token> &out) {
    SourceLoc loc = here();
    size_t begin = pos_;
    auto digits = [&] {
      size_t start = pos_;
      while (pos_ < src_.size() && isDigit(src_[pos_]))
        ++pos_;
      return pos_ > start;
    };
    bool ok = true, isFloat = false;
    if (src_[pos_] == '-')
      ++pos_;
    digits();
    if (pos_ < src_.size() && src_[pos_] == '.') {
      ++pos_;
      isFloat = true;
      ok = digits();
    }
    if (ok && pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      ++pos_;
      isFloat = true;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-'))
        ++pos_;
      ok = digits();
    }
    // Swallow what is glued on ("12abc", "1.2.3") so the message shows it.
    while (pos_ < src_.size() && (isIdentChar(src_[pos_]) || src_[pos_] == '.'))
      ok = false, ++pos_;
    if (pos_ - begin > kMaxNameLength)
      return LexError{loc, fmt::format("bad number '{}...': {} characters long",
                                       src_.substr(begin, 20), pos_ - begin)};
    std::string text(src_.substr(begin, pos_ - begin));
    if (!ok)
      return LexError{loc, fmt::format("bad number '{}'", text)};
    Token t;
    t.kind = isFloat ? TokenKind::Float : TokenKind::Int;
    t.loc = loc;
    const char *first = text.data(), *last = text.data() + text.size();
    if (isFloat) {
      auto [p, ec] = std::from_chars(first, last, t.floatValue);
      if (ec != std::errc() || p != last)
        return LexError{loc,
                        fmt::format("bad number '{}': out of range", text)};
    } else {
      auto [p, ec] = std::from_chars(first, last, t.intValue);
      if (ec != std::errc() || p != last)
        return LexError{loc, fmt::format("bad number '{}': too large", text)};
      t.floatValue = static_cast<double>(t.intValue);
    }
    t.text = std::move(text);
    out.push_back(std::move(t));
    return std::nullopt;
  }

  // "..." with \" and \\ escapes, on one line.
  std::optional<LexError> string(std::vector<Token> &out) {
    SourceLoc loc = here();
    ++pos_;
    std::string value;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n')
        return LexError{loc, "unterminated string"};
      char c = src_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c == '\\') {
        char e = pos_ + 1 < src_.size() ? src_[pos_ + 1] : '\n';
        if (e == '\n')
          return LexError{loc, "unterminated string"};
        if (e != '"' && e != '\\')
          return LexError{here(),
                          fmt::format("unknown escape '\\{}' in string; "
                                      "only \\\" and \\\\ are allowed",
                                      showChar(e))};
        value += e;
        pos_ += 2;
        continue;
      }
      value += c;
      ++pos_;
      if (value.size() > kMaxStringLength)
        return LexError{loc, fmt::format("string is longer than {} characters",
                                         kMaxStringLength)};
    }
    push(out, TokenKind::String, loc, std::move(value));
    return std::nullopt;
  }

  std::string_view src_;
  size_t pos_ = 0, lineStart_ = 0;
  int line_ = 1;
  int depth_ = 0; // open ( and [
};

} // namespace

std::string describeToken(const Token &t) {
  switch (t.kind) {
  case TokenKind::Newline:
    return "end of line";
  case TokenKind::Eof:
    return "end of file";
  case TokenKind::String:
    return "a string";
  default:
    return fmt::format("'{}'", t.text);
  }
}

LexResult lex(std::string_view source) { return Lexer(source).run(); }

} // namespace cnnc::frontend
