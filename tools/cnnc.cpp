// The cnnc command: compile a model described in the DSL, then train,
// evaluate or print its IR. A thin client of the libraries.
#include "codegen/Compiler.h"
#include "frontend/Frontend.h"
#include "ir/Printer.h"
#include "runtime/History.h"
#include "runtime/Idx.h"
#include "runtime/Model.h"
#include "runtime/Progress.h"
#include "tools/CommandLine.h"

#include "absl/status/status.h"
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace cnnc;

namespace {

int fail(const absl::Status &s) {
  fmt::print(stderr, "cnnc: error: {}\n", std::string(s.message()));
  return 1;
}

int fail(const std::string &msg) {
  fmt::print(stderr, "cnnc: error: {}\n", msg);
  return 1;
}

// Checks before hours of training that an output file can be written.
absl::Status checkWritable(const std::string &path, const char *flag) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty())
    dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return absl::InvalidArgumentError(fmt::format(
        "{} {}: directory '{}' does not exist", flag, path, dir.string()));
  if (access(dir.c_str(), W_OK) != 0)
    return absl::InvalidArgumentError(fmt::format(
        "{} {}: directory '{}' is not writable", flag, path, dir.string()));
  return absl::OkStatus();
}

// The IDX prefix of the dataset the fit statement names.
absl::StatusOr<std::string> datasetPrefix(const ir::FitSpec &fit,
                                          const std::string &dataDir) {
  if (fit.dataset == "idx") {
    if (dataDir.empty())
      return fit.idxPrefix;
    return (fs::path(dataDir) / fs::path(fit.idxPrefix).filename()).string();
  }
  auto dir = runtime::findMnistDir(dataDir);
  if (!dir.ok())
    return dir.status();
  return *dir + "/";
}

std::string defaultWeightsPath(const std::string &modelPath) {
  return fs::path(modelPath).replace_extension(".safetensors").string();
}

int run(const tools::Options &opt) {
  frontend::ParseResult parsed = frontend::parseFile(opt.modelPath);
  if (parsed.error) {
    fmt::print(stderr, "{}\n", parsed.error->str());
    return 1;
  }
  ir::TrainingSpec spec = frontend::trainingSpec(*parsed.program);
  if (opt.epochs)
    spec.fit.epochs = *opt.epochs;
  if (opt.batchSize)
    spec.fit.batchSize = *opt.batchSize;
  if (opt.learningRate)
    spec.optimizer.learningRate = *opt.learningRate;
  if (opt.seed)
    spec.fit.seed = *opt.seed;
  if (opt.noShuffle)
    spec.fit.shuffle = false;
  frontend::LowerResult lowered = frontend::lowerModel(*parsed.program, spec);
  if (lowered.error) {
    fmt::print(stderr, "{}\n", lowered.error->str());
    return 1;
  }
  ir::Graph &forward = lowered.model->forward;

  if (opt.emit == "ir") {
    fmt::print("{}", ir::printGraph(forward));
    return 0;
  }
  auto model = runtime::Model::create(
      forward, spec, static_cast<int>(opt.threads.value_or(0)));
  if (!model.ok())
    return fail(model.status());
  if (!opt.emit.empty()) {
    auto train = (*model)->trainingGraph();
    if (!train.ok())
      return fail(train.status());
    if (opt.emit == "train-ir") {
      fmt::print("{}", ir::printGraph(*train));
      return 0;
    }
    codegen::CompileOptions co;
    co.keepLlvmIr = opt.emit == "llvm";
    co.keepAsm = opt.emit == "asm";
    auto compiled = codegen::compileGraph(*train, co);
    if (!compiled.ok())
      return fail(compiled.status());
    fmt::print("{}",
               co.keepLlvmIr ? (*compiled)->llvmIr() : (*compiled)->assembly());
    return 0;
  }
  if (!opt.train && !opt.evaluate) {
    fmt::print("{}", frontend::formatSummary(*lowered.model));
    return 0;
  }

  std::string savePath =
      opt.savePath.empty() ? defaultWeightsPath(opt.modelPath) : opt.savePath;
  std::string loadPath = opt.loadPath;
  if (opt.evaluate && loadPath.empty()) {
    loadPath = defaultWeightsPath(opt.modelPath);
    if (!fs::exists(loadPath))
      return fail(fmt::format("--evaluate needs trained weights: pass --load "
                              "FILE (there is no {})",
                              loadPath));
  }
  if (opt.train) {
    for (auto [path, flag] : {std::pair{savePath, "--save"},
                              {opt.historyPath, "--history"},
                              {opt.plotPath, "--plot"}})
      if (!path.empty())
        if (absl::Status s = checkWritable(path, flag); !s.ok())
          return fail(s);
  }

  auto prefix = datasetPrefix(spec.fit, opt.dataDir);
  if (!prefix.ok())
    return fail(prefix.status());
  auto test = runtime::loadIdxSplit(*prefix, "t10k");
  if (!test.ok())
    return fail(test.status());

  (*model)->initializeWeights(spec.fit.seed);
  if (!loadPath.empty())
    if (absl::Status s = (*model)->loadWeights(loadPath); !s.ok())
      return fail(s);

  if (opt.train) {
    auto train = runtime::loadIdxSplit(*prefix, "train");
    if (!train.ok())
      return fail(train.status());
    fmt::print("{}", frontend::formatSummary(*lowered.model));
    int64_t count = train->images.count;
    if (opt.limit)
      count = std::min(count, *opt.limit);
    int64_t batch = std::min(spec.fit.batchSize, count);
    int64_t steps = (count + batch - 1) / batch;
    fmt::print("Training on {} images, batch {}, {} threads, {} epochs\n",
               count, batch, (*model)->threads(), spec.fit.epochs);
    std::fflush(stdout);
    runtime::ProgressLog log(stdout, isatty(fileno(stdout)) != 0,
                             spec.fit.epochs, steps);
    runtime::FitOptions fo;
    fo.limit = opt.limit.value_or(0);
    fo.log = &log;
    (*model)->setProfiling(opt.profile);
    auto history =
        (*model)->fit(*train, spec.fit.validation ? &*test : nullptr, fo);
    if (!history.ok())
      return fail(history.status());
    if (absl::Status s = (*model)->saveWeights(savePath); !s.ok())
      return fail(s);
    if (!opt.historyPath.empty())
      if (absl::Status s = runtime::writeHistoryCsv(opt.historyPath, *history);
          !s.ok())
        return fail(s);
    if (!opt.plotPath.empty())
      if (absl::Status s = runtime::writeHistorySvg(
              opt.plotPath, *history,
              fmt::format("{}: training and validation", forward.name()));
          !s.ok())
        return fail(s);
    if (opt.profile) {
      fmt::print("\n{:<28} {:>10} {:>8} {:>10}\n", "kernel", "ms/call", "calls",
                 "total s");
      for (const runtime::KernelProfile &p : (*model)->trainingProfile())
        fmt::print("{:<28} {:>10.3f} {:>8} {:>10.2f}\n", p.name,
                   p.seconds * 1e3 / p.calls, p.calls, p.seconds);
    }
  }
  auto result = (*model)->evaluate(*test);
  if (!result.ok())
    return fail(result.status());
  fmt::print("Test loss: {:.4f}\nTest accuracy: {:.4f}\n", result->loss,
             result->accuracy);
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
  if (opt->help) {
    fmt::print("{}", tools::kUsage);
    return 0;
  }
  if (opt->version) {
    fmt::print("cnnc 0.1.0 (LLVM 19)\n");
    return 0;
  }
  return run(*opt);
}
