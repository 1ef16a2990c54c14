// The fit statement's callbacks against Keras 3's semantics, on scripted
// histories: which epoch early_stopping stops at and which weights it
// restores, which epochs model_checkpoint saves, what csv_logger writes.
#include "runtime/Callbacks.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::runtime {
namespace {

// A model whose only weight is the epoch it was last "trained" in, so a
// restore says which epoch's weights came back, and whose saves are
// recorded instead of written.
struct FakeModel {
  float weight = 0;
  std::map<std::string, float> saved;
  CallbackHooks hooks() {
    CallbackHooks h;
    h.snapshotWeights = [this] {
      return std::vector<std::vector<float>>{{weight}};
    };
    h.restoreWeights = [this](const std::vector<std::vector<float>> &w) {
      weight = w[0][0];
    };
    h.saveWeights = [this](const std::string &path) {
      saved[path] = weight;
      return absl::OkStatus();
    };
    return h;
  }
};

// Runs `callbacks` over epochs with these val_losses (and losses); returns
// the epoch it stopped at (0: ran them all) and the notes.
struct EpochsRun {
  int stoppedAt = 0;
  std::vector<std::string> notes;
};
EpochsRun runEpochs(Callbacks &callbacks, FakeModel &model,
                    const std::vector<double> &valLosses) {
  EpochsRun run;
  std::vector<EpochRecord> history;
  for (size_t i = 0; i < valLosses.size(); ++i) {
    EpochRecord r;
    r.epoch = static_cast<int>(i + 1);
    r.loss = 1.0 / (i + 1);
    r.accuracy = 1 - valLosses[i];
    r.hasValidation = true;
    r.valLoss = valLosses[i];
    r.valAccuracy = 1 - valLosses[i];
    model.weight = static_cast<float>(r.epoch); // "trained" this epoch
    history.push_back(r);
    auto stop = callbacks.epochEnd(history, run.notes);
    EXPECT_TRUE(stop.ok()) << stop.status();
    if (stop.ok() && *stop) {
      run.stoppedAt = r.epoch;
      break;
    }
  }
  return run;
}

ir::CallbackSpec earlyStopping(int64_t patience, bool restore = false) {
  ir::CallbackSpec s;
  s.kind = ir::CallbackKind::EarlyStopping;
  s.patience = patience;
  s.restoreBestWeights = restore;
  return s;
}

TEST(Callbacks, EarlyStoppingStopsAfterPatienceEpochsWithoutImprovement) {
  // Best at epoch 3; epochs 4 and 5 do not improve: with patience 2 Keras
  // stops at epoch 5 (wait reaches 2 there).
  std::vector<double> val = {0.5, 0.4, 0.3, 0.31, 0.35, 0.2, 0.1};
  for (auto [patience, stop] : {std::pair{0, 4}, {1, 4}, {2, 5}, {3, 0}}) {
    FakeModel m;
    Callbacks cb({earlyStopping(patience)}, m.hooks());
    EpochsRun r = runEpochs(cb, m, val);
    EXPECT_EQ(r.stoppedAt, stop) << "patience " << patience;
    if (stop) {
      EXPECT_EQ(m.weight, static_cast<float>(stop)); // not restored
      ASSERT_EQ(r.notes.size(), 1u);
      EXPECT_EQ(r.notes[0],
                "Epoch " + std::to_string(stop) + ": early stopping");
    }
  }
}

TEST(Callbacks, EarlyStoppingRestoresTheBestEpochsWeights) {
  FakeModel m;
  Callbacks cb({earlyStopping(2, true)}, m.hooks());
  EpochsRun r = runEpochs(cb, m, {0.5, 0.4, 0.3, 0.31, 0.35, 0.2});
  EXPECT_EQ(r.stoppedAt, 5);
  EXPECT_EQ(m.weight, 3.0f);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0], "Epoch 5: early stopping; restoring weights from "
                        "epoch 3");
}

TEST(Callbacks, EarlyStoppingMinDeltaModeAndStartEpoch) {
  // Improvements smaller than min_delta do not count.
  ir::CallbackSpec s = earlyStopping(2);
  s.minDelta = 0.05;
  FakeModel m;
  Callbacks cb({s}, m.hooks());
  EXPECT_EQ(runEpochs(cb, m, {0.5, 0.47, 0.46, 0.3}).stoppedAt, 3);
  s.minDelta = 0;
  FakeModel m1;
  Callbacks cb1({s}, m1.hooks());
  EXPECT_EQ(runEpochs(cb1, m1, {0.5, 0.47, 0.46, 0.3}).stoppedAt, 0);

  // Monitoring val_accuracy (mode auto: max), which is 1 - val_loss here.
  ir::CallbackSpec acc = earlyStopping(0);
  acc.monitor = ir::Monitor::ValAccuracy;
  FakeModel m2;
  Callbacks cb2({acc}, m2.hooks());
  EXPECT_EQ(runEpochs(cb2, m2, {0.5, 0.4, 0.45}).stoppedAt, 3);

  // mode=max on a loss: a rising loss is the improvement.
  ir::CallbackSpec inverted = earlyStopping(0);
  inverted.mode = ir::MonitorMode::Max;
  FakeModel m3;
  Callbacks cb3({inverted}, m3.hooks());
  EXPECT_EQ(runEpochs(cb3, m3, {0.5, 0.6, 0.55}).stoppedAt, 3);

  // start_from_epoch=3: the first three epochs are not watched.
  ir::CallbackSpec late = earlyStopping(0);
  late.startFromEpoch = 3;
  FakeModel m4;
  Callbacks cb4({late}, m4.hooks());
  EXPECT_EQ(runEpochs(cb4, m4, {0.1, 0.9, 0.9, 0.9, 0.95}).stoppedAt, 5);
}

TEST(Callbacks, ModelCheckpointSavesTheImprovingEpochs) {
  ir::CallbackSpec best;
  best.kind = ir::CallbackKind::ModelCheckpoint;
  best.path = "best.safetensors";
  best.saveBestOnly = true;
  ir::CallbackSpec every;
  every.kind = ir::CallbackKind::ModelCheckpoint;
  every.path = "w-{epoch:02d}.safetensors";
  FakeModel m;
  Callbacks cb({best, every}, m.hooks());
  EpochsRun r = runEpochs(cb, m, {0.5, 0.6, 0.4, 0.45});
  EXPECT_EQ(m.saved["best.safetensors"], 3.0f); // the last improvement
  for (int e = 1; e <= 4; ++e)
    EXPECT_EQ(m.saved["w-0" + std::to_string(e) + ".safetensors"],
              static_cast<float>(e));
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_EQ(r.notes[0], "Epoch 1: val_loss improved from inf to 0.50000, "
                        "saving weights to best.safetensors");
  EXPECT_EQ(r.notes[1], "Epoch 3: val_loss improved from 0.50000 to "
                        "0.40000, saving weights to best.safetensors");
}

TEST(Callbacks, CheckpointPathFormatsTheEpoch) {
  EXPECT_EQ(Callbacks::checkpointPath("w-{epoch}.st", 7), "w-7.st");
  EXPECT_EQ(Callbacks::checkpointPath("w-{epoch:03d}.st", 7), "w-007.st");
  EXPECT_EQ(Callbacks::checkpointPath("{epoch}{epoch:02d}", 12), "1212");
  EXPECT_EQ(Callbacks::checkpointPath("w-{step}.st", 7), "w-{step}.st");
  EXPECT_EQ(Callbacks::checkpointPath("w-{epoch:0", 7), "w-{epoch:0");
}

TEST(Callbacks, CsvLoggerWritesEveryEpochAndAppends) {
  fs::path path = fs::temp_directory_path() /
                  ("cnnc_csv_logger_" + std::to_string(::getpid()) + ".csv");
  fs::remove(path);
  ir::CallbackSpec log;
  log.kind = ir::CallbackKind::CsvLogger;
  log.path = path.string();
  auto slurp = [&] {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto lines = [](const std::string &s) {
    return std::count(s.begin(), s.end(), '\n');
  };
  {
    FakeModel m;
    Callbacks cb({log}, m.hooks());
    runEpochs(cb, m, {0.5, 0.4});
  }
  std::string first = slurp();
  EXPECT_EQ(first.rfind("epoch,accuracy,loss,val_accuracy,val_loss,seconds\n"
                        "0,0.5,1.0,0.5,0.5,0.0\n",
                        0),
            0u)
      << first;
  EXPECT_EQ(lines(first), 3);
  // Without append a new run starts the file over; with it, rows follow.
  {
    FakeModel m;
    Callbacks cb({log}, m.hooks());
    runEpochs(cb, m, {0.5});
  }
  EXPECT_EQ(lines(slurp()), 2);
  log.append = true;
  {
    FakeModel m;
    Callbacks cb({log}, m.hooks());
    runEpochs(cb, m, {0.3, 0.2});
  }
  std::string appended = slurp();
  EXPECT_EQ(lines(appended), 4) << appended;
  EXPECT_EQ(appended.find("epoch,", 1), std::string::npos) << appended;
  fs::remove(path);
}

} // namespace
} // namespace cnnc::runtime

namespace cnnc::runtime {
namespace {

// A model with a learning rate for reduce_lr_on_plateau to lower.
struct RateModel : FakeModel {
  float lr = 0.1f;
  CallbackHooks hooks() {
    CallbackHooks h = FakeModel::hooks();
    h.learningRate = [this] { return lr; };
    h.setLearningRate = [this](float v) { lr = v; };
    return h;
  }
};

ir::CallbackSpec reduceLr(int64_t patience, double factor, int64_t cooldown,
                          double minLr) {
  ir::CallbackSpec s;
  s.kind = ir::CallbackKind::ReduceLrOnPlateau;
  s.patience = patience;
  s.factor = factor;
  s.cooldown = cooldown;
  s.minLr = minLr;
  s.minDelta = 1e-4;
  return s;
}

// The rate after each epoch of `valLosses`, and the notes.
std::vector<float> ratesAfter(Callbacks &cb, RateModel &m,
                              const std::vector<double> &valLosses,
                              std::vector<std::string> &notes) {
  std::vector<EpochRecord> history;
  std::vector<float> rates;
  for (size_t i = 0; i < valLosses.size(); ++i) {
    EpochRecord r;
    r.epoch = static_cast<int>(i + 1);
    r.hasValidation = true;
    r.valLoss = valLosses[i];
    history.push_back(r);
    auto stop = cb.epochEnd(history, notes);
    EXPECT_TRUE(stop.ok()) << stop.status();
    rates.push_back(m.lr);
    if (!stop.ok() || *stop)
      break;
  }
  return rates;
}

// Keras 3: wait counts epochs without an improvement larger than min_delta;
// at patience the rate becomes max(lr * factor, min_lr) (lr the f32 value
// widened, the product stored back in f32), wait resets and cooldown epochs
// follow in which wait stays 0.
TEST(Callbacks, ReduceLrOnPlateauLowersAtPatienceWithCooldownAndFloor) {
  RateModel m;
  Callbacks cb({reduceLr(2, 0.5, 1, 0.02)}, m.hooks());
  std::vector<std::string> notes;
  // Best at epoch 2; 3 and 4 do not improve: reduce at 4. Cooldown 1 ends
  // at 5 (Keras decrements before it checks, so 5 counts): reduce at 6.
  // 7 counts; 8 improves by less than min_delta: reduce at 8, to the floor
  // 0.02 (0.025 * 0.5 < 0.02). From 10 on, the rate is at the floor.
  std::vector<double> val = {1.0,  0.5,     0.6,  0.7,  0.8,  0.9,
                             0.55, 0.50005, 0.51, 0.52, 0.53, 0.54};
  std::vector<float> rates = ratesAfter(cb, m, val, notes);
  auto f = [](double v) { return static_cast<float>(v); };
  float r1 = f(double(0.1f) * 0.5), r2 = f(double(r1) * 0.5);
  std::vector<float> want = {0.1f, 0.1f,  0.1f,  r1,    r1,    r2,
                             r2,   0.02f, 0.02f, 0.02f, 0.02f, 0.02f};
  EXPECT_EQ(rates, want);
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[0], fmt::format("Epoch 4: ReduceLROnPlateau reducing "
                                  "learning rate to {}.",
                                  double(0.1f) * 0.5));
  EXPECT_EQ(notes[1], fmt::format("Epoch 6: ReduceLROnPlateau reducing "
                                  "learning rate to {}.",
                                  double(r1) * 0.5));
  EXPECT_EQ(notes[2], "Epoch 8: ReduceLROnPlateau reducing learning rate to "
                      "0.02.");
}

// What a backup keeps of the callbacks restores them exactly: the run
// continues as if it had not stopped.
TEST(Callbacks, SavedStateRestoresExactly) {
  std::vector<double> val = {0.5, 0.4, 0.45, 0.47, 0.3, 0.35, 0.36, 0.37};
  auto specs = std::vector<ir::CallbackSpec>{earlyStopping(3, true),
                                             reduceLr(1, 0.5, 1, 0)};
  RateModel whole;
  Callbacks a(specs, whole.hooks());
  std::vector<std::string> wholeNotes;
  std::vector<float> wholeRates = ratesAfter(a, whole, val, wholeNotes);

  RateModel first;
  Callbacks b(specs, first.hooks());
  std::vector<std::string> notes;
  std::vector<float> rates = ratesAfter(
      b, first, std::vector<double>(val.begin(), val.begin() + 4), notes);
  std::vector<CallbackState> saved = b.saveState();
  RateModel second;
  second.lr = first.lr;
  Callbacks c(specs, second.hooks());
  ASSERT_TRUE(c.restoreState(saved).ok());
  // The rest of the epochs, with the history so far.
  std::vector<EpochRecord> history;
  for (size_t i = 0; i < val.size(); ++i) {
    EpochRecord r;
    r.epoch = static_cast<int>(i + 1);
    r.hasValidation = true;
    r.valLoss = val[i];
    history.push_back(r);
    if (i < 4)
      continue;
    auto stop = c.epochEnd(history, notes);
    ASSERT_TRUE(stop.ok());
    rates.push_back(second.lr);
    if (*stop)
      break;
  }
  EXPECT_EQ(rates, std::vector<float>(wholeRates.begin(),
                                      wholeRates.begin() + rates.size()));
  EXPECT_EQ(notes, wholeNotes);

  // State that does not fit is refused.
  EXPECT_FALSE(
      Callbacks({earlyStopping(2)}, second.hooks()).restoreState(saved).ok());
  saved[0].values["wait"] = "x";
  EXPECT_FALSE(Callbacks(specs, second.hooks()).restoreState(saved).ok());
}

} // namespace
} // namespace cnnc::runtime
