// Truncated, mutated and random inputs must only ever produce a diagnostic or
// a program; never a crash, a hang, or both results at once.
#include "frontend/Frontend.h"
#include "ir/Verifier.h"

#include <fstream>
#include <gtest/gtest.h>
#include <random>
#include <sstream>

namespace cnnc::frontend {
namespace {

std::string readTutorial() {
  std::ifstream in(CNNC_SOURCE_DIR "/models/mnist.dsl");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Checks one input end to end; returns true when it lowered to a graph.
bool checkInput(const std::string &source) {
  ParseResult r = parseProgram(source, "fuzz.dsl");
  EXPECT_NE(r.program.has_value(), r.error.has_value()) << source;
  if (r.error) {
    const Diagnostic &d = *r.error;
    EXPECT_EQ(d.file, "fuzz.dsl");
    EXPECT_GE(d.line, 1) << source;
    EXPECT_GE(d.col, 1) << source;
    EXPECT_FALSE(d.message.empty());
    EXPECT_EQ(d.sourceLine, sourceLineAt(source, d.line));
    std::string text = d.str();
    EXPECT_EQ(text.rfind("fuzz.dsl:", 0), 0u);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'),
              2 + std::count(d.sourceLine.begin(), d.sourceLine.end(), '\n'));
    return false;
  }
  if (!r.program)
    return false;
  LowerResult l = lowerModel(*r.program, trainingSpec(*r.program));
  EXPECT_NE(l.model.has_value(), l.error.has_value()) << source;
  if (l.error) {
    EXPECT_GE(l.error->line, 1) << source;
    EXPECT_FALSE(l.error->str().empty());
    return false;
  }
  if (!l.model)
    return false;
  absl::Status s = ir::verifyGraph(l.model->forward);
  EXPECT_TRUE(s.ok()) << std::string(s.message()) << "\n" << source;
  EXPECT_FALSE(formatSummary(*l.model).empty());
  return true;
}

TEST(Fuzz, EveryPrefixOfTheTutorial) {
  std::string src = readTutorial();
  ASSERT_FALSE(src.empty());
  int lowered = 0;
  for (size_t n = 0; n <= src.size(); ++n)
    lowered += checkInput(src.substr(0, n));
  // The model is complete once its closing brace is in; compile and fit are
  // optional, so several later prefixes lower as well.
  EXPECT_GT(lowered, 0);
  EXPECT_TRUE(checkInput(src));
}

TEST(Fuzz, RandomMutationsOfTheTutorial) {
  const std::string src = readTutorial();
  const std::vector<std::string> words = {
      "conv2d",  "dense",   "flatten", "input",  "model",  "compile", "fit",
      "(",       ")",       "[",       "]",      "{",      "}",       "=",
      ",",       "\n",      "\"",      "#",      "-",      "0",       "1",
      "-1",      "1e9",     "0.5",     "3.",     "999999", "softmax", "relu",
      "same",    "strides", "name=",   "idx(\"", "sgd(",   "\t",      "\r",
      "units=1", "@",       "\\",      "\x01",   "é"};
  std::mt19937 rng(12345);
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  int lowered = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string s = src;
    int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t at = pick(s.size() + 1);
      switch (pick(6)) {
      case 0: // delete a short range
        s.erase(at, 1 + pick(8));
        break;
      case 1: // insert a vocabulary word
        s.insert(at, words[pick(words.size())]);
        break;
      case 2: // insert a random byte
        s.insert(at, 1, static_cast<char>(pick(256)));
        break;
      case 3: // duplicate a range
        if (at < s.size())
          s.insert(at, s.substr(at, 1 + pick(40)));
        break;
      case 4: // replace a digit
        for (size_t i = at; i < s.size(); ++i)
          if (std::isdigit(static_cast<unsigned char>(s[i]))) {
            s[i] = static_cast<char>('0' + pick(10));
            break;
          }
        break;
      default: // truncate
        s.resize(at);
        break;
      }
    }
    lowered += checkInput(s);
  }
  // Mutations keep the text close to the original, so some still lower;
  // this guards against a harness that silently tests nothing.
  EXPECT_GT(lowered, 50);
}

TEST(Fuzz, RandomTokenSoup) {
  const std::vector<std::string> tokens = {
      "model",     "m",          "{",        "}",
      "\n",        "input",      "shape",    "=",
      "(",         ")",          "28",       ",",
      "conv2d",    "filters",    "8",        "kernel_size",
      "3",         "dense",      "units",    "flatten",
      "softmax",   "activation", "compile",  "fit",
      "[",         "]",          "accuracy", "metrics",
      "optimizer", "adam",       "epochs",   "-2",
      "0.5",       "\"s\"",      " ",        "max_pooling2d",
      "padding",   "same",       "dropout",  "rate"};
  std::mt19937 rng(777);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    size_t n = std::uniform_int_distribution<size_t>(0, 60)(rng);
    for (size_t i = 0; i < n; ++i) {
      s += tokens[std::uniform_int_distribution<size_t>(0, tokens.size() -
                                                               1)(rng)];
      s += ' ';
    }
    checkInput(s);
  }
}

TEST(Fuzz, PathologicalInputs) {
  checkInput(std::string(100000, '('));
  checkInput("fit seed=" + std::string(100000, '['));
  checkInput(std::string(50000, '\n'));
  checkInput(std::string("model m {\n  input shape=(28, 28, 1)\n") +
             std::string(10000, '#'));
  checkInput(std::string("\0\0\0", 3));
  std::string many = "model m {\n  input shape=(28, 28, 1)\n";
  for (int i = 0; i < 2000; ++i)
    many += "  dropout rate=0.1\n";
  many += "  flatten\n  dense units=10 activation=softmax\n}\n";
  EXPECT_TRUE(checkInput(many));
}

} // namespace
} // namespace cnnc::frontend
