// The fit statement's callbacks against Keras 3's semantics, on scripted
// histories: which epoch early_stopping stops at and which weights it
// restores, which epochs model_checkpoint saves, what csv_logger writes.
#include "runtime/Callbacks.h"

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
