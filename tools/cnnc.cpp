// The cnnc command: compile a model described in the DSL, then train,
// evaluate or print its IR. A client of the public API (cnnc/cnnc.h); --tune
// (tools/Tune.cpp) runs searches through cnnc::Search.
#include "cnnc/cnnc.h"
#include "tools/CommandLine.h"
#include "tools/Errors.h"
#include "tools/StopSignal.h"
#include "tools/Tune.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace cnnc;

using tools::catchStopSignals;
using tools::defaultStopSignals;
using tools::fail;
using tools::gStop;
using tools::gStopSignal;

namespace {

// The header's words for how mixed_bfloat16 multiplies on this machine.
const char *bfloat16KernelsLine() {
  switch (bfloat16Kernels()) {
  case Bfloat16Kernels::PairsNative:
    return "the contractions multiply bfloat16 pairs (vdpbf16ps)";
  case Bfloat16Kernels::PairsEmulated:
    return "the contractions multiply bfloat16 pairs with two float32 FMAs "
           "(CNNC_BF16_PAIRS=1; this CPU has no AVX512_BF16)";
  case Bfloat16Kernels::RoundedOperands:
    break;
  }
  return "float32 FMAs on bfloat16-rounded operands (no AVX512_BF16 "
         "kernels here), so not faster";
}

// False on the ranks other than 0 of a data-parallel run: they train alike
// but leave the files to rank 0.
bool gWritesFiles = true;

// What loading by name did, a line per kind, as Keras users read it.
void printWeightsByName(const std::string &path, const WeightsByName &r) {
  auto list = [](const std::vector<std::string> &names) {
    return names.empty() ? std::string("none")
                         : fmt::format("{}", fmt::join(names, ", "));
  };
  fmt::print("Weights by name from {}: {} loaded, {} skipped, {} new\n", path,
             r.loaded.size(), r.skipped.size(), r.fresh.size());
  fmt::print("  loaded: {}\n", list(r.loaded));
  if (!r.skipped.empty())
    fmt::print("  skipped (shape differs): {}\n", list(r.skipped));
  if (!r.fresh.empty())
    fmt::print("  new (not in the file): {}\n", list(r.fresh));
  if (!r.unused.empty())
    fmt::print("  in the file, not in the model: {}\n", list(r.unused));
}

// `path` with its symbolic links followed, as the library's atomic writes
// follow them (a dangling link gives its missing target).
fs::path followLinks(const fs::path &path) {
  fs::path p = path;
  std::error_code ec;
  // Linux's limit; a longer chain fails when written.
  for (int hops = 0; hops < 40 && fs::is_symlink(p, ec); ++hops) {
    fs::path target = fs::read_symlink(p, ec);
    if (ec)
      break;
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  return p;
}

std::string kindOf(fs::file_type type) {
  switch (type) {
  case fs::file_type::directory:
    return "a directory";
  case fs::file_type::character:
    return "a character device";
  case fs::file_type::block:
    return "a block device";
  case fs::file_type::fifo:
    return "a FIFO";
  case fs::file_type::socket:
    return "a socket";
  default:
    return "not a regular file";
  }
}

// One output file of a training run.
struct Output {
  std::string path;
  const char *flag;
};

// Checks before hours of training that every output file can be written:
// each is a regular file or a new name (never a directory or device, which
// the write would refuse only at the end), in an existing writable
// directory, and no two outputs (nor an output and the model) are one file.
Status checkOutputs(const std::vector<Output> &outputs,
                    const std::string &modelPath) {
  std::vector<std::pair<fs::path, const Output *>> seen;
  std::error_code ec;
  for (const Output &o : outputs) {
    fs::path target = followLinks(o.path);
    fs::file_status st = fs::status(target, ec);
    // A link loop or an unreadable directory on the way.
    if (ec && ec != std::errc::no_such_file_or_directory)
      return Status(
          fmt::format("{} {}: cannot write: {}", o.flag, o.path, ec.message()));
    if (fs::exists(st) && !fs::is_regular_file(st)) {
      std::string what = target == o.path
                             ? "is " + kindOf(st.type())
                             : fmt::format("links to {}, {}", target.string(),
                                           kindOf(st.type()));
      return Status(fmt::format("{} {}: {}; only a regular file can be written",
                                o.flag, o.path, what));
    }
    fs::path dir = target.parent_path();
    if (dir.empty())
      dir = ".";
    if (!fs::is_directory(dir, ec))
      return Status(fmt::format("{} {}: directory '{}' does not exist", o.flag,
                                o.path, dir.string()));
    if (access(dir.c_str(), W_OK) != 0)
      return Status(fmt::format("{} {}: directory '{}' is not writable", o.flag,
                                o.path, dir.string()));
    fs::path canonical = fs::weakly_canonical(target, ec);
    if (ec)
      canonical = fs::absolute(target, ec);
    for (const auto &[other, prev] : seen)
      if (other == canonical ||
          (fs::exists(other, ec) && fs::exists(canonical, ec) &&
           fs::equivalent(other, canonical, ec)))
        return Status(fmt::format("{} {} and {} {} are the same file; give "
                                  "them different names",
                                  prev->flag, prev->path, o.flag, o.path));
    if (fs::exists(canonical, ec) && fs::equivalent(canonical, modelPath, ec))
      return Status(fmt::format("{} {}: is the model file; give the output "
                                "another name",
                                o.flag, o.path));
    seen.emplace_back(canonical, &o);
  }
  return Status();
}

std::string defaultWeightsPath(const std::string &modelPath) {
  return fs::path(modelPath).replace_extension(".safetensors").string();
}

Stage stageOf(const std::string &emit) {
  if (emit == "ir")
    return Stage::Forward;
  if (emit == "train-ir")
    return Stage::Training;
  if (emit == "fused-ir")
    return Stage::Fused;
  return emit == "llvm" ? Stage::Llvm : Stage::Asm;
}

// --print-after-all, --print-after=PASS and --verify-each, MLIR-style.
Status instrument(Model &model, const tools::Options &opt) {
  if (!opt.printAfterAll && opt.printAfter.empty() && !opt.verifyEach)
    return Status();
  Instrumentation in;
  in.verifyEach = opt.verifyEach;
  in.printAfterAll = opt.printAfterAll;
  in.printAfter = opt.printAfter;
  in.print = [](const std::string &pass, const std::string &ir) {
    fmt::print("// -----// IR after {} //----- //\n{}\n", pass, ir);
  };
  Status s = model.setInstrumentation(std::move(in));
  if (s.ok())
    return s;
  std::string message = "--print-after: ";
  message.append(s.message());
  return Status(message);
}

// Writes the --history and --plot files that were asked for.
Status writeHistoryFiles(const tools::Options &opt, const Model &model,
                         const std::vector<EpochMetrics> &history) {
  if (!gWritesFiles)
    return Status();
  if (!opt.historyPath.empty())
    if (Status s = writeHistoryCsv(opt.historyPath, history); !s.ok())
      return s;
  if (!opt.plotPath.empty())
    if (Status s = writeHistorySvg(
            opt.plotPath, history,
            fmt::format("{}: training and validation", model.name()));
        !s.ok())
      return s;
  return Status();
}

// " and history to H and plot to P" (`labelled`) or " and H and P": the
// history files asked for.
std::string historyFilesText(const tools::Options &opt, bool labelled) {
  std::string text;
  if (!opt.historyPath.empty())
    text += fmt::format(" and {}{}", labelled ? "history to " : "",
                        opt.historyPath);
  if (!opt.plotPath.empty())
    text += fmt::format(" and {}{}", labelled ? "plot to " : "", opt.plotPath);
  return text;
}

// --predict: the top classes of each image, and the CSV if asked for.
int predict(const tools::Options &opt, Model &model) {
  auto preds = model.predictImages(opt.predictPaths);
  if (!preds.ok())
    return fail(preds.status());
  int64_t k = opt.topK.value_or(1);
  for (size_t i = 0; i < preds->files.size(); ++i) {
    std::string line = preds->files[i] + ":";
    std::vector<ClassScore> top = preds->top(i, k);
    for (size_t r = 0; r < top.size(); ++r)
      line += fmt::format("{} {} ({:.4f})", r ? "," : "", top[r].name,
                          top[r].probability);
    fmt::print("{}\n", line);
  }
  if (!opt.outputPath.empty()) {
    if (Status s = writePredictionsCsv(opt.outputPath, *preds, k); !s.ok())
      return fail(s);
    fmt::print(stderr, "Predictions written to {}\n", opt.outputPath);
  }
  return 0;
}

int run(const tools::Options &opt) {
  std::string savePath =
      opt.savePath.empty() ? defaultWeightsPath(opt.modelPath) : opt.savePath;
  // Before any compile work: a bad output path found after training would
  // lose the whole run.
  if (opt.train) {
    std::vector<Output> outputs = {{savePath, "--save"}};
    if (!opt.historyPath.empty())
      outputs.push_back({opt.historyPath, "--history"});
    if (!opt.plotPath.empty())
      outputs.push_back({opt.plotPath, "--plot"});

    if (Status s = checkOutputs(outputs, opt.modelPath); !s.ok())
      return fail(s);
  }
  if (opt.predict && !opt.outputPath.empty())
    if (Status s = checkOutputs({{opt.outputPath, "--output"}}, opt.modelPath);
        !s.ok())
      return fail(s);

  CompileOptions co;
  co.epochs = opt.epochs;
  co.batchSize = opt.batchSize;
  co.learningRate = opt.learningRate;
  co.dtypePolicy = opt.dtypePolicy;
  co.seed = opt.seed;
  if (opt.noShuffle)
    co.shuffle = false;
  co.threads = static_cast<int>(opt.threads.value_or(0));
  auto compiled = Model::fromFile(opt.modelPath, co);
  if (!compiled.ok()) {
    // A search file run without --tune: the binder meets choice(...) where
    // a value goes; say what the file is. Only a regular file is read
    // again (a pipe's writer may be gone).
    const std::optional<Diagnostic> &d = compiled.status().diagnostic();
    std::error_code ec;
    auto search = d && d->line > 0 && fs::is_regular_file(opt.modelPath, ec)
                      ? Search::fromFile(opt.modelPath)
                      : Result<Search>(Status("not a search"));
    if (search.ok() && !search->spaceNames().empty()) {
      Diagnostic hinted = *d;
      hinted.message += "; the file has search spaces: run it with --tune";
      fmt::print(stderr, "{}\n", hinted.str());
      return 1;
    }
    return fail(compiled.status());
  }
  Model &model = *compiled;
  // The files the fit statement's callbacks write, checked as the flags'
  // are (a per-epoch name like "w-{epoch}.safetensors" is checked when
  // written).
  if (opt.train) {
    std::vector<Output> outputs = {{savePath, "--save"}};
    for (const std::string &path : model.config().callbackFiles)
      if (path.find('{') == std::string::npos)
        outputs.push_back({path, "callbacks"});
    if (outputs.size() > 1)
      if (Status s = checkOutputs(outputs, opt.modelPath); !s.ok())
        return fail(s);
    // The backup directory is created by the first backup.
    const std::string &backup = model.config().backupDirectory;
    struct stat st;
    if (!backup.empty() && ::stat(backup.c_str(), &st) == 0 &&
        !S_ISDIR(st.st_mode))
      return fail(fmt::format("{}: backup_and_restore needs a directory, and "
                              "this is not one",
                              backup));
  }
  if (Status s = instrument(model, opt); !s.ok())
    return fail(s);

  if (!opt.emit.empty()) {
    auto text = model.irText(stageOf(opt.emit), opt.targetCpu);
    if (!text.ok())
      return fail(text.status());
    fmt::print("{}", *text);
    return 0;
  }
  if (!opt.train && !opt.evaluate && !opt.predict) {
    fmt::print("{}", model.summary());
    return 0;
  }

  std::string loadPath = opt.loadPath;
  if ((opt.evaluate || opt.predict) && loadPath.empty()) {
    loadPath = defaultWeightsPath(opt.modelPath);
    if (!fs::exists(loadPath))
      return fail(fmt::format("{} needs trained weights: pass --load "
                              "FILE (there is no {})",
                              opt.evaluate ? "--evaluate" : "--predict",
                              loadPath));
  }
  if (opt.predict) {
    if (Status s = model.loadWeights(loadPath); !s.ok())
      return fail(s);
    return predict(opt, model);
  }

  // The data the run ends evaluating on: the IDX test split, or the image
  // folder's validation data when the fit statement gives one.
  TrainingConfig config = model.config();
  bool folder = config.dataset == "image_folder";
  std::optional<Dataset> test;
  if (!folder || config.validation || opt.evaluate) {
    auto loaded = model.dataset("t10k", opt.dataDir);
    if (!loaded.ok())
      return fail(loaded.status());
    test = *std::move(loaded);
  }
  if (!loadPath.empty())
    if (Status s = model.loadWeights(loadPath); !s.ok())
      return fail(s);
  // --load-by-name, else the fit statement's initial_weights (for --train;
  // the command line checked that).
  std::string byName = !opt.loadByNamePath.empty()     ? opt.loadByNamePath
                       : loadPath.empty() && opt.train ? config.initialWeights
                                                       : "";
  if (!byName.empty()) {
    bool skip = !opt.loadByNamePath.empty() || config.skipMismatch;
    auto r = model.loadWeightsByName(byName, skip);
    if (!r.ok())
      return fail(r.status());
    printWeightsByName(byName, *r);
  }

  if (opt.train) {
    auto train = model.dataset("train", opt.dataDir);
    if (!train.ok())
      return fail(train.status());
    fmt::print("{}", train->loadLog());
    if (test && config.validation && folder)
      fmt::print("{}", test->loadLog());
    fmt::print("{}", model.summary());
    int64_t count = train->size();
    if (opt.limit)
      count = std::min(count, *opt.limit);
    int64_t batch = std::min(config.batchSize, count);
    fmt::print("Training on {} images, batch {}, {} threads, {} epochs\n",
               count, batch, model.threads(), config.epochs);
    if (config.dtypePolicy != "float32")
      fmt::print("Dtype policy {}: convolutions and matmuls take bfloat16 "
                 "operands and sum in float32; {}\n",
                 config.dtypePolicy, bfloat16KernelsLine());
    std::fflush(stdout);
    FitOptions fo;
    fo.limit = opt.limit.value_or(0);
    fo.progress = stdout;
    FitReport report;
    fo.report = &report;
    fo.stop = &gStop;
    model.setProfiling(opt.profile);
    catchStopSignals();
    auto history =
        model.fit(*train, config.validation && test ? &*test : nullptr, fo);
    if (!history.ok()) {
      defaultStopSignals();
      // The weights of a failed run (a diverged loss) are worth nothing, but
      // the epochs that finished are: keep their history.
      if (report.step == 0)
        return fail(history.status());
      Status s = writeHistoryFiles(opt, model, report.history);
      if (!s.ok())
        return fail(
            fmt::format("{}; and {}", history.status().message(), s.message()));
      if (opt.historyPath.empty() && opt.plotPath.empty())
        return fail(history.status());
      return fail(fmt::format("{}; the history of the {} completed epoch{} "
                              "is in {}",
                              history.status().message(), report.history.size(),
                              report.history.size() == 1 ? "" : "s",
                              historyFilesText(opt, false).substr(5)));
    }
    Status saved = gWritesFiles ? model.saveWeights(savePath) : Status();
    if (saved.ok())
      saved = writeHistoryFiles(opt, model, *history);
    // Signals during the rest (evaluation) act as usual.
    defaultStopSignals();
    if (!saved.ok())
      return fail(saved);
    if (gStopSignal != 0) {
      // A live progress line on a terminal has no newline yet.
      if (isatty(fileno(stdout)))
        fmt::print("\n");
      std::fflush(stdout);
      fmt::print(stderr,
                 "cnnc: interrupted at epoch {}, step {}; saved "
                 "weights to {}{}\n",
                 report.epoch, report.step, savePath,
                 historyFilesText(opt, true));
      return 128 + gStopSignal;
    }
    if (opt.profile)
      fmt::print("\n{}", model.profileTable());
  }
  if (test) {
    auto result = model.evaluate(*test);
    if (!result.ok())
      return fail(result.status());
    const char *what = folder ? "Validation" : "Test";
    // NaN prints as "nan" whatever its sign bit, as Keras prints it.
    auto shown = [](double v) { return std::isnan(v) ? std::fabs(v) : v; };
    fmt::print("{0} loss: {1:.4f}\n{0} accuracy: {2:.4f}\n", what,
               shown(result->loss), result->accuracy);
  }
  if (opt.train)
    fmt::print("Weights saved to {}\n", savePath);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opt = tools::parseCommandLine(args);
  if (!opt.ok())
    return fail(opt.status());
  // Under mpirun: data-parallel training (docs/distributed.md). Rank 0
  // alone prints and writes files; an error on any rank ends them all.
  auto world = cnnc::initDistributed();
  if (!world.ok())
    return fail(world.status());
  if (world->size > 1) {
    if (opt->tune)
      return fail("--tune runs in one process; start it without mpirun");
    if (world->rank != 0) {
      gWritesFiles = false;
      if (!std::freopen("/dev/null", "w", stdout))
        return fail("cannot silence the standard output of this rank");
    }
    int status = run(*opt);
    std::fflush(stdout);
    if (status != 0)
      cnnc::abortDistributed(status);
    return 0;
  }
  if (opt->help) {
    fmt::print("{}", tools::kUsage);
    return 0;
  }
  if (opt->version) {
    fmt::print("cnnc {} (LLVM 19)\n", cnnc::version());
    return 0;
  }
  if (opt->tune)
    return tools::runTune(*opt);
  return run(*opt);
}
