#include "tools/Tune.h"
#include "tools/Errors.h"
#include "tools/StopSignal.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace cnnc::tools {

namespace {

// The table's columns: trial, the spaces, (hyperband: bracket, round,
// from), epochs, objective, seconds; a cell wider than its column pushes
// the rest of its row right.
struct Table {
  std::vector<size_t> widths;

  std::string row(const std::vector<std::string> &cells) const {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i)
      out += fmt::format("{}{:<{}}", i ? "  " : "", cells[i],
                         i < widths.size() ? widths[i] : 0);
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    return out + "\n";
  }
};

const char *strategyName(TuneStrategy s) {
  switch (s) {
  case TuneStrategy::Random:
    return "random";
  case TuneStrategy::Grid:
    return "grid";
  case TuneStrategy::Hyperband:
    return "hyperband";
  }
  return "";
}

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

  fs::path dir = opt.tuneDir;
  if (dir.empty()) {
    dir = opt.modelPath;
    dir.replace_extension("");
    dir += "_tune";
  }
  bool hyperband = tune.strategy == TuneStrategy::Hyperband;
  uint64_t count = search.trialCount();
  std::string objective = tune.minimizeLoss ? "val_loss" : "val_accuracy";

  Table table;
  std::vector<std::string> header = {"trial"};
  for (const std::string &name : search.spaceNames())
    header.push_back(name);
  if (hyperband)
    header.insert(header.end(), {"bracket", "round", "from"});
  header.insert(header.end(), {"epochs", objective, "seconds"});
  for (const std::string &h : header)
    table.widths.push_back(std::max<size_t>(h.size(), 6));

  TuneOptions to;
  to.directory = dir.string();
  CompileOptions &co = to.compile;
  co.batchSize = opt.batchSize;
  co.learningRate = opt.learningRate;
  co.dtypePolicy = opt.dtypePolicy;
  co.seed = opt.seed;
  if (opt.noShuffle)
    co.shuffle = false;
  co.threads = static_cast<int>(opt.threads.value_or(0));
  to.epochs = opt.epochs.value_or(0);
  to.limit = opt.limit.value_or(0);
  to.dataDir = opt.dataDir;
  to.parallelTrials = static_cast<int>(opt.parallelTrials.value_or(1));
  to.stop = &gStop;
  int64_t resumed = 0;
  fmt::print("Tuning {}: {} search, {} trial{}{}, {} {}\n", opt.modelPath,
             strategyName(tune.strategy), count, count == 1 ? "" : "s",
             hyperband ? " at most" : "",
             tune.minimizeLoss ? "minimizing" : "maximizing", objective);
  fmt::print("{}", table.row(header));
  std::fflush(stdout);
  to.onTrialEnd = [&](const TrialResult &t) {
    if (t.fromJournal)
      ++resumed;
    std::vector<std::string> cells = {std::to_string(t.number)};
    cells.insert(cells.end(), t.values.begin(), t.values.end());
    if (hyperband) {
      cells.push_back(std::to_string(t.bracket));
      cells.push_back(std::to_string(t.round));
      cells.push_back(t.continues ? std::to_string(t.continues) : "-");
    }
    cells.push_back(std::to_string(t.initialEpoch + t.epochsRun));
    cells.push_back(t.objective ? fmt::format("{:.4f}", *t.objective)
                                : "failed");
    cells.push_back(fmt::format("{:.1f}", t.seconds));
    std::string line = table.row(cells);
    std::string notes;
    if (t.fromJournal)
      notes = "journal";
    if (!t.error.empty())
      notes += (notes.empty() ? "" : "; ") + t.error;
    if (!notes.empty())
      line.insert(line.size() - 1, fmt::format("  ({})", notes));
    fmt::print("{}", line);
    std::fflush(stdout);
  };
  catchStopSignals();
  auto report = search.tune(to);
  defaultStopSignals();
  if (!report.ok())
    return fail(report.status());
  if (report->stopped) {
    size_t n = report->trials.size();
    fmt::print(stderr,
               "cnnc: interrupted; the {} finished trial{} in {} (run the "
               "same command again to continue)\n",
               n, n == 1 ? " is" : "s are", dir.string());
    return 128 + gStopSignal;
  }
  if (!report->best)
    return fail(
        fmt::format("every trial failed; see {}/results.csv", dir.string()));
  const TrialResult &b = report->trials[*report->best];
  if (resumed > 0)
    fmt::print("{} of the {} trials came from the journal of an earlier "
               "run\n",
               resumed, report->trials.size());
  fmt::print("Best: trial {} ({}) {} {:.4f}\n", b.number,
             search.describe(b.values), objective, *b.objective);
  fmt::print("Results in {}: results.csv, best.dsl, best.safetensors\n",
             dir.string());
  return 0;
}

} // namespace cnnc::tools
