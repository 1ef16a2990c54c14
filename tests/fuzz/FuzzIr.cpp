// libFuzzer harness for the tensor IR text, as cnnc-opt reads it: parse
// (which verifies), then every registered pass on its own, then the
// pipeline that an optional first line "// passes: P1,P2{k=v},..." names
// (parsed like cnnc-opt's --pass-pipeline).
//
// Defects: a parse error that is not one "fuzz.cnnir:LINE:COL: error: ..."
// line pointing into the text, a parsed graph that fails the verifier or
// does not print back to the same text, a pass error that does not name the
// pass, and a pass output that fails the verifier or does not round-trip.
#include "FuzzCheck.h"

#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

using namespace cnnc;

namespace {

const char *const kFile = "fuzz.cnnir";
constexpr std::string_view kPassesPrefix = "// passes: ";

// Reads a positive decimal at `s`, advancing past it; 0 if none.
long readNumber(std::string_view &s) {
  long v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || v < 1)
    return 0;
  s.remove_prefix(static_cast<size_t>(r.ptr - s.data()));
  return v;
}

void checkParseError(const absl::Status &status, std::string_view text) {
  std::string all(status.message());
  std::string_view m = all;
  CNNC_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, all);
  CNNC_FUZZ_CHECK(fuzz::isOneLine(m), all);
  std::string prefix = std::string(kFile) + ":";
  CNNC_FUZZ_CHECK(m.substr(0, prefix.size()) == prefix, all);
  m.remove_prefix(prefix.size());
  long line = readNumber(m);
  CNNC_FUZZ_CHECK(line >= 1 && !m.empty() && m[0] == ':', all);
  m.remove_prefix(1);
  long col = readNumber(m);
  CNNC_FUZZ_CHECK(col >= 1, all);
  CNNC_FUZZ_CHECK(m.substr(0, 9) == ": error: " && m.size() > 9, all);
  long lines = static_cast<long>(std::count(text.begin(), text.end(), '\n'));
  CNNC_FUZZ_CHECK(line <= lines + 1, all);
}

// A graph that verifies prints to text that parses back to the same text.
void checkRoundTrip(const ir::Graph &g, const std::string &after) {
  absl::Status s = ir::verifyGraph(g);
  CNNC_FUZZ_CHECK(s.ok(), after + ": " + std::string(s.message()) + "\n" +
                              ir::printGraph(g));
  std::string text = ir::printGraph(g);
  absl::StatusOr<ir::Graph> again = ir::parseGraph(text, "printed.cnnir");
  CNNC_FUZZ_CHECK(again.ok(),
                  after + ": " + again.status().ToString() + "\n" + text);
  CNNC_FUZZ_CHECK(ir::printGraph(*again) == text, after + "\n" + text);
}

void runChecked(const ir::Graph &input,
                const std::vector<passes::PassInvocation> &pipeline) {
  ir::Graph g = input;
  passes::PassContext context;
  passes::PassInstrumentation options;
  options.afterPass = [](const passes::PassInvocation &inv,
                         const ir::Graph &out) {
    checkRoundTrip(out, "after pass '" + inv.str() + "'");
  };
  absl::Status s = passes::runPipeline(g, pipeline, options, context);
  if (!s.ok())
    CNNC_FUZZ_CHECK(std::string(s.message()).rfind("pass '", 0) == 0,
                    s.ToString());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  absl::StatusOr<ir::Graph> g = ir::parseGraph(text, kFile);
  if (!g.ok()) {
    checkParseError(g.status(), text);
    return 0;
  }
  checkRoundTrip(*g, "parse");

  for (const passes::PassInfo &p : passes::allPasses()) {
    std::string_view options = p.name == "rebatch" ? "batch=3" : "";
    absl::StatusOr<passes::PassInvocation> inv =
        passes::parsePassInvocation(p.name, options);
    CNNC_FUZZ_CHECK(inv.ok(), inv.status().ToString());
    runChecked(*g, {*inv});
  }

  if (text.substr(0, kPassesPrefix.size()) == kPassesPrefix) {
    std::string_view spec = text.substr(kPassesPrefix.size());
    spec = spec.substr(0, spec.find('\n'));
    absl::StatusOr<std::vector<passes::PassInvocation>> pipeline =
        passes::parsePassPipeline(spec);
    if (pipeline.ok())
      runChecked(*g, *pipeline);
    else
      CNNC_FUZZ_CHECK(fuzz::isOneLine(std::string(pipeline.status().message())),
                      pipeline.status().ToString());
  }
  return 0;
}
