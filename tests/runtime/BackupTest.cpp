// backup_and_restore's file: a round trip keeps every number bit for bit
// (NaN included), a backup of another version, model, recipe, data set or
// thread count is refused with a message that says which, and a damaged
// file is an error, never a silent fresh start.
#include "runtime/Backup.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::runtime {
namespace {

class BackupTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("cnnc_backup_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  static BackupIdentity identity() {
    return {"0.1.0", "model-hash", "recipe-hash", "2000 images", 2};
  }

  static TrainingBackup sample() {
    TrainingBackup b;
    b.identity = identity();
    b.epoch = 3;
    b.step = 17;
    b.globalStep = 1234567;
    b.globalEpoch = 9;
    b.lossSum = 0.1 + 0.2; // not a short decimal
    b.correct = 1e300;
    b.seconds = 1.0 / 3;
    b.seen = 544;
    b.learningRate = 0.001f;
    EpochRecord r;
    r.epoch = 1;
    r.loss = std::nan("");
    r.accuracy = 0.5;
    r.hasValidation = true;
    r.valLoss = INFINITY;
    r.valAccuracy = 1.0 / 7;
    r.seconds = 2.5;
    r.learningRate = 0.0005;
    b.history = {r, r};
    b.history[1].epoch = 2;
    b.history[1].hasValidation = false;
    CallbackState c;
    c.values = {{"best", "0.25"}, {"csv_prefix", std::string("a\0\xff\n", 4)}};
    c.bestWeights = {{1.5f, -2.0f}, {3.0f}};
    b.callbacks = {c, CallbackState{}};
    b.tensors = {{"dense.kernel", {2, 2}, {1, 2, 3, 4}},
                 {"dense.kernel.m", {2, 2}, {0.5f, 0, -0.0f, 7}}};
    return b;
  }

  fs::path dir;
};

TEST_F(BackupTest, RoundTripIsExact) {
  TrainingBackup b = sample();
  ASSERT_TRUE(writeBackup(dir.string(), b).ok());
  auto read = readBackup(dir.string(), identity());
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  const TrainingBackup &r = **read;
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.step, 17);
  EXPECT_EQ(r.globalStep, 1234567);
  EXPECT_EQ(r.globalEpoch, 9);
  EXPECT_EQ(r.lossSum, 0.1 + 0.2);
  EXPECT_EQ(r.correct, 1e300);
  EXPECT_EQ(r.seconds, 1.0 / 3);
  EXPECT_EQ(r.seen, 544);
  EXPECT_EQ(r.learningRate, 0.001f);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_TRUE(std::isnan(r.history[0].loss));
  EXPECT_EQ(r.history[0].valLoss, INFINITY);
  EXPECT_EQ(r.history[0].valAccuracy, 1.0 / 7);
  EXPECT_EQ(r.history[0].learningRate, 0.0005);
  EXPECT_FALSE(r.history[1].hasValidation);
  ASSERT_EQ(r.callbacks.size(), 2u);
  EXPECT_EQ(r.callbacks[0].values, b.callbacks[0].values);
  EXPECT_EQ(r.callbacks[0].bestWeights, b.callbacks[0].bestWeights);
  EXPECT_TRUE(r.callbacks[1].values.empty());
  ASSERT_EQ(r.tensors.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(r.tensors[i].shape, b.tensors[i].shape);
    EXPECT_EQ(r.tensors[i].data, b.tensors[i].data);
  }
  EXPECT_TRUE(std::signbit(r.tensors[1].data[2])); // -0 stays -0

  ASSERT_TRUE(removeBackup(dir.string()).ok());
  EXPECT_FALSE(fs::exists(dir));
  auto none = readBackup(dir.string(), identity());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(BackupTest, RefusesABackupOfAnotherRun) {
  ASSERT_TRUE(writeBackup(dir.string(), sample()).ok());
  struct Case {
    void (*change)(BackupIdentity &);
    const char *says;
  };
  for (Case c : {
           Case{[](BackupIdentity &i) { i.version = "0.2.0"; },
                "another cnnc version (0.1.0, now 0.2.0)"},
           Case{[](BackupIdentity &i) { i.model = "x"; }, "another model;"},
           Case{[](BackupIdentity &i) { i.recipe = "x"; },
                "another training recipe;"},
           Case{[](BackupIdentity &i) { i.data = "x"; },
                "another training data;"},
           Case{[](BackupIdentity &i) { i.threads = 1; },
                "another thread count (2, now 1)"},
       }) {
    BackupIdentity id = identity();
    c.change(id);
    auto r = readBackup(dir.string(), id);
    ASSERT_FALSE(r.ok()) << c.says;
    std::string msg(r.status().message());
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    EXPECT_NE(msg.find("to start training from the beginning"),
              std::string::npos)
        << msg;
  }
}

TEST_F(BackupTest, DamagedFilesAreErrors) {
  ASSERT_TRUE(writeBackup(dir.string(), sample()).ok());
  std::string path = backupPath(dir.string());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Truncated (a copy cut short, not a crash: writes are atomic).
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << bytes.substr(0, bytes.size() / 2);
  EXPECT_FALSE(readBackup(dir.string(), identity()).ok());
  // A weights file where the backup should be.
  std::string state = "\"state\":\"";
  size_t at = bytes.find(state);
  ASSERT_NE(at, std::string::npos);
  std::string broken = bytes;
  broken[at + state.size()] = 'X'; // the state is no longer JSON
  std::ofstream(path, std::ios::binary | std::ios::trunc) << broken;
  auto r = readBackup(dir.string(), identity());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("malformed backup state"),
            std::string::npos)
      << r.status();
}

} // namespace
} // namespace cnnc::runtime
