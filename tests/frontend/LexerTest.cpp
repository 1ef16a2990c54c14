#include "frontend/Lexer.h"

#include <gtest/gtest.h>

namespace cnnc::frontend {
namespace {

std::vector<TokenKind> kinds(const LexResult &r) {
  std::vector<TokenKind> out;
  for (const Token &t : r.tokens)
    out.push_back(t.kind);
  return out;
}

using K = TokenKind;

TEST(Lexer, SplitsALayerLine) {
  LexResult r = lex("  conv2d filters=32 kernel_size=(3, 3)\n");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(kinds(r),
            (std::vector<K>{K::Ident, K::Ident, K::Equals, K::Int, K::Ident,
                            K::Equals, K::LParen, K::Int, K::Comma, K::Int,
                            K::RParen, K::Newline, K::Eof}));
  EXPECT_EQ(r.tokens[0].text, "conv2d");
  EXPECT_EQ(r.tokens[0].loc.line, 1);
  EXPECT_EQ(r.tokens[0].loc.col, 3);
  EXPECT_EQ(r.tokens[3].intValue, 32);
  EXPECT_EQ(r.tokens[3].loc.col, 18);
  EXPECT_EQ(r.tokens[11].loc.col, 39); // the newline, just past the text
}

TEST(Lexer, SkipsCommentsAndKeepsNewlines) {
  LexResult r = lex("# a comment\nflatten # trailing\n\n}");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(kinds(r), (std::vector<K>{K::Newline, K::Ident, K::Newline,
                                      K::Newline, K::RBrace, K::Eof}));
  EXPECT_EQ(r.tokens[1].loc.line, 2);
  EXPECT_EQ(r.tokens[4].loc.line, 4);
}

TEST(Lexer, NewlinesInsideBracketsAreWhitespace) {
  LexResult r =
      lex("optimizer=sgd(\n  learning_rate=0.1,\n  momentum=0.9\n)\nx");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(kinds(r), (std::vector<K>{K::Ident, K::Equals, K::Ident, K::LParen,
                                      K::Ident, K::Equals, K::Float, K::Comma,
                                      K::Ident, K::Equals, K::Float, K::RParen,
                                      K::Newline, K::Ident, K::Eof}));
  EXPECT_EQ(r.tokens[8].loc.line, 3);
  EXPECT_EQ(r.tokens[13].loc.line, 5);
}

TEST(Lexer, Numbers) {
  LexResult r = lex("0 -7 0.25 1e-7 2.5E3 -0.5");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(kinds(r), (std::vector<K>{K::Int, K::Int, K::Float, K::Float,
                                      K::Float, K::Float, K::Eof}));
  EXPECT_EQ(r.tokens[1].intValue, -7);
  EXPECT_DOUBLE_EQ(r.tokens[2].floatValue, 0.25);
  EXPECT_DOUBLE_EQ(r.tokens[3].floatValue, 1e-7);
  EXPECT_DOUBLE_EQ(r.tokens[4].floatValue, 2500);
  EXPECT_DOUBLE_EQ(r.tokens[5].floatValue, -0.5);
  EXPECT_EQ(r.tokens[3].text, "1e-7");
}

TEST(Lexer, StringsWithEscapes) {
  LexResult r = lex(R"(idx("data/a \"b\" \\c"))");
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.tokens[2].kind, K::String);
  EXPECT_EQ(r.tokens[2].text, R"(data/a "b" \c)");
}

TEST(Lexer, Errors) {
  struct Case {
    const char *source;
    int line, col;
    const char *message;
  };
  const Case cases[] = {
      {"dense units=10 $", 1, 16, "unexpected character '$'"},
      {"a\n  \x01", 2, 3, "unexpected character '\\x01'"},
      {"fit dataset=idx(\"data/x\nmore", 1, 17, "unterminated string"},
      {"idx(\"abc", 1, 5, "unterminated string"},
      {"x=\"a\\q\"", 1, 5,
       "unknown escape '\\q' in string; only \\\" and \\\\ are allowed"},
      {"rate=0.2.5", 1, 6, "bad number '0.2.5'"},
      {"filters=1e", 1, 9, "bad number '1e'"},
      {"filters=32x", 1, 9, "bad number '32x'"},
      {"x=1.", 1, 3, "bad number '1.'"},
      {"epochs=99999999999999999999", 1, 8,
       "bad number '99999999999999999999': too large"},
      {"lr=1e999", 1, 4, "bad number '1e999': out of range"},
      {"a - b", 1, 3, "unexpected character '-'"},
  };
  for (const Case &c : cases) {
    LexResult r = lex(c.source);
    ASSERT_TRUE(r.error) << c.source;
    EXPECT_TRUE(r.tokens.empty());
    EXPECT_EQ(r.error->loc.line, c.line) << c.source;
    EXPECT_EQ(r.error->loc.col, c.col) << c.source;
    EXPECT_EQ(r.error->message, c.message) << c.source;
  }
}

TEST(Lexer, EndOfFileSitsAfterTheLastText) {
  LexResult r = lex("model m {\n  flatten\n\n  \n");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.tokens.back().loc.line, 2);
  EXPECT_EQ(r.tokens.back().loc.col, 10);
  EXPECT_EQ(lex("").tokens.back().loc.line, 1);
  EXPECT_EQ(lex("").tokens.back().loc.col, 1);
}

TEST(Lexer, DescribesTokens) {
  LexResult r = lex("a \"s\"\n");
  EXPECT_EQ(describeToken(r.tokens[0]), "'a'");
  EXPECT_EQ(describeToken(r.tokens[1]), "a string");
  EXPECT_EQ(describeToken(r.tokens[2]), "end of line");
  EXPECT_EQ(describeToken(r.tokens[3]), "end of file");
}

} // namespace
} // namespace cnnc::frontend
