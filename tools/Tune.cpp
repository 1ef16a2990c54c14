#include "tools/Tune.h"
#include "support/AtomicFile.h"
#include "support/TextFile.h"
#include "tools/Errors.h"
#include "tools/StopSignal.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::tools {

namespace {

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes
// doubled.
std::string csvField(const std::string &s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos)
    return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + "\"";
}

struct Trial {
  int64_t number = 0; // 1-based
  std::vector<std::string> values;
  int64_t epochs = 0;
  std::optional<double> objective; // unset: the trial failed
  double seconds = 0;
};

std::string resultsCsv(const Search &search, const std::string &objective,
                       const std::vector<Trial> &trials) {
  std::string out = "trial";
  for (const std::string &name : search.spaceNames())
    out.append(",").append(csvField(name));
  out += fmt::format(",epochs,{},seconds\n", objective);
  for (const Trial &t : trials) {
    out += std::to_string(t.number);
    for (const std::string &v : t.values)
      out.append(",").append(csvField(v));
    out += fmt::format(",{},{},{:.3f}\n", t.epochs,
                       t.objective ? fmt::format("{}", *t.objective) : "",
                       t.seconds);
  }
  return out;
}

// The data a trial trains and validates on, loaded once for all trials that
// ask for the same (an image folder is read again: its decoding follows the
// model's input shape).
struct DataCache {
  std::string key;
  std::optional<Dataset> train, validation;
};

std::string dataKey(const TrainingConfig &c) {
  if (c.dataset == "image_folder")
    return "";
  return fmt::format("{}|{}|{}", c.dataset, c.idxPrefix,
                     fmt::join(c.classes, ","));
}

Status loadData(const Model &model, const Options &opt, DataCache &cache,
                bool &loaded) {
  TrainingConfig c = model.config();
  std::string key = dataKey(c);
  loaded = false;
  if (!key.empty() && key == cache.key)
    return Status();
  cache.key.clear();
  auto train = model.dataset("train", opt.dataDir);
  if (!train.ok())
    return train.status();
  auto validation = model.dataset("t10k", opt.dataDir);
  if (!validation.ok())
    return validation.status();
  cache.train = *std::move(train);
  cache.validation = *std::move(validation);
  cache.key = key;
  loaded = true;
  return Status();
}

// The table's columns: trial, the spaces, epochs, objective, seconds.
struct Table {
  std::vector<size_t> widths;

  std::string row(const std::vector<std::string> &cells) const {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i)
      out += fmt::format("{}{:<{}}", i ? "  " : "", cells[i], widths[i]);
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    return out + "\n";
  }
};

} // namespace

int runTune(const Options &opt) {
  auto parsed = Search::fromFile(opt.modelPath);
  if (!parsed.ok())
    return fail(parsed.status());
  const Search &search = *parsed;
  const TuneSettings &tune = search.settings();
  if (!tune.present)
    return fail(fmt::format("{}: --tune needs a tune statement, such as "
                            "'tune strategy=random trials=10'",
                            opt.modelPath));
  if (Status s = search.check(); !s.ok())
    return fail(s);

  // The directory, made before any training so that a bad path costs
  // nothing.
  fs::path dir = opt.tuneDir;
  if (dir.empty()) {
    dir = opt.modelPath;
    dir.replace_extension("");
    dir += "_tune";
  }
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    return fail(fmt::format("--tune-dir {}: exists and is not a directory",
                            dir.string()));
  fs::create_directories(dir, ec);
  if (ec)
    return fail(fmt::format("--tune-dir {}: cannot create: {}", dir.string(),
                            ec.message()));
  if (access(dir.c_str(), W_OK) != 0)
    return fail(
        fmt::format("--tune-dir {}: directory is not writable", dir.string()));
  std::string csvPath = (dir / "results.csv").string();
  std::string dslPath = (dir / "best.dsl").string();
  std::string weightsPath = (dir / "best.safetensors").string();

  bool grid = tune.grid;
  uint64_t count = search.trialCount();
  bool minimize = tune.minimizeLoss;
  std::string objective = minimize ? "val_loss" : "val_accuracy";

  Table table;
  std::vector<std::string> header = {"trial"};
  for (const std::string &name : search.spaceNames())
    header.push_back(name);
  header.insert(header.end(), {"epochs", objective, "seconds"});
  for (const std::string &h : header)
    table.widths.push_back(std::max<size_t>(h.size(), 6));
  fmt::print("Tuning {}: {} search, {} trial{}, {} {}\n", opt.modelPath,
             grid ? "grid" : "random", count, count == 1 ? "" : "s",
             minimize ? "minimizing" : "maximizing", objective);
  fmt::print("{}", table.row(header));
  std::fflush(stdout);

  CompileOptions co;
  co.batchSize = opt.batchSize;
  co.learningRate = opt.learningRate;
  co.seed = opt.seed;
  if (opt.noShuffle)
    co.shuffle = false;
  co.threads = static_cast<int>(opt.threads.value_or(0));

  DataCache data;
  std::vector<Trial> trials;
  std::optional<size_t> best;
  catchStopSignals();
  for (uint64_t i = 0; i < count; ++i) {
    Trial t;
    t.number = static_cast<int64_t>(i) + 1;
    t.values = search.trialValues(i);
    std::string source = search.instantiate(t.values);
    auto start = std::chrono::steady_clock::now();
    std::string why;
    auto model = Model::fromString(source, opt.modelPath, co);
    if (!model.ok()) {
      // Only values the check did not try (a drawn value of a continuous
      // space, or a combination past the check's cap) get here.
      why = model.status().diagnostic() ? model.status().diagnostic()->message
                                        : model.status().message();
    } else {
      TrainingConfig config = model->config();
      if (!config.validation) {
        defaultStopSignals();
        return fail(fmt::format("{}: --tune needs validation data for its "
                                "objective {}; the fit statement has none",
                                opt.modelPath, objective));
      }
      bool loaded = false;
      if (Status s = loadData(*model, opt, data, loaded); !s.ok()) {
        defaultStopSignals();
        return fail(s);
      }
      int64_t epochs = config.epochs;
      if (tune.maxEpochs > 0)
        epochs = std::min(epochs, tune.maxEpochs);
      if (opt.epochs)
        epochs = std::min(epochs, *opt.epochs);
      FitOptions fo;
      fo.epochs = epochs;
      fo.limit = opt.limit.value_or(0);
      fo.stop = &gStop;
      FitReport report;
      fo.report = &report;
      auto history = model->fit(*data.train, &*data.validation, fo);
      if (gStopSignal != 0)
        break;
      if (!history.ok()) {
        why = history.status().message();
        t.epochs = static_cast<int64_t>(report.history.size());
      } else if (history->empty() || !history->back().hasValidation) {
        why = "no validation results";
      } else {
        t.epochs = static_cast<int64_t>(history->size());
        t.objective =
            minimize ? history->back().valLoss : history->back().valAccuracy;
      }
    }
    t.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::vector<std::string> cells = {std::to_string(t.number)};
    cells.insert(cells.end(), t.values.begin(), t.values.end());
    cells.push_back(std::to_string(t.epochs));
    cells.push_back(t.objective ? fmt::format("{:.4f}", *t.objective)
                                : "failed");
    cells.push_back(fmt::format("{:.1f}", t.seconds));
    std::string line = table.row(cells);
    if (!why.empty())
      line.insert(line.size() - 1, fmt::format("  ({})", why));
    fmt::print("{}", line);
    std::fflush(stdout);

    // NaN never wins; ties keep the earlier trial.
    bool better =
        t.objective && !std::isnan(*t.objective) &&
        (!best || (minimize ? *t.objective < *trials[*best].objective
                            : *t.objective > *trials[*best].objective));
    trials.push_back(std::move(t));
    // The files after every trial, so that a stopped search keeps the
    // finished trials.
    absl::Status written = support::writeFileAtomically(
        csvPath, resultsCsv(search, objective, trials));
    if (written.ok() && better) {
      best = trials.size() - 1;
      written = support::writeFileAtomically(dslPath, source);
    }
    if (!written.ok()) {
      defaultStopSignals();
      return fail(std::string(written.message()));
    }
    if (better)
      if (Status s = model->saveWeights(weightsPath); !s.ok()) {
        defaultStopSignals();
        return fail(s);
      }
  }
  defaultStopSignals();
  if (gStopSignal != 0) {
    fmt::print(stderr,
               "cnnc: interrupted in trial {} of {}; the {} finished trial{} "
               "in {}\n",
               trials.size() + 1, count, trials.size(),
               trials.size() == 1 ? " is" : "s are", dir.string());
    return 128 + gStopSignal;
  }
  if (!best)
    return fail(fmt::format("every trial failed; see {}", csvPath));
  const Trial &b = trials[*best];
  fmt::print("Best: trial {} ({}) {} {:.4f}\n", b.number,
             search.describe(b.values), objective, *b.objective);
  fmt::print("Results in {}: results.csv, best.dsl, best.safetensors\n",
             dir.string());
  return 0;
}

} // namespace cnnc::tools
