// Random mutations of printed IR must only ever give a one-line
// "file:line:col: error:" or a graph that verifies and round-trips; every
// registered pass then runs on that graph without crashing (cnnc-opt feeds
// passes whatever IR users write).
#include "IrTestUtil.h"

#include "frontend/Frontend.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"
#include "passes/Pipelines.h"

#include <random>
#include <regex>

namespace cnnc::ir {
namespace {

// The mutations land by byte offset: locations must not depend on where the
// tree is checked out, or each clone would fuzz different inputs.
std::string relativePaths(std::string text) {
  const std::string dir = CNNC_SOURCE_DIR "/";
  for (size_t at; (at = text.find(dir)) != std::string::npos;)
    text.erase(at, dir.size());
  return text;
}

std::string trainingText(const std::string &model) {
  frontend::ParseResult p = frontend::parseFile(model);
  if (p.error)
    return "";
  TrainingSpec spec = frontend::trainingSpec(*p.program);
  spec.fit.batchSize = 2; // small types keep passes cheap
  frontend::LowerResult l = frontend::lowerModel(*p.program, spec);
  if (l.error)
    return "";
  auto train = passes::runTrainingPipeline(l.model->forward, spec, {});
  return train.ok() ? relativePaths(printGraph(*train)) : "";
}

std::string forwardText(const std::string &model) {
  frontend::ParseResult p = frontend::parseFile(model);
  if (p.error)
    return "";
  TrainingSpec spec = frontend::trainingSpec(*p.program);
  spec.fit.batchSize = 2;
  frontend::LowerResult l = frontend::lowerModel(*p.program, spec);
  return l.error ? "" : relativePaths(printGraph(l.model->forward));
}

// One random edit: a byte changed to one the IR cares about, a byte or a
// line deleted, duplicated or swapped, a token-sized chunk moved.
std::string mutate(std::string s, std::mt19937 &rng) {
  static const std::string kAlphabet =
      "%@{}()[]=,:\"\\-+.e0123456789 \nabcxyz_f32i32\t/";
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  if (s.empty())
    return std::string(1, kAlphabet[pick(kAlphabet.size())]);
  size_t edits = 1 + pick(3);
  for (size_t e = 0; e < edits && !s.empty(); ++e) {
    size_t at = pick(s.size());
    switch (pick(7)) {
    case 0:
      s[at] = kAlphabet[pick(kAlphabet.size())];
      break;
    case 1:
      s.erase(at, 1 + pick(4));
      break;
    case 2:
      s.insert(at, 1, kAlphabet[pick(kAlphabet.size())]);
      break;
    case 3: { // duplicate a line
      size_t begin = s.rfind('\n', at);
      begin = begin == std::string::npos ? 0 : begin + 1;
      size_t end = s.find('\n', at);
      end = end == std::string::npos ? s.size() : end + 1;
      s.insert(begin, s.substr(begin, end - begin));
      break;
    }
    case 4: { // delete a line
      size_t begin = s.rfind('\n', at);
      begin = begin == std::string::npos ? 0 : begin + 1;
      size_t end = s.find('\n', at);
      end = end == std::string::npos ? s.size() : end + 1;
      s.erase(begin, end - begin);
      break;
    }
    case 5: // truncate
      s.resize(at);
      break;
    default: { // move a chunk
      size_t len = std::min<size_t>(1 + pick(12), s.size() - at);
      std::string chunk = s.substr(at, len);
      s.erase(at, len);
      s.insert(pick(s.size() + 1), chunk);
      break;
    }
    }
  }
  return s;
}

// Returns true when the input parsed (and then round-tripped).
bool checkInput(const std::string &text) {
  static const std::regex kError(
      R"(fuzz\.cnnir:([0-9]+):([0-9]+): error: [^\n]+)");
  absl::StatusOr<Graph> g = parseGraph(text, "fuzz.cnnir");
  if (!g.ok()) {
    std::string message(g.status().message());
    std::smatch m;
    EXPECT_TRUE(std::regex_match(message, m, kError)) << message;
    if (m.size() == 3) {
      int line = std::stoi(m[1]);
      int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
      EXPECT_GE(line, 1);
      EXPECT_LE(line, lines + 1) << message;
      EXPECT_GE(std::stoi(m[2]), 1);
    }
    return false;
  }
  EXPECT_TRUE(verifyGraph(*g).ok());
  testing::expectRoundTrip(*g);
  for (const passes::PassInfo &p : passes::allPasses()) {
    if (p.name == "rebatch")
      continue; // needs an option; run below
    Graph copy = *g;
    absl::Status s = passes::runPasses(copy, {p.name}, true);
    // Either outcome is fine; a failure must say which pass.
    if (!s.ok()) {
      EXPECT_NE(s.message().find(p.name), absl::string_view::npos) << s;
    }
  }
  Graph copy = *g;
  (void)passes::runPasses(copy, {"rebatch{batch=3}"}, true);
  return true;
}

void fuzz(const std::string &seedText, uint32_t seed, int iterations,
          int minParsed) {
  ASSERT_FALSE(seedText.empty());
  ASSERT_TRUE(checkInput(seedText));
  std::mt19937 rng(seed);
  int parsed = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string input = mutate(seedText, rng);
    SCOPED_TRACE(input);
    parsed += checkInput(input);
    if (::testing::Test::HasFailure())
      return;
  }
  // Some mutations (in attributes, names, comments) keep the IR valid; the
  // passes above must have seen those too.
  EXPECT_GE(parsed, minParsed);
}

TEST(ParserFuzz, MutatedTrainingGraph) {
  fuzz(trainingText(CNNC_SOURCE_DIR "/models/mnist_small.dsl"), 1, 5000, 150);
}

TEST(ParserFuzz, MutatedForwardGraphs) {
  fuzz(forwardText(CNNC_SOURCE_DIR "/models/mnist.dsl"), 2, 3000, 60);
  fuzz(forwardText(CNNC_SOURCE_DIR "/models/mnist_same.dsl"), 3, 3000, 60);
}

TEST(ParserFuzz, RandomBytes) {
  std::mt19937 rng(4);
  for (int i = 0; i < 2000; ++i) {
    std::string s(std::uniform_int_distribution<size_t>(0, 64)(rng), ' ');
    for (char &c : s)
      c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    if (i % 2)
      s.insert(0, "graph @g {\n");
    SCOPED_TRACE(s);
    EXPECT_FALSE(checkInput(s));
  }
}

} // namespace
} // namespace cnnc::ir
