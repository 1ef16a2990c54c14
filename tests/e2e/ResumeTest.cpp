// backup_and_restore as a crash meets it: cnnc killed with SIGKILL at random
// moments of training and, every other time, by itself inside a backup
// write (between the temporary's fsync and its rename), started again with
// the same command until it finishes, must leave the weights,
// the history and the csv_logger file byte for byte as one uninterrupted
// run does (the seconds column aside).
#include "TestData.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::testing {
namespace {

std::string slurpFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A history or csv_logger file without its last column (seconds), which
// differs between runs.
std::string withoutSeconds(const std::string &csv) {
  std::string out, line;
  std::istringstream in(csv);
  while (std::getline(in, line))
    out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

// A tutorial-like model whose backup (about 5 MB with Adam's moments) takes
// a good part of each step, so random kills land in writes as well as in
// steps. Dropout and shuffling make every step depend on the restored
// counters; the schedule, on the restored step; early_stopping's best
// weights and csv_logger's file, on the restored callback state.
std::string modelText(int64_t saveFreq, const std::string &optimizer,
                      const std::string &extraCallbacks) {
  return fmt::format(R"(model resume {{
  input shape=(28, 28, 1)
  conv2d 8 3 activation=relu
  max_pooling2d
  dropout 0.25
  flatten
  dense 300 activation=relu
  dense 10 activation=softmax
}}
compile loss=sparse_categorical_crossentropy optimizer={} metrics=[accuracy]
fit dataset=mnist epochs=4 batch_size=50 seed=7 validation=test callbacks=[backup_and_restore("bk", save_freq={}), csv_logger("log.csv"){}]
)",
                     optimizer, saveFreq, extraCallbacks);
}

struct Outputs {
  std::string weights, history, log;
};

class ResumeHarness {
public:
  ResumeHarness() {
    data_ = mnistDir();
    dir_ = fs::temp_directory_path() /
           ("cnnc_resume_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  ~ResumeHarness() { fs::remove_all(dir_); }
  bool hasData() const { return !data_.empty(); }

  // Starts cnnc in `cwd`; returns its pid and a pipe of its stdout. With
  // killAtWrite > 0 it kills itself at that write of its backup, the
  // temporary written and not renamed (support/AtomicFile.cpp).
  std::pair<pid_t, int> start(const fs::path &cwd, int killAtWrite = 0) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 2);
      ::close(fds[0]);
      if (::chdir(cwd.c_str()) != 0)
        ::_exit(127);
      if (killAtWrite > 0) {
        std::string at = "backup.safetensors:" + std::to_string(killAtWrite);
        ::setenv("CNNC_TEST_KILL_BEFORE_RENAME", at.c_str(), 1);
      }
      std::string exe = CNNC_BINARY_DIR "/cnnc";
      std::vector<std::string> args = {exe,       "m.dsl",         "--train",
                                       "--limit", "2000",          "--data",
                                       data_,     "--threads",     "2",
                                       "--save",  "w.safetensors", "--history",
                                       "h.csv"};
      std::vector<char *> argv;
      for (std::string &a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    return {pid, fds[0]};
  }

  // Reads the child's stdout until `marker` shows or it closes.
  static bool waitFor(int fd, const std::string &marker, std::string &seen) {
    char buf[4096];
    while (seen.find(marker) == std::string::npos) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0)
        return false;
      seen.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  fs::path prepare(const std::string &name, const std::string &dsl) {
    fs::path d = dir_ / name;
    fs::create_directories(d);
    std::ofstream(d / "m.dsl") << dsl;
    return d;
  }

  static Outputs outputs(const fs::path &d) {
    return {slurpFile(d / "w.safetensors"),
            withoutSeconds(slurpFile(d / "h.csv")),
            withoutSeconds(slurpFile(d / "log.csv"))};
  }

  // One uninterrupted run; returns its training time in seconds.
  double runWhole(const fs::path &d) {
    auto [pid, fd] = start(d);
    std::string out;
    waitFor(fd, "Training on", out);
    auto t0 = std::chrono::steady_clock::now();
    waitFor(fd, "\x01never", out); // to the end
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    EXPECT_FALSE(fs::exists(d / "bk")) << "the backup outlived the run";
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count();
  }

  // The backup file's identity: a new one appears with every write.
  static std::pair<ino_t, int64_t> backupId(const fs::path &d) {
    struct stat st;
    if (::stat((d / "bk" / "backup.safetensors").c_str(), &st) != 0)
      return {0, 0};
    return {st.st_ino, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
  }

  // Kills the run `kills` times, then lets it finish: every other kill at a
  // random moment once a backup newer than the last has been written (so
  // inside the training loop, not its start-up); the others by the run
  // itself at its second backup write, between the temporary's fsync and
  // its rename (a kill from outside rarely lands in that window). Counts
  // the kills that interrupted a backup write (its temporary left behind).
  struct KillCounts {
    int kills = 0, inWrite = 0, resumed = 0;
  };
  KillCounts killAndResume(const fs::path &d, int kills, double stepSeconds,
                           std::mt19937 &rng) {
    std::uniform_real_distribution<double> delay(0, 4 * stepSeconds);
    KillCounts n;
    for (int attempt = 0; attempt < 10 * kills + 10; ++attempt) {
      auto before = backupId(d);
      bool selfKill = n.kills < kills && n.kills % 2 == 1;
      auto [pid, fd] = start(d, selfKill ? 2 : 0);
      std::string out;
      int status = 0;
      bool reaped = false;
      if (n.kills < kills && !selfKill) {
        // A fresh backup (or the end of the run) within a minute.
        for (int i = 0; i < 120000 && backupId(d) == before && !reaped; ++i) {
          reaped = ::waitpid(pid, &status, WNOHANG) == pid;
          std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        if (!reaped) {
          std::this_thread::sleep_for(
              std::chrono::duration<double>(delay(rng)));
          ::kill(pid, SIGKILL);
        }
      }
      waitFor(fd, "\x01never", out);
      ::close(fd);
      if (!reaped)
        ::waitpid(pid, &status, 0);
      n.resumed += out.find("Restored from") != std::string::npos;
      if (!WIFSIGNALED(status)) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
        return n; // finished
      }
      ++n.kills;
      if (fs::exists(d / "bk"))
        for (const auto &e : fs::directory_iterator(d / "bk"))
          n.inWrite +=
              e.path().filename().string().find(".tmp.") != std::string::npos;
    }
    ADD_FAILURE() << "the run never finished";
    return n;
  }

  // Runs `dsl` once whole, then killed and resumed until at least `kills`
  // kills happened, one or more of them inside a backup write; each killed
  // run must end byte for byte as the whole one.
  void checkResumeIsExact(const std::string &dsl, int kills) {
    ASSERT_FALSE(data_.empty());
    fs::path whole = prepare("whole", dsl);
    double seconds = runWhole(whole);
    Outputs want = outputs(whole);
    ASSERT_FALSE(want.weights.empty());
    // 4 epochs of 40 steps.
    double stepSeconds = seconds / 160;
    std::mt19937 rng(1234);
    KillCounts total;
    for (int cycle = 0; cycle < 6; ++cycle) {
      fs::path killed = prepare("killed" + std::to_string(cycle), dsl);
      KillCounts n = killAndResume(killed, std::max(kills - total.kills, 2),
                                   stepSeconds, rng);
      total.kills += n.kills;
      total.inWrite += n.inWrite;
      total.resumed += n.resumed;
      Outputs got = outputs(killed);
      EXPECT_TRUE(got.weights == want.weights) << "weights differ";
      EXPECT_EQ(got.history, want.history);
      EXPECT_EQ(got.log, want.log);
      EXPECT_FALSE(fs::exists(killed / "bk"));
      if (total.kills >= kills && total.inWrite > 0)
        break;
    }
    std::printf("%d kills (%d inside a backup write), %d resumed runs\n",
                total.kills, total.inWrite, total.resumed);
    ::testing::Test::RecordProperty("kills", total.kills);
    ::testing::Test::RecordProperty("kills_in_backup_write", total.inWrite);
    EXPECT_GE(total.kills, kills);
    EXPECT_GT(total.inWrite, 0);
    EXPECT_GT(total.resumed, 0);
  }

private:
  std::string data_;
  fs::path dir_;
};

#define SKIP_WITHOUT_MNIST(h)                                                  \
  if (!(h).hasData())                                                          \
  GTEST_SKIP() << "MNIST not found (scripts/fetch-mnist.sh)"

// The short version CI runs: a backup every 3 steps, 5 kills.
TEST(ResumeTest, KilledRunsResumeBitExactly) {
  ResumeHarness h;
  SKIP_WITHOUT_MNIST(h);
  h.checkResumeIsExact(
      modelText(3, "adam(learning_rate=exponential_decay(0.002, 40, 0.5))",
                ", early_stopping(monitor=loss, patience=5, "
                "restore_best_weights=true)"),
      5);
}

// Reduce-on-plateau's lowered rate and cooldown live in the backup too.
TEST(ResumeTest, KilledRunsResumeBitExactlyWithReduceLrOnPlateau) {
  ResumeHarness h;
  SKIP_WITHOUT_MNIST(h);
  h.checkResumeIsExact(modelText(1, "sgd(learning_rate=0.05, momentum=0.9)",
                                 ", reduce_lr_on_plateau(monitor=val_accuracy, "
                                 "patience=0, factor=0.5, cooldown=1)"),
                       5);
}

// The full version (slow label): at least 20 kills, a backup every step.
TEST(MnistEndToEnd, ResumeAfterTwentyKillsIsBitExact) {
  ResumeHarness h;
  SKIP_WITHOUT_MNIST(h);
  h.checkResumeIsExact(
      modelText(1, "adam(learning_rate=cosine_decay(0.002, 150, alpha=0.1))",
                ", early_stopping(monitor=val_loss, patience=2, "
                "restore_best_weights=true)"),
      20);
}

} // namespace

} // namespace cnnc::testing
