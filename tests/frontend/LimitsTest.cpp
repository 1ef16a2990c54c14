// Generated or hostile sources stay cheap and their errors short: names,
// strings and layer counts are capped, and an error on a huge line quotes a
// window of it (docs/dsl.md, "Limits").
#include "frontend/Frontend.h"
#include "frontend/Lexer.h"

#include <gtest/gtest.h>

#include <string>

namespace cnnc::frontend {
namespace {

std::string model(const std::string &layers) {
  return "model m {\n  input shape=(28, 28, 1)\n" + layers +
         "  flatten\n  dense units=10 activation=softmax\n}\n";
}

std::string parseError(const std::string &source) {
  ParseResult r = parseProgram(source, "m.dsl");
  return r.error ? r.error->str() : "(no error)";
}

TEST(Limits, LongNameIsAnErrorNotAQuadraticSuggestion) {
  std::string name(10'000'000, 'a');
  std::string err = parseError(model("  " + name + "\n"));
  EXPECT_NE(err.find("m.dsl:3:3: error: name 'aaaaaaaaaaaaaaaaaaaa...' is "
                     "10000000 characters long; a name has at most 256"),
            std::string::npos)
      << err.substr(0, 300);
  EXPECT_LT(err.size(), 600u);
  // The longest allowed name is an ordinary unknown layer.
  std::string ok(kMaxNameLength, 'b');
  EXPECT_NE(parseError(model("  " + ok + "\n")).find("unknown layer"),
            std::string::npos);
}

TEST(Limits, LongNumberAndString) {
  EXPECT_NE(parseError(model("  dense units=" + std::string(300, '1') + "\n"))
                .find("bad number '11111111111111111111...': 300 characters "
                      "long"),
            std::string::npos);
  std::string err = parseError(model("") + "fit dataset=idx(\"" +
                               std::string(5000, 'p') + "\")\n");
  EXPECT_NE(err.find("string is longer than 4096 characters"),
            std::string::npos)
      << err.substr(0, 300);
}

TEST(Limits, LayerCount) {
  std::string many;
  // With flatten and dense: 10,000 layers.
  for (int i = 0; i < 9998; ++i)
    many += "  dropout rate=0\n";
  EXPECT_EQ(parseError(model(many)), "(no error)");
  std::string err = parseError(model(many + "  dropout rate=0\n"));
  EXPECT_NE(err.find("m.dsl:10003:3: error: a model has at most 10000 layers"),
            std::string::npos)
      << err;
}

// classes=[...] holds at most 1,000,000 entries: the count is checked
// before the entries (these repeat 0, which would be the next error).
TEST(Limits, ClassesListLength) {
  std::string list;
  for (int i = 0; i < 1'000'001; ++i)
    list += i ? ", 0" : "0";
  std::string err = parseError(model("") + "fit classes=[" + list + "]\n");
  EXPECT_NE(err.find("m.dsl:6:13: error: classes takes at most 1000000 class "
                     "indexes, got 1000001"),
            std::string::npos)
      << err.substr(0, 300);
  list.resize(list.size() - 3); // 1,000,000 entries: on to the duplicates
  err = parseError(model("") + "fit classes=[" + list + "]\n");
  EXPECT_NE(err.find("class 0 is listed twice in classes"), std::string::npos)
      << err.substr(0, 300);
}

// A 200 KB line: the error quotes 120 characters around the column, with
// "..." where it is cut, and the caret under the column.
TEST(Limits, ErrorOnAHugeLineQuotesAWindow) {
  std::string pad(100'000, ' ');
  std::string source = model("  dropout" + pad + "rate=x" + pad + "\n");
  std::string err = parseError(source);
  EXPECT_LT(err.size(), 500u) << err.substr(0, 500);
  size_t nl1 = err.find('\n'), nl2 = err.find('\n', nl1 + 1);
  ASSERT_NE(nl2, std::string::npos);
  std::string quoted = err.substr(nl1 + 1, nl2 - nl1 - 1);
  std::string caret = err.substr(nl2 + 1);
  EXPECT_EQ(quoted.substr(0, 5), "  ...");
  EXPECT_EQ(quoted.substr(quoted.size() - 3), "...");
  ASSERT_LT(caret.size(), quoted.size());
  // The caret stands under the value 'x' that the error is about.
  EXPECT_EQ(caret.back(), '^');
  EXPECT_EQ(quoted[caret.size() - 1], 'x') << quoted << "\n" << caret;
}

// Short lines are quoted whole, as before.
TEST(Limits, ShortLinesAreQuotedWhole) {
  std::string err = parseError(model("  dropout rate=x\n"));
  EXPECT_NE(err.find("\n    dropout rate=x\n                 ^"),
            std::string::npos)
      << err;
}

} // namespace
} // namespace cnnc::frontend
