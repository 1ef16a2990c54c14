// libFuzzer harness for the DSL: parse, bind, lower, then every compile
// pipeline (autodiff, eval, predict; dce; fusion) and memory planning, as
// runtime::Model does before it compiles kernels. Nothing here JIT-compiles.
//
// Defects: a parse result with both or neither of program and diagnostic, a
// diagnostic that is not a located one-liner with its source line, a
// lowered forward graph that fails the verifier or does not round-trip
// through the IR text, a pass whose output fails the verifier, and a memory
// plan that planMemory accepts but verifyMemoryPlan rejects.
#include "FuzzCheck.h"

#include "frontend/Frontend.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/MemoryPlan.h"
#include "passes/Pipelines.h"
#include "passes/Rebatch.h"

#include <algorithm>
#include <cstdint>
#include <string>

using namespace cnnc;

namespace {

const char *const kFile = "fuzz.dsl";

void checkDiagnostic(const frontend::Diagnostic &d, std::string_view source,
                     bool located) {
  CNNC_FUZZ_CHECK(d.file == kFile, d.str());
  CNNC_FUZZ_CHECK(fuzz::isOneLine(d.message), d.str());
  if (located) {
    CNNC_FUZZ_CHECK(d.line >= 1 && d.col >= 1, d.str());
    CNNC_FUZZ_CHECK(d.sourceLine == frontend::sourceLineAt(source, d.line),
                    d.str());
  }
  std::string text = d.str();
  CNNC_FUZZ_CHECK(text.rfind(std::string(kFile) + ":", 0) == 0, text);
  if (d.line >= 1)
    CNNC_FUZZ_CHECK(
        std::count(text.begin(), text.end(), '\n') ==
            2 + std::count(d.sourceLine.begin(), d.sourceLine.end(), '\n'),
        text);
}

// A pass's output must verify; a failing pass is a fine outcome.
passes::PipelineOptions verifyingOptions() {
  passes::PipelineOptions o;
  o.afterPass = [](const passes::PassInvocation &inv, const ir::Graph &g) {
    const std::string &pass = inv.pass->name;
    absl::Status s = ir::verifyGraph(g);
    CNNC_FUZZ_CHECK(s.ok(), "after pass '" + pass +
                                "': " + std::string(s.message()) + "\n" +
                                ir::printGraph(g));
  };
  return o;
}

void checkCompiled(const absl::StatusOr<ir::Graph> &g) {
  if (!g.ok()) {
    CNNC_FUZZ_CHECK(!g.status().message().empty(), g.status().ToString());
    return;
  }
  CNNC_FUZZ_CHECK(ir::verifyGraph(*g).ok(), ir::printGraph(*g));
  // The executor's plan: params and state live outside the arena.
  absl::StatusOr<passes::MemoryPlan> plan =
      passes::planMemory(*g, 64, /*paramsInArena=*/false);
  if (!plan.ok())
    return;
  absl::Status s = passes::verifyMemoryPlan(*g, *plan);
  CNNC_FUZZ_CHECK(s.ok(), std::string(s.message()) + "\n" + ir::printGraph(*g));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view source(reinterpret_cast<const char *>(data), size);
  frontend::ParseResult r = frontend::parseProgram(source, kFile);
  CNNC_FUZZ_CHECK(r.program.has_value() != r.error.has_value(), source);
  if (r.error) {
    checkDiagnostic(*r.error, source, /*located=*/true);
    return 0;
  }
  ir::TrainingSpec spec = frontend::trainingSpec(*r.program);
  frontend::LowerResult l = frontend::lowerModel(*r.program, spec);
  CNNC_FUZZ_CHECK(l.model.has_value() != l.error.has_value(), source);
  if (l.error) {
    checkDiagnostic(*l.error, source, /*located=*/false);
    return 0;
  }
  const ir::Graph &forward = l.model->forward;
  absl::Status verified = ir::verifyGraph(forward);
  CNNC_FUZZ_CHECK(verified.ok(), std::string(verified.message()));
  CNNC_FUZZ_CHECK(!frontend::formatSummary(*l.model).empty(), source);

  // What cnnc --print-ir shows must read back as the same graph.
  std::string text = ir::printGraph(forward);
  absl::StatusOr<ir::Graph> reparsed = ir::parseGraph(text, "forward.cnnir");
  CNNC_FUZZ_CHECK(reparsed.ok(), reparsed.status().ToString() + "\n" + text);
  CNNC_FUZZ_CHECK(ir::printGraph(*reparsed) == text, text);

  passes::PipelineOptions options = verifyingOptions();
  checkCompiled(passes::runTrainingPipeline(forward, spec, options));
  checkCompiled(passes::runEvalPipeline(forward, options));
  checkCompiled(passes::runPredictPipeline(forward, options));

  // The runtime re-specializes the forward graph to each batch size it
  // meets (the last, smaller batch of an epoch; evaluation batches).
  absl::StatusOr<ir::Graph> small = passes::rebatch(forward, 3);
  if (small.ok()) {
    absl::Status s = ir::verifyGraph(*small);
    CNNC_FUZZ_CHECK(s.ok(), std::string(s.message()) + "\n" + text);
  }
  return 0;
}
