// The cnnc command: compile a model described in the DSL, then train,
// evaluate or print its IR. A client of the public API (cnnc/cnnc.h) only.
#include "cnnc/cnnc.h"
#include "tools/CommandLine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace cnnc;

namespace {

int fail(const std::string &msg) {
  fmt::print(stderr, "cnnc: error: {}\n", msg);
  return 1;
}

// DSL errors show the line and a caret; all others are one line.
int fail(const Status &s) {
  if (s.diagnostic()) {
    fmt::print(stderr, "{}\n", s.diagnostic()->str());
    return 1;
  }
  return fail(s.message());
}

// Checks before hours of training that an output file can be written.
Status checkWritable(const std::string &path, const char *flag) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty())
    dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Status(fmt::format("{} {}: directory '{}' does not exist", flag,
                              path, dir.string()));
  if (access(dir.c_str(), W_OK) != 0)
    return Status(fmt::format("{} {}: directory '{}' is not writable", flag,
                              path, dir.string()));
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

int run(const tools::Options &opt) {
  CompileOptions co;
  co.epochs = opt.epochs;
  co.batchSize = opt.batchSize;
  co.learningRate = opt.learningRate;
  co.seed = opt.seed;
  if (opt.noShuffle)
    co.shuffle = false;
  co.threads = static_cast<int>(opt.threads.value_or(0));
  auto compiled = Model::fromFile(opt.modelPath, co);
  if (!compiled.ok())
    return fail(compiled.status());
  Model &model = *compiled;
  if (Status s = instrument(model, opt); !s.ok())
    return fail(s);

  if (!opt.emit.empty()) {
    auto text = model.irText(stageOf(opt.emit));
    if (!text.ok())
      return fail(text.status());
    fmt::print("{}", *text);
    return 0;
  }
  if (!opt.train && !opt.evaluate) {
    fmt::print("{}", model.summary());
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
        if (Status s = checkWritable(path, flag); !s.ok())
          return fail(s);
  }

  auto test = model.dataset("t10k", opt.dataDir);
  if (!test.ok())
    return fail(test.status());
  if (!loadPath.empty())
    if (Status s = model.loadWeights(loadPath); !s.ok())
      return fail(s);

  if (opt.train) {
    auto train = model.dataset("train", opt.dataDir);
    if (!train.ok())
      return fail(train.status());
    TrainingConfig config = model.config();
    fmt::print("{}", model.summary());
    int64_t count = train->size();
    if (opt.limit)
      count = std::min(count, *opt.limit);
    int64_t batch = std::min(config.batchSize, count);
    fmt::print("Training on {} images, batch {}, {} threads, {} epochs\n",
               count, batch, model.threads(), config.epochs);
    std::fflush(stdout);
    FitOptions fo;
    fo.limit = opt.limit.value_or(0);
    fo.progress = stdout;
    model.setProfiling(opt.profile);
    auto history = model.fit(*train, config.validation ? &*test : nullptr, fo);
    if (!history.ok())
      return fail(history.status());
    if (Status s = model.saveWeights(savePath); !s.ok())
      return fail(s);
    if (!opt.historyPath.empty())
      if (Status s = writeHistoryCsv(opt.historyPath, *history); !s.ok())
        return fail(s);
    if (!opt.plotPath.empty())
      if (Status s = writeHistorySvg(
              opt.plotPath, *history,
              fmt::format("{}: training and validation", model.name()));
          !s.ok())
        return fail(s);
    if (opt.profile)
      fmt::print("\n{}", model.profileTable());
  }
  auto result = model.evaluate(*test);
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
    fmt::print("cnnc {} (LLVM 19)\n", cnnc::version());
    return 0;
  }
  return run(*opt);
}
