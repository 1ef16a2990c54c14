#include "tools/CommandLine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <set>

namespace cnnc::tools {

const char kUsage[] = R"(usage: cnnc MODEL.dsl [options]

Compiles a CNN described in the cnnc DSL and trains or evaluates it.
With no action, checks the model and prints its summary.

Actions:
  --train                 train as the model's fit statement says, then
                          evaluate on the test set and save the weights;
                          Ctrl-C (or SIGTERM) stops after the current step,
                          saves the weights and history and exits 130 (143)
  --evaluate              evaluate the loaded weights on the test set (an
                          image folder's validation data)
  --predict PATH...       print the most probable class of each image file
                          (PNG, JPEG, BMP, GIF); a directory stands for its
                          images, recursively. Takes the paths up to the
                          next flag; the weights come from --load (default:
                          MODEL.safetensors next to the model)
  --tune                  run the hyper-parameter search of the model's
                          tune statement: a table row per trial, then the
                          best trial's values; writes results.csv,
                          best.dsl and best.safetensors to --tune-dir
                          (--epochs caps each trial's epochs); continues
                          an interrupted search found there
  --emit=ir|train-ir|fused-ir|llvm|asm
                          print the forward graph, the training-step graph
                          (after autodiff, before fusion), the training-step
                          graph after every pass, the kernels' LLVM IR or
                          their assembly
  --target-cpu CPU        with --emit=llvm or asm: the kernels as compiled
                          for another x86-64 CPU (LLVM's name: znver5,
                          sapphirerapids), e.g. to see vdpbf16ps under
                          mixed_bfloat16 on a host without AVX512_BF16

Overrides of the compile and fit statements:
  --epochs N  --batch-size N  --learning-rate X  --seed N  --no-shuffle
  --dtype-policy float32|mixed_bfloat16
                          the compile statement's dtype_policy: with
                          mixed_bfloat16, convolutions and matmuls take
                          bfloat16 operands and sum in float32
  --data DIR              directory of the IDX files (default: data/mnist),
                          or the image folder instead of the fit statement's
  --limit N               use only the first N training images
  (N: decimal digits only; X: a decimal number such as 0.01 or 1e-3;
  --learning-rate sets a constant rate, in place of a schedule)

Prediction (with --predict):
  --top-k K               print the K most probable classes (default 1)
  --output FILE.csv       also write the predictions as CSV

Files:
  --save FILE             where to write the trained weights (safetensors;
                          default: MODEL.safetensors next to the model)
  --load FILE             weights to start from (safetensors): every weight
                          of the model, by name and shape, and nothing else
  --load-by-name FILE     with --train: the file's weights whose names and
                          shapes match the model's, the rest as initialized
                          (prints what was loaded, skipped and left new;
                          replaces the fit statement's initial_weights)
  --history FILE.csv      per-epoch history (Keras CSVLogger columns)
  --plot FILE.svg         accuracy and loss per epoch
  --tune-dir DIR          with --tune: where the search's files go
                          (default: MODEL_tune next to the model)
  --parallel-trials N     with --tune: train N trials side by side, each
                          on --threads / N threads (default 1)
  (--save, --history and --plot need --train; each a regular file or a
  new name, all different; checked before training; symlinks are written
  through)

Pass instrumentation (of every compile pipeline the action runs):
  --print-after-all       print the graph after every pass
  --print-after=PASS      print the graph after each pass named PASS
                          (repeatable; PASS may be a comma-separated list)
  --verify-each           run the IR verifier after every pass

Other:
  --threads N             worker threads (default: all cores; at most 1024)
  --profile               print a per-kernel time table after training
                          (with --train)
  --help  --version

Each flag may be given once, except --print-after.
)";

namespace {

constexpr int64_t kMaxThreads = 1024;
// Counts (epochs, batch size, limit) stay within an int32.
constexpr int64_t kMaxCount = (int64_t{1} << 31) - 1;

Status flagError(const std::string &flag, const std::string &msg) {
  return Status(fmt::format("{}: {}", flag, msg));
}

bool allDigits(const std::string &v) {
  return !v.empty() && std::all_of(v.begin(), v.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
}

// An integer in [min, max], min being 0 or 1: decimal digits only, so no
// sign, spaces, hex or trailing junk slips through strtoll's leniency.
Result<int64_t> parseInteger(const std::string &flag, const std::string &v,
                             int64_t min, int64_t max) {
  int64_t x = 0;
  if (allDigits(v)) {
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && x > max))
      return flagError(flag, fmt::format("expects at most {}, got {}", max, v));
    if (ec == std::errc() && end == v.data() + v.size() && x >= min)
      return x;
  }
  return flagError(flag, fmt::format("expects a {} integer, got '{}'",
                                     min > 0 ? "positive" : "non-negative", v));
}

// A plain decimal number with an optional exponent ("0.01", "1e-3", ".5"):
// no sign, spaces, hex, inf or nan. Parsed with from_chars, which does not
// depend on the locale's decimal point.
std::optional<double> parseDecimal(const std::string &v) {
  size_t i = 0, digits = 0;
  auto skipDigits = [&] {
    size_t start = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9')
      ++i;
    return i - start;
  };
  digits += skipDigits();
  if (i < v.size() && v[i] == '.') {
    ++i;
    digits += skipDigits();
  }
  if (digits == 0)
    return std::nullopt;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-'))
      ++i;
    if (skipDigits() == 0)
      return std::nullopt;
  }
  if (i != v.size())
    return std::nullopt;
  double x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x,
                                   std::chars_format::general);
  if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(x))
    return std::nullopt;
  return x;
}

} // namespace

Result<Options> parseCommandLine(const std::vector<std::string> &args) {
  Options o;
  // Flags that take a value, with how to store it.
  using Setter = std::function<Status(const std::string &)>;
  auto integer = [&](std::optional<int64_t> &slot, const char *flag,
                     int64_t max = kMaxCount) -> Setter {
    return [&slot, flag, max](const std::string &v) -> Status {
      auto x = parseInteger(flag, v, 1, max);
      if (!x.ok())
        return x.status();
      slot = *x;
      return Status();
    };
  };
  auto text = [](std::string &slot, const char *flag) -> Setter {
    return [&slot, flag](const std::string &v) -> Status {
      if (v.empty())
        return flagError(flag, "expects a value");
      slot = v;
      return Status();
    };
  };
  std::map<std::string, Setter> valued = {
      {"--epochs", integer(o.epochs, "--epochs")},
      {"--batch-size", integer(o.batchSize, "--batch-size")},
      {"--limit", integer(o.limit, "--limit")},
      {"--top-k", integer(o.topK, "--top-k")},
      {"--output", text(o.outputPath, "--output")},
      {"--threads", integer(o.threads, "--threads", kMaxThreads)},
      {"--seed",
       [&](const std::string &v) -> Status {
         // The range the DSL's fit statement accepts.
         auto x = parseInteger("--seed", v, 0, INT64_MAX);
         if (!x.ok())
           return x.status();
         o.seed = static_cast<uint64_t>(*x);
         return Status();
       }},
      {"--learning-rate",
       [&](const std::string &v) -> Status {
         std::optional<double> x = parseDecimal(v);
         if (!x || *x <= 0)
           return flagError(
               "--learning-rate",
               fmt::format("expects a positive number written like 0.001 "
                           "or 1e-3, got '{}'",
                           v));
         o.learningRate = *x;
         return Status();
       }},
      {"--dtype-policy",
       [&](const std::string &v) -> Status {
         const std::vector<std::string> &names = dtypePolicies();
         if (std::find(names.begin(), names.end(), v) == names.end())
           return flagError("--dtype-policy",
                            fmt::format("expects {}, got '{}'",
                                        fmt::join(names, " or "), v));
         o.dtypePolicy = v;
         return Status();
       }},
      {"--emit",
       [&](const std::string &v) -> Status {
         if (v != "ir" && v != "train-ir" && v != "fused-ir" && v != "llvm" &&
             v != "asm")
           return flagError(
               "--emit",
               fmt::format(
                   "expects ir, train-ir, fused-ir, llvm or asm, got '{}'", v));
         o.emit = v;
         return Status();
       }},
      {"--target-cpu",
       [&](const std::string &v) -> Status {
         if (v.empty())
           return flagError("--target-cpu", "expects a CPU name such as "
                                            "znver5");
         o.targetCpu = v;
         return Status();
       }},
      {"--print-after",
       [&](const std::string &v) -> Status {
         // Pass names are checked against the pipelines once the model is
         // compiled; here only the list's syntax.
         size_t begin = 0;
         while (true) {
           size_t comma = v.find(',', begin);
           std::string name = v.substr(begin, comma - begin);
           if (name.empty())
             return flagError("--print-after",
                              fmt::format("expects pass names, got '{}'", v));
           o.printAfter.push_back(name);
           if (comma == std::string::npos)
             return Status();
           begin = comma + 1;
         }
       }},
      {"--data", text(o.dataDir, "--data")},
      {"--history", text(o.historyPath, "--history")},
      {"--plot", text(o.plotPath, "--plot")},
      {"--save", text(o.savePath, "--save")},
      {"--load", text(o.loadPath, "--load")},
      {"--load-by-name", text(o.loadByNamePath, "--load-by-name")},
      {"--tune-dir", text(o.tuneDir, "--tune-dir")},
      {"--parallel-trials",
       integer(o.parallelTrials, "--parallel-trials", kMaxThreads)},
  };
  std::map<std::string, bool *> switches = {
      {"--train", &o.train},
      {"--evaluate", &o.evaluate},
      {"--tune", &o.tune},
      {"--no-shuffle", &o.noShuffle},
      {"--profile", &o.profile},
      {"--print-after-all", &o.printAfterAll},
      {"--verify-each", &o.verifyEach},
      {"--help", &o.help},
      {"-h", &o.help},
      {"--version", &o.version},
  };

  // Flags seen so far: a flag given twice is an error (did the user mean
  // the first value or the second?), except the repeatable --print-after.
  std::set<std::string> seen;
  auto once = [&](const std::string &name) -> Status {
    std::string key = name == "-h" ? "--help" : name;
    if (key != "--print-after" && !seen.insert(key).second)
      return Status(fmt::format("{} given twice", name));
    return Status();
  };

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &arg = args[i];
    // --predict takes every path up to the next flag; --predict=PATH one.
    if (arg == "--predict" || arg.rfind("--predict=", 0) == 0) {
      if (Status s = once("--predict"); !s.ok())
        return s;
      o.predict = true;
      if (arg != "--predict") {
        std::string path = arg.substr(std::string("--predict=").size());
        if (path.empty())
          return flagError("--predict", "expects image files or directories");
        o.predictPaths.push_back(path);
        continue;
      }
      while (i + 1 < args.size() &&
             !(args[i + 1].size() > 1 && args[i + 1][0] == '-'))
        o.predictPaths.push_back(args[++i]);
      if (o.predictPaths.empty())
        return flagError("--predict", "expects image files or directories");
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      std::string name = arg, value;
      bool hasValue = false;
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        hasValue = true;
      }
      if (switches.count(name) || valued.count(name))
        if (Status s = once(name); !s.ok())
          return s;
      if (auto s = switches.find(name); s != switches.end()) {
        if (hasValue)
          return flagError(name, "takes no value");
        *s->second = true;
        continue;
      }
      auto v = valued.find(name);
      if (v == valued.end())
        return Status(
            fmt::format("unknown option '{}' (see cnnc --help)", name));
      if (!hasValue) {
        if (i + 1 >= args.size())
          return flagError(name, "expects a value");
        value = args[++i];
      }
      if (Status s = v->second(value); !s.ok())
        return s;
      continue;
    }
    if (!o.modelPath.empty())
      return Status(fmt::format("more than one model file: '{}' and '{}'",
                                o.modelPath, arg));
    o.modelPath = arg;
  }
  if (o.help || o.version)
    return o;
  if (o.modelPath.empty())
    return Status("no model file given (usage: cnnc MODEL.dsl [--train])");
  // A search trains many models and writes its own files; the one-model
  // actions and files would be ambiguous with it.
  if (o.tune) {
    std::pair<bool, const char *> others[] = {
        {o.train, "--train"},
        {o.evaluate, "--evaluate"},
        {o.predict, "--predict"},
        {!o.emit.empty(), "--emit"},
        {!o.savePath.empty(), "--save"},
        {!o.historyPath.empty(), "--history"},
        {!o.plotPath.empty(), "--plot"},
        {!o.loadPath.empty(), "--load"},
        {!o.loadByNamePath.empty(), "--load-by-name"},
        {o.profile, "--profile"},
        {o.printAfterAll, "--print-after-all"},
        {!o.printAfter.empty(), "--print-after"},
        {o.verifyEach, "--verify-each"},
    };
    for (const auto &[on, flag] : others)
      if (on)
        return Status(fmt::format("--tune cannot be combined with {}; a "
                                  "search writes its own files (--tune-dir)",
                                  flag));
  }
  if (!o.tuneDir.empty() && !o.tune)
    return Status("--tune-dir needs --tune");
  if (o.parallelTrials && !o.tune)
    return Status("--parallel-trials needs --tune");
  if (!o.targetCpu.empty() && o.emit != "llvm" && o.emit != "asm" && !o.help &&
      !o.version)
    return Status("--target-cpu needs --emit=llvm or --emit=asm");
  int actions = o.train + o.evaluate + o.predict + !o.emit.empty();
  if (actions > 1)
    return Status("choose one of --train, --evaluate, --predict and --emit");
  // Files only a training run writes: silently ignoring them would hide a
  // forgotten --train.
  for (const auto &[path, flag] : {std::pair{&o.historyPath, "--history"},
                                   {&o.plotPath, "--plot"},
                                   {&o.savePath, "--save"}})
    if (!path->empty() && !o.train && !o.help && !o.version)
      return Status(fmt::format("{} needs --train", flag));
  if (!o.loadByNamePath.empty() && !o.train && !o.help && !o.version)
    return Status("--load-by-name needs --train (--evaluate and --predict "
                  "take every weight: --load)");
  if (!o.loadByNamePath.empty() && !o.loadPath.empty())
    return Status("choose one of --load and --load-by-name");
  if ((o.topK || !o.outputPath.empty()) && !o.predict)
    return Status(
        fmt::format("{} needs --predict", o.topK ? "--top-k" : "--output"));
  // Only training runs the profiled step; silently ignoring it would hide a
  // typo'd command line.
  if (o.profile && !o.train)
    return Status("--profile needs --train");
  return o;
}

} // namespace cnnc::tools
