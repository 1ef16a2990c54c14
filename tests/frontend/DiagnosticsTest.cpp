#include "frontend/Frontend.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

namespace cnnc::frontend {
namespace {

TEST(Diagnostic, RendersFileLineColumnSourceAndCaret) {
  Diagnostic d{"models/x.dsl", 5, 3,
               "unknown layer 'conv3d'; did you mean 'conv2d'?",
               "  conv3d filters=32"};
  EXPECT_EQ(d.str(), "models/x.dsl:5:3: error: unknown layer 'conv3d'; did "
                     "you mean 'conv2d'?\n"
                     "    conv3d filters=32\n"
                     "    ^");
}

TEST(Diagnostic, CaretFollowsTabs) {
  Diagnostic d{"a.dsl", 2, 4, "boom", "\t\tx y"};
  EXPECT_EQ(d.str(), "a.dsl:2:4: error: boom\n  \t\tx y\n  \t\t ^");
}

TEST(Diagnostic, CaretPastTheEndOfTheLine) {
  Diagnostic d{"a.dsl", 1, 4, "expected a value, got end of line", "a ="};
  EXPECT_EQ(d.str(),
            "a.dsl:1:4: error: expected a value, got end of line\n  a =\n"
            "     ^");
}

TEST(Diagnostic, LineZeroIsAboutTheWholeFile) {
  Diagnostic d{"gone.dsl", 0, 0, "cannot read: No such file or directory", ""};
  EXPECT_EQ(d.str(), "gone.dsl: error: cannot read: No such file or directory");
}

TEST(Diagnostic, ParseProgramRendersTheBriefsExample) {
  ParseResult r = parseProgram("# x\nmodel m {\n  input shape=(28, 28, 1)\n\n"
                               "  conv3d filters=32\n}\n",
                               "models/x.dsl");
  ASSERT_TRUE(r.error);
  EXPECT_FALSE(r.program);
  EXPECT_EQ(r.error->file, "models/x.dsl");
  EXPECT_EQ(r.error->line, 5);
  EXPECT_EQ(r.error->col, 3);
  EXPECT_EQ(r.error->sourceLine, "  conv3d filters=32");
  EXPECT_EQ(r.error->str(),
            "models/x.dsl:5:3: error: unknown layer 'conv3d'; did you mean "
            "'conv2d'?\n    conv3d filters=32\n    ^");
}

TEST(Diagnostic, EmptyFile) {
  ParseResult r = parseProgram("", "e.dsl");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->str(), "e.dsl:1:1: error: no model in this file; "
                            "expected 'model <name> { ... }'\n  \n  ^");
}

TEST(Diagnostic, SourceLineAt) {
  std::string_view src = "one\r\ntwo\n\nfour";
  EXPECT_EQ(sourceLineAt(src, 1), "one");
  EXPECT_EQ(sourceLineAt(src, 2), "two");
  EXPECT_EQ(sourceLineAt(src, 3), "");
  EXPECT_EQ(sourceLineAt(src, 4), "four");
  EXPECT_EQ(sourceLineAt(src, 5), "");
  EXPECT_EQ(sourceLineAt(src, 0), "");
}

TEST(Suggestions, EditDistance) {
  EXPECT_EQ(editDistance("conv3d", "conv2d"), 1u);
  EXPECT_EQ(editDistance("mnsit", "mnist"), 1u); // a swap is one edit
  EXPECT_EQ(editDistance("Dense", "dense"), 0u); // case-insensitive
  EXPECT_EQ(editDistance("", "abc"), 3u);
  EXPECT_EQ(editDistance("relu", "tanh"), 4u);
}

TEST(Suggestions, ClosestMatchOnlyWhenClose) {
  std::vector<std::string> acts = {"relu", "sigmoid", "tanh", "softmax",
                                   "linear"};
  EXPECT_EQ(closestMatch("relux", acts), "relu");
  EXPECT_EQ(closestMatch("sigmod", acts), "sigmoid");
  EXPECT_EQ(closestMatch("softmx", acts), "softmax");
  EXPECT_EQ(closestMatch("Tanh", acts), "tanh");
  EXPECT_EQ(closestMatch("swish", acts), std::nullopt);
  EXPECT_EQ(closestMatch("x", acts), std::nullopt);
}

TEST(Suggestions, UnknownMessage) {
  EXPECT_EQ(unknownMessage("dataset", "mnsit", {"mnist", "idx"}),
            "unknown dataset 'mnsit'; did you mean 'mnist'?");
  EXPECT_EQ(unknownMessage("dataset", "cifar", {"mnist", "idx"}),
            "unknown dataset 'cifar'; expected one of mnist, idx");
  EXPECT_EQ(unknownMessage("metric", "auc", {"accuracy"}),
            "unknown metric 'auc'; expected accuracy");
}

TEST(ParseFile, MissingFile) {
  ParseResult r = parseFile("/nonexistent/dir/model.dsl");
  ASSERT_TRUE(r.error);
  EXPECT_FALSE(r.program);
  EXPECT_EQ(r.error->line, 0);
  EXPECT_EQ(r.error->str(), "/nonexistent/dir/model.dsl: error: cannot "
                            "read: No such file or directory");
}

TEST(ParseFile, Directory) {
  ParseResult r = parseFile(CNNC_SOURCE_DIR "/models");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->str(),
            CNNC_SOURCE_DIR "/models: error: cannot read: Is a directory");
}

TEST(ParseFile, ErrorsNameThePathAsGiven) {
  std::filesystem::path path =
      std::filesystem::path(CNNC_BINARY_DIR) / "frontend_parse_file_test.dsl";
  {
    std::ofstream out(path);
    out << "model m {\n  input shape=(28, 28, 1)\n  dense units=0\n}\n";
  }
  ParseResult r = parseFile(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->str(), path.string() +
                                ":3:15: error: units must be at least 1, got "
                                "0\n    dense units=0\n"
                                "                ^");
}

} // namespace
} // namespace cnnc::frontend
