// cnnc-opt: the tensor IR's mlir-opt. Reads textual IR (a file or stdin),
// verifies it, runs the passes named on the command line in order and
// prints the result: IR (with the notes passes report as `//` comments),
// or the LLVM IR or assembly of its kernels.
#include "codegen/Compiler.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/Pipeline.h"
#include "support/AtomicFile.h"
#include "support/TextFile.h"

#include "absl/status/status.h"
#include <fmt/format.h>

#include <cstdio>
#include <set>
#include <unistd.h>

using namespace cnnc;

namespace {

constexpr const char *kUsage = R"(usage: cnnc-opt [options] [FILE | -]

Reads tensor IR (docs/ir.md) from FILE or stdin, verifies it, runs the
passes in command-line order and prints the result.

options:
  -PASS[=OPTIONS]          run PASS (also --PASS); OPTIONS are 'key=value'
                           items separated by spaces, e.g.
                           -autodiff='optimizer=sgd learning_rate=0.1'
  --pass-pipeline=P        run a comma-separated pipeline, e.g.
                           'autodiff{optimizer=sgd},dce,memory-plan'
  --verify-each            verify the graph after every pass
  --print-after-all        print the graph to stderr after every pass
  --split-input-file       process each '// -----'-separated chunk on its own
  --emit=ir|llvm|asm       what to print (default ir: the graph)
  --target-cpu=CPU         with --emit=llvm or asm: code for another x86-64
                           CPU (znver5, sapphirerapids) than this host's
  -o FILE                  write the output to FILE (default stdout)
  --help                   print this help

Passes and --pass-pipeline may be repeated (they append to the pipeline);
any other option given twice is an error. FILE must be a regular file or a
pipe of at most 64 MiB; stdin is read up to the same limit.

Errors in the input are 'FILE:LINE:COL: error: MESSAGE'; any error makes the
exit status 1.
)";

struct Options {
  std::string input = "-";
  std::string output;
  std::vector<passes::PassInvocation> pipeline;
  bool verifyEach = false, printAfterAll = false, split = false, help = false;
  std::string emit = "ir";
  std::string targetCpu;
};

std::string passHelp() {
  std::string out = "\npasses:\n";
  for (const passes::PassInfo &p : passes::allPasses()) {
    out += fmt::format("  -{:<23} {}\n", p.name, p.description);
    for (const passes::PassOption &o : p.options) {
      std::string value;
      if (!o.choices.empty())
        for (const std::string &c : o.choices)
          value.append(value.empty() ? "" : "|").append(c);
      else
        value = o.kind == passes::PassOptionKind::Bool  ? "BOOL"
                : o.kind == passes::PassOptionKind::Int ? "INT"
                                                        : "NUMBER";
      std::string def;
      if (!o.defaultValue.empty())
        def = fmt::format(" (default {})", o.defaultValue);
      out += fmt::format("      {:<28} {}{}\n", o.name + "=" + value,
                         o.description, def);
    }
  }
  return out;
}

absl::StatusOr<Options> parseArgs(const std::vector<std::string> &args) {
  Options opt;
  bool haveInput = false;
  std::set<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a == "-" || a.empty() || a[0] != '-') {
      if (haveInput)
        return absl::InvalidArgumentError(fmt::format(
            "more than one input file: '{}' and '{}'", opt.input, a));
      opt.input = a;
      haveInput = true;
      continue;
    }
    std::string flag = a.substr(a[1] == '-' ? 2 : 1);
    std::string name = flag.substr(0, flag.find('='));
    bool hasValue = flag.find('=') != std::string::npos;
    std::string value = hasValue ? flag.substr(flag.find('=') + 1) : "";
    auto noValue = [&]() -> absl::Status {
      if (hasValue)
        return absl::InvalidArgumentError(
            fmt::format("{} takes no value", a.substr(0, a.find('='))));
      return absl::OkStatus();
    };
    // Passes and pipelines add to the pipeline; any other option given
    // twice is a mistake (which value was meant?), not a silent override.
    if (!passes::findPass(name) && name != "pass-pipeline") {
      std::string key = name == "h" ? "help" : name;
      if (!seen.insert(key).second)
        return absl::InvalidArgumentError(fmt::format(
            "{}{} given twice", name.size() == 1 ? "-" : "--", name));
    }
    if (name == "help" || name == "h") {
      opt.help = true;
    } else if (name == "verify-each" || name == "print-after-all" ||
               name == "split-input-file") {
      if (absl::Status s = noValue(); !s.ok())
        return s;
      if (name == "verify-each")
        opt.verifyEach = true;
      else if (name == "print-after-all")
        opt.printAfterAll = true;
      else
        opt.split = true;
    } else if (name == "o") {
      if (!hasValue) {
        if (i + 1 >= args.size())
          return absl::InvalidArgumentError("-o needs a file name");
        value = args[++i];
      }
      if (value.empty())
        return absl::InvalidArgumentError("-o needs a file name");
      opt.output = value;
    } else if (name == "emit") {
      if (value != "ir" && value != "llvm" && value != "asm")
        return absl::InvalidArgumentError(
            fmt::format("--emit expects ir, llvm or asm, got '{}'", value));
      opt.emit = value;
    } else if (name == "target-cpu") {
      if (value.empty())
        return absl::InvalidArgumentError(
            "--target-cpu needs a CPU name, e.g. --target-cpu=znver5");
      opt.targetCpu = value;
    } else if (name == "pass-pipeline") {
      auto p = passes::parsePassPipeline(value);
      if (!p.ok())
        return p.status();
      for (passes::PassInvocation &inv : *p)
        opt.pipeline.push_back(std::move(inv));
    } else if (passes::findPass(name)) {
      auto inv = passes::parsePassInvocation(name, value);
      if (!inv.ok())
        return inv.status();
      opt.pipeline.push_back(*std::move(inv));
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "unknown option '{}' (cnnc-opt --help lists options and passes)", a));
    }
  }
  if (!opt.help && !opt.targetCpu.empty() && opt.emit == "ir")
    return absl::InvalidArgumentError(
        "--target-cpu needs --emit=llvm or --emit=asm");
  return opt;
}

// The whole input, capped (support/TextFile.h); errors start with the file
// name.
absl::StatusOr<std::string> readInput(const std::string &path) {
  absl::StatusOr<std::string> text =
      path == "-" ? support::readTextFd(STDIN_FILENO, "an IR file")
                  : support::readTextFile(path, "an IR file");
  if (!text.ok())
    return absl::Status(text.status().code(),
                        fmt::format("{}: {}", path == "-" ? "<stdin>" : path,
                                    std::string(text.status().message())));
  return text;
}

// Through a temporary file and a rename, so FILE is never half-written.
absl::Status writeOutput(const std::string &path, const std::string &text) {
  return support::writeFileAtomically(path, text);
}

struct Chunk {
  std::string_view text;
  int firstLine;
};

// MLIR's --split-input-file: chunks separated by lines starting "// -----".
std::vector<Chunk> splitInput(std::string_view text, bool split) {
  if (!split)
    return {{text, 1}};
  std::vector<Chunk> chunks;
  size_t start = 0, pos = 0;
  int line = 1, startLine = 1;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    if (text.substr(pos, end - pos).rfind("// -----", 0) == 0) {
      chunks.push_back({text.substr(start, pos - start), startLine});
      start = end + 1;
      startLine = line + 1;
    }
    pos = end + 1;
    ++line;
  }
  chunks.push_back(
      {start <= text.size() ? text.substr(start) : std::string_view(),
       startLine});
  return chunks;
}

// Prints an error; for one at FILE:LINE:COL, also the line and a caret.
void report(const std::string &message, const std::string &file,
            std::string_view text) {
  fmt::print(stderr, "{}\n", message);
  int line = 0, col = 0;
  std::string prefix = file + ":";
  if (message.rfind(prefix, 0) != 0 ||
      std::sscanf(message.c_str() + prefix.size(), "%d:%d:", &line, &col) != 2)
    return;
  size_t pos = 0;
  for (int l = 1; l < line && pos != std::string_view::npos; ++l) {
    pos = text.find('\n', pos);
    if (pos != std::string_view::npos)
      ++pos;
  }
  if (pos == std::string_view::npos || pos > text.size())
    return;
  std::string_view src = text.substr(pos, text.find('\n', pos) - pos);
  if (!src.empty() && src.back() == '\r')
    src.remove_suffix(1);
  // Binary junk and huge lines are not worth quoting.
  if (src.size() > 400)
    return;
  for (char c : src)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') ||
        c == 0x7f)
      return;
  std::string caret;
  for (int c = 1; c < col && c <= static_cast<int>(src.size()); ++c)
    caret += src[c - 1] == '\t' ? '\t' : ' ';
  fmt::print(stderr, "{}\n{}^\n", src, caret);
}

// One chunk: parse, verify, run the pipeline, render. Errors are reported
// here; returns nullopt after one.
std::optional<std::string> process(const Options &opt, const Chunk &chunk,
                                   const std::string &file,
                                   std::string_view fullText) {
  ir::ParseOptions po;
  po.firstLine = chunk.firstLine;
  absl::StatusOr<ir::Graph> g = ir::parseGraph(chunk.text, file, po);
  if (!g.ok()) {
    report(std::string(g.status().message()), file, fullText);
    return std::nullopt;
  }
  passes::PassContext context;
  passes::PassInstrumentation ro;
  ro.verifyEach = opt.verifyEach;
  if (opt.printAfterAll)
    ro.afterPass = [](const passes::PassInvocation &inv, const ir::Graph &h) {
      fmt::print(stderr, "// -----// IR Dump After {} //----- //\n{}\n",
                 inv.str(), ir::printGraph(h));
    };
  if (absl::Status s = passes::runPipeline(*g, opt.pipeline, ro, context);
      !s.ok()) {
    fmt::print(stderr, "{}: error: {}\n", file, std::string(s.message()));
    return std::nullopt;
  }
  if (opt.emit == "ir") {
    std::string out = ir::printGraph(*g);
    for (const std::string &note : context.notes)
      out.append("// ").append(note).append("\n");
    return out;
  }
  codegen::CompileOptions co;
  co.keepLlvmIr = opt.emit == "llvm";
  co.keepAsm = opt.emit == "asm";
  co.targetCpu = opt.targetCpu;
  auto compiled = codegen::compileGraph(*g, co);
  if (!compiled.ok()) {
    fmt::print(stderr, "{}: error: {}\n", file,
               std::string(compiled.status().message()));
    return std::nullopt;
  }
  return co.keepLlvmIr ? (*compiled)->llvmIr() : (*compiled)->assembly();
}

int run(const Options &opt) {
  absl::StatusOr<std::string> text = readInput(opt.input);
  if (!text.ok()) {
    fmt::print(stderr, "cnnc-opt: error: {}\n",
               std::string(text.status().message()));
    return 1;
  }
  std::string file = opt.input == "-" ? "<stdin>" : opt.input;
  std::string output;
  bool failed = false;
  std::vector<Chunk> chunks = splitInput(*text, opt.split);
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::optional<std::string> out = process(opt, chunks[i], file, *text);
    if (!out) {
      failed = true;
      continue;
    }
    if (!output.empty())
      output += "// -----\n";
    output += *out;
  }
  if (opt.output.empty() || opt.output == "-") {
    fmt::print("{}", output);
  } else if (failed) {
    // An error leaves FILE as it was, not emptied or holding some chunks.
    return 1;
  } else if (absl::Status s = writeOutput(opt.output, output); !s.ok()) {
    fmt::print(stderr, "cnnc-opt: error: {}\n", std::string(s.message()));
    return 1;
  }
  return failed ? 1 : 0;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<Options> opt = parseArgs(args);
  if (!opt.ok()) {
    fmt::print(stderr, "cnnc-opt: error: {}\n",
               std::string(opt.status().message()));
    return 1;
  }
  if (opt->help) {
    fmt::print("{}{}", kUsage, passHelp());
    return 0;
  }
  return run(*opt);
}
