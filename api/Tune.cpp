// Search::tune: runs a search's trials in their fixed order (side by side
// when asked), journals each finished trial, and keeps the directory's
// results and best model up to date. The plan is a sequence of batches:
// random and grid search are one batch; hyperband's are its rounds, each
// computed from the results of the one before, so the trials, their numbers
// and their order depend only on the search and the results, never on
// timing (docs/dsl.md, "Hyper-parameter search").
#include "api/Internal.h"
#include "api/TuneJournal.h"
#include "frontend/SearchSpace.h"
#include "runtime/ThreadPool.h"
#include "support/AtomicFile.h"
#include "support/Hash.h"
#include "support/TextFile.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc {

namespace {

// Hands out the search's batches of trials in order.
class Planner {
public:
  Planner(const Search &search, const frontend::TuneSpec &spec)
      : search_(search), spec_(spec), settings_(search.settings()) {
    brackets_ = frontend::hyperbandBrackets(spec_);
    bracket_ = brackets_ - 1;
  }

  // The next batch; empty when the search is done. `done` holds every
  // finished trial so far, by number.
  std::vector<TrialResult> next(const std::map<int64_t, TrialResult> &done) {
    std::vector<TrialResult> batch =
        settings_.strategy == TuneStrategy::Hyperband ? nextRound(done)
                                                      : nextAll();
    // hyperband's trials= cap (random's and grid's are in trialCount).
    int64_t cap = settings_.trials > 0 ? settings_.trials : INT64_MAX;
    while (!batch.empty() && batch.back().number > cap)
      batch.pop_back();
    return batch;
  }

private:
  std::vector<TrialResult> nextAll() {
    std::vector<TrialResult> batch;
    if (numbered_ > 0)
      return batch;
    uint64_t n = search_.trialCount();
    for (uint64_t i = 0; i < n; ++i) {
      TrialResult t;
      t.number = ++numbered_;
      t.values = search_.trialValues(i);
      batch.push_back(std::move(t));
    }
    return batch;
  }

  // Keras Tuner's order: the brackets from the most aggressive down, each
  // round after the one before; round r + 1 takes the best of round r
  // (failed trials never; ties keep the earlier trial).
  std::vector<TrialResult>
  nextRound(const std::map<int64_t, TrialResult> &done) {
    std::vector<TrialResult> batch;
    if (iteration_ >= spec_.hyperbandIterations)
      return batch;
    if (round_ == 0) {
      int64_t size = frontend::hyperbandSize(spec_, bracket_, 0);
      for (int64_t i = 0; i < size; ++i) {
        TrialResult t;
        t.number = ++numbered_;
        t.values = search_.trialValues(draws_++);
        batch.push_back(std::move(t));
      }
    } else {
      std::vector<const TrialResult *> ranked;
      for (int64_t n : previous_) {
        auto it = done.find(n);
        if (it != done.end() && it->second.objective &&
            !std::isnan(*it->second.objective))
          ranked.push_back(&it->second);
      }
      bool minimize = settings_.minimizeLoss;
      std::stable_sort(ranked.begin(), ranked.end(),
                       [&](const TrialResult *a, const TrialResult *b) {
                         return minimize ? *a->objective < *b->objective
                                         : *a->objective > *b->objective;
                       });
      size_t size =
          static_cast<size_t>(frontend::hyperbandSize(spec_, bracket_, round_));
      for (size_t i = 0; i < std::min(size, ranked.size()); ++i) {
        TrialResult t;
        t.number = ++numbered_;
        t.values = ranked[i]->values;
        t.continues = ranked[i]->number;
        t.initialEpoch = frontend::hyperbandEpochs(spec_, bracket_, round_ - 1);
        batch.push_back(std::move(t));
      }
    }
    previous_.clear();
    for (TrialResult &t : batch) {
      t.bracket = bracket_;
      t.round = round_;
      t.epochs = frontend::hyperbandEpochs(spec_, bracket_, round_);
      previous_.push_back(t.number);
    }
    // Advance: the next round, else the next bracket, else the next
    // iteration. A round that nobody survived ends its bracket.
    if (round_ < bracket_ && !batch.empty()) {
      ++round_;
    } else {
      round_ = 0;
      if (--bracket_ < 0) {
        bracket_ = brackets_ - 1;
        ++iteration_;
      }
    }
    if (batch.empty())
      return nextRound(done);
    return batch;
  }

  const Search &search_;
  frontend::TuneSpec spec_;
  const TuneSettings &settings_;
  int64_t numbered_ = 0;
  uint64_t draws_ = 0;
  int64_t brackets_ = 0, bracket_ = 0, round_ = 0, iteration_ = 0;
  std::vector<int64_t> previous_; // the last round's trial numbers
};

// The data the trials train and validate on, loaded once per data key.
class DataCache {
public:
  Status get(const Model &model, const std::string &dataDir,
             std::shared_ptr<const std::pair<Dataset, Dataset>> &out) {
    std::string key = api::dataKey(model);
    std::lock_guard<std::mutex> lock(mutex_);
    if (data_ && key == key_) {
      out = data_;
      return Status();
    }
    auto train = model.dataset("train", dataDir);
    if (!train.ok())
      return train.status();
    auto validation = model.dataset("t10k", dataDir);
    if (!validation.ok())
      return validation.status();
    data_ = std::make_shared<std::pair<Dataset, Dataset>>(
        *std::move(train), *std::move(validation));
    key_ = key;
    out = data_;
    return Status();
  }

private:
  std::mutex mutex_;
  std::string key_;
  std::shared_ptr<const std::pair<Dataset, Dataset>> data_;
};

bool better(const TrialResult &a, const TrialResult &b, bool minimize) {
  if (*a.objective != *b.objective)
    return minimize ? *a.objective < *b.objective : *a.objective > *b.objective;
  return a.number < b.number;
}

std::string checkpointPath(const fs::path &dir, int64_t trial) {
  return (dir / "trials" / fmt::format("trial_{}.safetensors", trial)).string();
}

class Runner {
public:
  Runner(const Search &search, const Search::Impl &impl,
         const TuneOptions &options, int threadsPerTrial)
      : search_(search), impl_(impl), options_(options),
        threadsPerTrial_(threadsPerTrial), dir_(options.directory) {}

  Result<TuneReport> run() {
    const TuneSettings &s = impl_.settings;
    auto journal = readTuneJournal(dir_.string(), identity());
    if (!journal.ok())
      return journal.status();
    journal_ = *std::move(journal);
    report_.threadsPerTrial = threadsPerTrial_;
    for (const auto &[number, t] : journal_.trials)
      if (t.objective &&
          (!best_ || better(t, journal_.trials.at(*best_), s.minimizeLoss)))
        best_ = number;

    Planner planner(search_, *impl_.program.tune);
    for (;;) {
      std::vector<TrialResult> batch = planner.next(journal_.trials);
      if (batch.empty())
        break;
      std::vector<TrialResult> todo;
      for (TrialResult &t : batch) {
        auto it = journal_.trials.find(t.number);
        if (it == journal_.trials.end()) {
          todo.push_back(t);
          continue;
        }
        if (it->second.values != t.values ||
            it->second.continues != t.continues)
          return Status(fmt::format(
              "{}/journal.json: trial {} there is not the trial this search "
              "plans; delete {} to start over",
              dir_.string(), t.number, dir_.string()));
        ++report_.resumed;
        if (options_.onTrialEnd)
          options_.onTrialEnd(it->second);
      }
      // Before training: the checkpoints of earlier rounds, except those
      // this one continues from, are no longer needed.
      if (!todo.empty())
        removeCheckpointsExcept(batch);
      if (Status st = runBatch(todo); !st.ok())
        return st;
      if (report_.stopped)
        break;
    }
    if (!report_.stopped) {
      std::error_code ec;
      fs::remove_all(dir_ / "trials", ec);
      // Once more at the end: a run whose trials all came from the journal
      // still leaves complete files (and no temporary of a killed write).
      if (Status st = writeFiles(); !st.ok())
        return st;
    }
    for (const auto &[number, t] : journal_.trials) {
      if (best_ && number == *best_)
        report_.best = report_.trials.size();
      report_.trials.push_back(t);
    }
    return report_;
  }

private:
  api::TuneIdentity identity() const {
    const CompileOptions &c = options_.compile;
    auto opt = [](const auto &o) {
      return o ? fmt::format("{}", *o) : std::string("-");
    };
    api::TuneIdentity id;
    id.fields = {
        {"cnnc version", version()},
        {"model",
         fmt::format("{:016x}", support::hash64(impl_.program.source))},
        {"batch size", opt(c.batchSize)},
        {"optimizer", c.optimizer.value_or("-")},
        {"learning rate", opt(c.learningRate)},
        {"callbacks", c.callbacks.value_or("-")},
        {"seed", opt(c.seed)},
        {"shuffle", opt(c.shuffle)},
        {"epochs cap", std::to_string(options_.epochs)},
        {"image limit", std::to_string(options_.limit)},
        {"data directory", options_.dataDir.empty() ? "-" : options_.dataDir},
        {"threads per trial", std::to_string(threadsPerTrial_)},
    };
    return id;
  }

  void removeCheckpointsExcept(const std::vector<TrialResult> &batch) {
    std::error_code ec;
    fs::path trials = dir_ / "trials";
    if (!fs::is_directory(trials, ec))
      return;
    // This round's continue its predecessors' and may be continued next.
    std::vector<std::string> keep;
    for (const TrialResult &t : batch) {
      keep.push_back(checkpointPath(dir_, t.number));
      if (t.continues)
        keep.push_back(checkpointPath(dir_, t.continues));
    }
    for (const auto &e : fs::directory_iterator(trials, ec))
      if (std::find(keep.begin(), keep.end(), e.path().string()) == keep.end())
        fs::remove(e.path(), ec);
  }

  Status runBatch(std::vector<TrialResult> &todo) {
    if (todo.empty())
      return Status();
    size_t next = 0;
    Status failure;
    auto worker = [&] {
      for (;;) {
        TrialResult *t = nullptr;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          if (next >= todo.size() || !failure.ok() || stopRequested())
            return;
          t = &todo[next++];
        }
        Status s = runTrial(*t);
        std::lock_guard<std::mutex> lock(mutex_);
        if (!s.ok() && failure.ok())
          failure = s;
      }
    };
    size_t workers = std::min<size_t>(
        todo.size(), static_cast<size_t>(std::max(1, options_.parallelTrials)));
    std::vector<std::thread> threads;
    for (size_t i = 1; i < workers; ++i)
      threads.emplace_back(worker);
    worker();
    for (std::thread &th : threads)
      th.join();
    if (stopRequested())
      report_.stopped = true;
    return failure;
  }

  bool stopRequested() const {
    return options_.stop && options_.stop->load(std::memory_order_relaxed);
  }

  // Trains one trial and records it. A failure of the trial is its result;
  // the Status is for what stops the search (data, files).
  Status runTrial(TrialResult &t) {
    const TuneSettings &s = impl_.settings;
    auto start = std::chrono::steady_clock::now();
    std::string source = search_.instantiate(t.values);
    CompileOptions co = options_.compile;
    co.threads = threadsPerTrial_;
    auto model = Model::fromString(source, impl_.program.filename, co);
    std::string ckpt = checkpointPath(dir_, t.number);
    bool improvedOnce = false;
    if (!model.ok()) {
      // Only values the check did not try (a drawn value of a continuous
      // space, or a combination past the check's cap) get here.
      const Status &st = model.status();
      t.error = st.diagnostic() ? st.diagnostic()->message : st.message();
    } else {
      TrainingConfig config = model->config();
      if (!config.validation)
        return Status(fmt::format(
            "{}: tuning needs validation data for its objective; the fit "
            "statement has none",
            impl_.program.filename));
      std::shared_ptr<const std::pair<Dataset, Dataset>> data;
      if (Status st = data_.get(*model, options_.dataDir, data); !st.ok())
        return st;
      if (t.epochs == 0) {
        t.epochs = config.epochs;
        if (s.maxEpochs > 0)
          t.epochs = std::min(t.epochs, s.maxEpochs);
        if (options_.epochs > 0)
          t.epochs = std::min(t.epochs, options_.epochs);
      }
      if (t.continues)
        if (Status st = model->loadWeights(checkpointPath(dir_, t.continues));
            !st.ok())
          return Status(fmt::format("trial {} continues trial {}: {}; delete "
                                    "{} to start the search over",
                                    t.number, t.continues, st.message(),
                                    dir_.string()));
      std::error_code ec;
      fs::create_directories(dir_ / "trials", ec);
      FitOptions fo;
      fo.epochs = t.epochs - t.initialEpoch;
      fo.limit = options_.limit;
      fo.stop = options_.stop;
      Status saveError;
      Model &m = *model;
      // Keras Tuner's score is the best epoch's, and its weights are that
      // epoch's (ModelCheckpoint with save_best_only).
      fo.onEpochEnd = [&](const EpochMetrics &e) {
        if (!e.hasValidation)
          return true;
        double v = s.minimizeLoss ? e.valLoss : e.valAccuracy;
        if (std::isnan(v) ||
            (t.objective &&
             (s.minimizeLoss ? v >= *t.objective : v <= *t.objective)))
          return true;
        t.objective = v;
        t.bestEpoch = t.initialEpoch + e.epoch;
        saveError = m.saveWeights(ckpt);
        improvedOnce = saveError.ok();
        return saveError.ok();
      };
      FitReport report;
      fo.report = &report;
      auto history = m.fit(data->first, &data->second, fo);
      if (!saveError.ok())
        return saveError;
      if (report.stopped)
        return Status(); // unrecorded: it runs again on resume
      t.epochsRun = static_cast<int64_t>(report.history.size());
      if (!history.ok()) {
        t.error = history.status().message();
        t.objective.reset();
      } else if (!t.objective) {
        t.error = "no finite validation result";
      }
    }
    t.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    return record(t, source, improvedOnce ? ckpt : "");
  }

  // The best files first, then the journal: a crash in between reruns the
  // trial, which writes the same best files again.
  Status record(const TrialResult &t, const std::string &source,
                const std::string &ckpt) {
    std::lock_guard<std::mutex> lock(mutex_);
    const TuneSettings &s = impl_.settings;
    if (t.objective && !ckpt.empty() &&
        (!best_ || better(t, journal_.trials.at(*best_), s.minimizeLoss))) {
      auto weights =
          support::readTextFile(ckpt, "a weights file", uint64_t{1} << 40);
      if (!weights.ok())
        return Status(fmt::format("{}: {}", ckpt,
                                  std::string(weights.status().message())));
      if (Status st = api::toStatus(support::writeFileAtomically(
              (dir_ / "best.dsl").string(), source));
          !st.ok())
        return st;
      if (Status st = api::toStatus(support::writeFileAtomically(
              (dir_ / "best.safetensors").string(), *weights));
          !st.ok())
        return st;
      best_ = t.number;
    }
    journal_.trials[t.number] = t;
    if (Status st = writeFiles(); !st.ok())
      return st;
    // Random and grid trials are never continued.
    if (s.strategy != TuneStrategy::Hyperband && !ckpt.empty()) {
      std::error_code ec;
      fs::remove(ckpt, ec);
    }
    if (options_.onTrialEnd)
      options_.onTrialEnd(t);
    return Status();
  }

  // The journal, then results.csv from it.
  Status writeFiles() {
    const TuneSettings &s = impl_.settings;
    if (Status st = writeTuneJournal(dir_.string(), journal_); !st.ok())
      return st;
    std::vector<TrialResult> all;
    for (const auto &[number, r] : journal_.trials)
      all.push_back(r);
    if (Status st = api::toStatus(support::writeFileAtomically(
            (dir_ / "results.csv").string(),
            api::tuneResultsCsv(
                impl_.names, s.strategy == TuneStrategy::Hyperband,
                s.minimizeLoss ? "val_loss" : "val_accuracy", all)));
        !st.ok())
      return st;
    return Status();
  }

  const Search &search_;
  const Search::Impl &impl_;
  const TuneOptions &options_;
  int threadsPerTrial_;
  fs::path dir_;
  std::mutex mutex_; // the journal, the best trial, the report, callbacks
  api::TuneJournal journal_;
  std::optional<int64_t> best_; // its number
  DataCache data_;
  TuneReport report_;
};

} // namespace

Result<TuneReport> Search::tune(const TuneOptions &options) const {
  if (!impl_->program.tune)
    return Status(fmt::format("{}: tuning needs a tune statement, such as "
                              "'tune strategy=random trials=10'",
                              impl_->program.filename));
  if (options.directory.empty())
    return Status("tune: no directory for the search's results");
  if (options.parallelTrials < 1 || options.parallelTrials > 1024)
    return Status(fmt::format("tune: parallel trials must be between 1 and "
                              "1024, got {}",
                              options.parallelTrials));
  fs::path dir = options.directory;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    return Status(
        fmt::format("{}: exists and is not a directory", dir.string()));
  fs::create_directories(dir, ec);
  if (ec)
    return Status(
        fmt::format("{}: cannot create: {}", dir.string(), ec.message()));
  if (access(dir.c_str(), W_OK) != 0)
    return Status(fmt::format("{}: directory is not writable", dir.string()));
  int threads = options.compile.threads > 0
                    ? options.compile.threads
                    : runtime::ThreadPool::defaultThreads();
  int perTrial = std::max(1, threads / options.parallelTrials);
  Runner runner(*this, *impl_, options, perTrial);
  return runner.run();
}

} // namespace cnnc
