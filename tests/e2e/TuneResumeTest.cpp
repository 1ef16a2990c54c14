// cnnc --tune beyond one uninterrupted run: hyperband's plan, trials side
// by side, and a search killed with SIGKILL (mid-trial and mid-journal
// write) that continues to the same results as an uninterrupted one.
#include "TestData.h"
#include "common/RunTool.h"
#include "frontend/SearchSpace.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::testing {
namespace {

// 2 brackets: 3 trials of 1 epoch and the best continued to 3, then 2 of 3.
const char kHyperband[] = R"(model tiny {
  input shape=(28, 28, 1)
  conv2d filters=choice(2, 4, 6) kernel_size=3 strides=2 activation=relu
  max_pooling2d pool_size=2
  flatten
  dropout rate=uniform(0.0, 0.3)
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=1 batch_size=32 validation=test
tune strategy=hyperband max_epochs=3 factor=3 seed=11
)";

std::vector<std::string> fields(const std::string &line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == ',')
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}

// results.csv without its last column (seconds).
std::string withoutSeconds(const std::string &csv) {
  std::string out;
  for (const std::string &l : lines(csv))
    out += l.substr(0, l.rfind(',')) + "\n";
  return out;
}

class TuneResumeTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (mnistDir().empty())
      GTEST_SKIP() << "no MNIST (scripts/fetch-mnist.sh)";
    dir_ = fs::temp_directory_path() /
           ("cnnc_tune_resume_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    model_ = dir_ / "m.dsl";
    std::ofstream(model_) << kHyperband;
  }
  void TearDown() override {
    if (!dir_.empty())
      fs::remove_all(dir_);
  }

  std::vector<std::string> args(const std::string &out, int threads,
                                int parallel) const {
    return {CNNC_BINARY_DIR "/cnnc",
            model_.string(),
            "--tune",
            "--limit",
            "1000",
            "--data",
            mnistDir(),
            "--threads",
            std::to_string(threads),
            "--parallel-trials",
            std::to_string(parallel),
            "--tune-dir",
            (dir_ / out).string()};
  }

  RunResult run(const std::string &out, int threads = 2, int parallel = 1) {
    std::string cmd;
    for (const std::string &a : args(out, threads, parallel))
      cmd += a + " ";
    return runTool(cmd, dir_);
  }

  // Starts cnnc --tune with stdout to /dev/null and stderr to dir_/stderr;
  // with killAtWrite > 0 it kills itself at that write of the journal, the
  // temporary written and not renamed (support/AtomicFile.cpp).
  pid_t start(const std::string &out, int killAtWrite = 0) {
    std::vector<std::string> a = args(out, 2, 1);
    std::string err = (dir_ / "stderr").string();
    std::vector<std::string> env;
    for (char **e = environ; *e; ++e)
      env.emplace_back(*e);
    if (killAtWrite > 0)
      env.push_back("CNNC_TEST_KILL_BEFORE_RENAME=journal.json:" +
                    std::to_string(killAtWrite));
    pid_t pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      int errFd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(null, 1);
      ::dup2(errFd, 2);
      std::vector<char *> argv;
      for (std::string &s : a)
        argv.push_back(s.data());
      argv.push_back(nullptr);
      std::vector<char *> envp;
      for (std::string &s : env)
        envp.push_back(s.data());
      envp.push_back(nullptr);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    return pid;
  }

  fs::path dir_, model_;
};

std::set<std::string> journalTemporaries(const fs::path &dir) {
  std::set<std::string> names;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("journal.json.tmp.", 0) == 0)
      names.insert(e.path().filename().string());
  return names;
}

TEST_F(TuneResumeTest, HyperbandPromotesTheBestOfEachRound) {
  RunResult r = run("hb");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  frontend::SearchResult parsed = frontend::parseSearch(kHyperband, "m.dsl");
  ASSERT_TRUE(parsed.program);
  const frontend::SearchProgram &p = *parsed.program;

  std::vector<std::string> csv = lines(slurp(dir_ / "hb/results.csv"));
  ASSERT_EQ(csv.size(), 7u) << slurp(dir_ / "hb/results.csv");
  EXPECT_EQ(csv[0], "trial,filters@3,rate@6,bracket,round,continues,"
                    "initial_epoch,epochs,val_accuracy,seconds");
  std::vector<std::vector<std::string>> row;
  for (size_t i = 1; i < csv.size(); ++i) {
    row.push_back(fields(csv[i]));
    ASSERT_EQ(row.back().size(), 10u) << csv[i];
    EXPECT_EQ(row.back()[0], std::to_string(i));
  }
  // Round 0 of bracket 1: draws 0-2 for 1 epoch; then bracket 0: draws
  // 3-4 for 3 epochs.
  int draw[] = {0, 1, 2, -1, 3, 4};
  for (int i = 0; i < 6; ++i) {
    if (draw[i] < 0)
      continue;
    std::vector<std::string> v = frontend::randomTrial(p, 11, draw[i]);
    EXPECT_EQ(row[i][1], v[0]) << "trial " << i + 1;
    EXPECT_EQ(row[i][2], v[1]) << "trial " << i + 1;
    EXPECT_EQ(row[i][3], i < 4 ? "1" : "0");
    EXPECT_EQ(row[i][4], "0");
    EXPECT_EQ(row[i][5], "");
    EXPECT_EQ(row[i][6], "0");
    EXPECT_EQ(row[i][7], i < 3 ? "1" : "3");
  }
  // Trial 4 continues the best of trials 1-3 (ties: the earlier) from
  // epoch 1 to 3, with its values.
  size_t best = 0;
  for (size_t i = 1; i < 3; ++i)
    if (std::stod(row[i][8]) > std::stod(row[best][8]))
      best = i;
  EXPECT_EQ(row[3][1], row[best][1]);
  EXPECT_EQ(row[3][2], row[best][2]);
  EXPECT_EQ(row[3][3], "1");
  EXPECT_EQ(row[3][4], "1");
  EXPECT_EQ(row[3][5], std::to_string(best + 1));
  EXPECT_EQ(row[3][6], "1");
  EXPECT_EQ(row[3][7], "3");
  // The checkpoints are gone once the search is over.
  EXPECT_FALSE(fs::exists(dir_ / "hb/trials"));
  EXPECT_TRUE(fs::exists(dir_ / "hb/journal.json"));
}

TEST_F(TuneResumeTest, ParallelTrialsMatchSequentialOnesOfTheSameThreads) {
  // Two trials side by side on 2 threads run on 1 thread each: the same
  // trials as one at a time on 1 thread, bit for bit.
  RunResult seq = run("seq", 1, 1);
  ASSERT_EQ(seq.status, 0) << seq.out << seq.err;
  RunResult par = run("par", 2, 2);
  ASSERT_EQ(par.status, 0) << par.out << par.err;
  EXPECT_EQ(withoutSeconds(slurp(dir_ / "par/results.csv")),
            withoutSeconds(slurp(dir_ / "seq/results.csv")));
  EXPECT_EQ(slurp(dir_ / "par/best.safetensors"),
            slurp(dir_ / "seq/best.safetensors"));
  EXPECT_EQ(slurp(dir_ / "par/best.dsl"), slurp(dir_ / "seq/best.dsl"));
}

TEST_F(TuneResumeTest, KilledSearchesContinueToTheSameResults) {
  // 23 trials in 3 brackets.
  std::string text = kHyperband;
  text.replace(text.find("max_epochs=3"), 12, "max_epochs=9");
  std::ofstream(model_) << text;
  // Timed with the kernels cached: a first run's compiles made the search
  // look several times longer than the resumed runs, whose kills (at up to
  // a sixth of it) then came after they had finished.
  RunResult warm = run("warm");
  ASSERT_EQ(warm.status, 0) << warm.out << warm.err;
  auto t0 = std::chrono::steady_clock::now();
  RunResult whole = run("whole");
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_EQ(whole.status, 0) << whole.out << whole.err;
  std::string want = withoutSeconds(slurp(dir_ / "whole/results.csv"));
  ASSERT_EQ(lines(want).size(), 24u) << want;
  EXPECT_EQ(withoutSeconds(slurp(dir_ / "warm/results.csv")), want);

  // Every other kill at a random moment (mostly inside a trial), the others
  // inside the first, second or third journal write of the run (the process
  // kills itself between the temporary's fsync and its rename: a kill from
  // outside missed that window in all of 36 tries on a loaded machine);
  // then resumed until a run finishes. A search that ends before enough
  // kills (a loaded machine) is followed by another in a fresh directory.
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> delay(0.05, seconds / 6);
  int kills = 0, inWrite = 0, inTrial = 0;
  for (int cycle = 0; cycle < 4; ++cycle) {
    std::string name = "killed" + std::to_string(cycle);
    fs::path out = dir_ / name;
    fs::create_directories(out);
    bool finished = false;
    for (int attempt = 0; attempt < 60 && !finished; ++attempt) {
      std::set<std::string> before = journalTemporaries(out);
      bool kill = kills < 8 || inWrite == 0 || inTrial == 0;
      bool inAWrite = kill && attempt % 2 == 1;
      pid_t pid = start(name, inAWrite ? 1 + attempt / 2 % 3 : 0);
      if (kill && !inAWrite) {
        std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
        ::kill(pid, SIGKILL);
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (!WIFSIGNALED(status)) {
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << slurp(dir_ / "stderr");
        finished = true;
        break;
      }
      ++kills;
      std::set<std::string> after = journalTemporaries(out);
      if (std::any_of(after.begin(), after.end(), [&](const std::string &t) {
            return before.count(t) == 0;
          }))
        ++inWrite; // a new temporary: killed while writing it (a run may
                   // also have removed an earlier run's)
      else if (fs::exists(out / "trials"))
        ++inTrial; // checkpoints of a search in progress, no write under way
    }
    // What the kills hit so far, for a failure on a loaded machine.
    std::string tally =
        fmt::format("cycle {}: {} kills ({} inside a journal write, {} inside "
                    "a trial); the whole search took {:.1f} s",
                    cycle, kills, inWrite, inTrial, seconds);
    ASSERT_TRUE(finished) << tally << "\n" << slurp(dir_ / "stderr");
    EXPECT_EQ(withoutSeconds(slurp(out / "results.csv")), want) << tally;
    EXPECT_EQ(slurp(out / "best.safetensors"),
              slurp(dir_ / "whole/best.safetensors"));
    EXPECT_EQ(slurp(out / "best.dsl"), slurp(dir_ / "whole/best.dsl"));
    EXPECT_TRUE(journalTemporaries(out).empty()) << "stale temporaries stay";
    if (kills >= 8 && inWrite > 0 && inTrial > 0)
      break;
  }
  std::printf("%d kills (%d inside a journal write, %d inside a trial)\n",
              kills, inWrite, inTrial);
  EXPECT_GE(kills, 8);
  EXPECT_GT(inWrite, 0);
  EXPECT_GT(inTrial, 0);
}

TEST_F(TuneResumeTest, AJournalOfAnotherSearchIsRefused) {
  RunResult first = run("j");
  ASSERT_EQ(first.status, 0) << first.out << first.err;
  // Another seed: another search.
  std::ofstream(model_) << std::string(kHyperband)
                               .replace(std::string(kHyperband).find("seed=11"),
                                        7, "seed=12");
  RunResult second = run("j");
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("journal.json: the search there was run with "
                            "another model"),
            std::string::npos)
      << second.err;
  // A damaged journal.
  std::ofstream(dir_ / "j/journal.json") << "{\"format\": 3";
  RunResult third = run("j");
  EXPECT_EQ(third.status, 1);
  EXPECT_NE(third.err.find("not a tune journal cnnc can continue"),
            std::string::npos)
      << third.err;
  EXPECT_EQ(lines(third.err).size(), 1u) << third.err;
}

} // namespace
} // namespace cnnc::testing
