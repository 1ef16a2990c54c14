#include "support/AtomicFile.h"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using cnnc::support::writeFileAtomically;

std::string readAll(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream got;
  got << in.rdbuf();
  return got.str();
}

namespace {

class AtomicFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cnnc-af-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> listDir() const {
    std::vector<std::string> names;
    for (const auto &e : fs::directory_iterator(dir_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, WritesAndReplaces) {
  std::string p = (dir_ / "f").string();
  ASSERT_TRUE(writeFileAtomically(p, "first").ok());
  ASSERT_TRUE(
      writeFileAtomically(p, std::vector<std::string_view>{"sec", "ond"}).ok());
  std::ifstream in(p, std::ios::binary);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), "second");
  EXPECT_EQ(listDir(), std::vector<std::string>{"f"});
}

// Threads writing one path at once each use their own temporary file: every
// write succeeds, and the file ends up as one of the complete contents.
TEST_F(AtomicFileTest, ConcurrentWritersOfOnePathAllSucceed) {
  const int kThreads = 8, kWrites = 25;
  std::string p = (dir_ / "shared").string();
  std::vector<std::string> contents;
  for (int t = 0; t < kThreads; ++t)
    contents.push_back(std::string(64 * 1024 + t, static_cast<char>('a' + t)));

  std::vector<int> failures(kThreads, 0);
  std::vector<std::string> messages(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i)
        if (absl::Status s = writeFileAtomically(p, contents[t]); !s.ok()) {
          ++failures[t];
          messages[t] = std::string(s.message());
        }
    });
  for (std::thread &th : threads)
    th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[t], 0) << "thread " << t << ": " << messages[t];

  std::ifstream in(p, std::ios::binary);
  std::stringstream got;
  got << in.rdbuf();
  std::set<std::string> valid(contents.begin(), contents.end());
  EXPECT_TRUE(valid.count(got.str())) << "size " << got.str().size();
  EXPECT_EQ(listDir(), std::vector<std::string>{"shared"}); // no temporaries
}

TEST_F(AtomicFileTest, WritesIntoTheCurrentDirectoryByBareName) {
  fs::path old = fs::current_path();
  fs::current_path(dir_);
  absl::Status s = writeFileAtomically("bare", "x");
  fs::current_path(old);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(listDir(), std::vector<std::string>{"bare"});
}

// A symlink stays a symlink: its target gets the new contents, through a
// temporary next to the target (relative links resolve from the link's
// directory; a dangling link's target is created).
TEST_F(AtomicFileTest, WritesThroughSymlinks) {
  fs::create_directories(dir_ / "real");
  fs::create_directories(dir_ / "links");
  std::ofstream(dir_ / "real" / "w") << "old";
  fs::create_symlink("../real/w", dir_ / "links" / "w");
  fs::create_symlink(dir_ / "links" / "w", dir_ / "w2"); // a chain
  ASSERT_TRUE(writeFileAtomically((dir_ / "w2").string(), "new").ok());
  EXPECT_TRUE(fs::is_symlink(dir_ / "w2"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "links" / "w"));
  EXPECT_EQ(readAll(dir_ / "real" / "w"), "new");
  EXPECT_EQ(fs::directory_iterator(dir_ / "real")->path().filename(), "w");

  fs::create_symlink("missing", dir_ / "dangling");
  ASSERT_TRUE(writeFileAtomically((dir_ / "dangling").string(), "made").ok());
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling"));
  EXPECT_EQ(readAll(dir_ / "missing"), "made");

  fs::create_symlink("loop", dir_ / "loop");
  absl::Status loop = writeFileAtomically((dir_ / "loop").string(), "x");
  EXPECT_EQ(std::string(loop.message()).rfind((dir_ / "loop").string(), 0), 0u)
      << loop;
}

// Directories, FIFOs and devices are refused, never replaced by a regular
// file, and the error names the path given.
TEST_F(AtomicFileTest, RefusesSpecialFiles) {
  fs::create_directories(dir_ / "d");
  absl::Status s = writeFileAtomically((dir_ / "d").string(), "x");
  EXPECT_EQ(std::string(s.message()),
            (dir_ / "d").string() + ": cannot write: is a directory");
  EXPECT_TRUE(fs::is_directory(dir_ / "d"));

  fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  s = writeFileAtomically(fifo.string(), "x");
  EXPECT_EQ(std::string(s.message()),
            fifo.string() + ": cannot write: not a regular file (a FIFO)");
  EXPECT_TRUE(fs::is_fifo(fifo));

  // Through a link, to a device: the check only reads /dev/null's type.
  fs::create_symlink("/dev/null", dir_ / "null");
  s = writeFileAtomically((dir_ / "null").string(), "x");
  EXPECT_EQ(std::string(s.message()),
            (dir_ / "null").string() +
                ": cannot write: not a regular file (/dev/null is a "
                "character device)");
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  EXPECT_EQ(listDir(), (std::vector<std::string>{"d", "fifo", "null"}));
}

TEST_F(AtomicFileTest, KeepsThePermissionsOfTheReplacedFile) {
  fs::path p = dir_ / "f";
  std::ofstream(p) << "old";
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_TRUE(writeFileAtomically(p.string(), "new").ok());
  EXPECT_EQ(fs::status(p).permissions(),
            fs::perms::owner_read | fs::perms::owner_write);
}

// Temporaries left by a writer that was killed (kill -9 mid-save) are
// removed by the next write of the same file; those of live processes, and
// of other files, are not.
TEST_F(AtomicFileTest, RemovesStaleTemporariesOfDeadProcesses) {
  pid_t child = ::fork();
  if (child == 0)
    ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child); // reaped: the pid is dead
  std::string dead = std::to_string(child);
  std::string live = std::to_string(::getpid());
  for (const std::string &name :
       {"w.tmp." + dead + ".0", "w.tmp." + dead + ".17", "w.tmp." + live + ".3",
        "other.tmp." + dead + ".0", "w.tmp." + dead + ".x"})
    std::ofstream(dir_ / name) << "partial";
  ASSERT_TRUE(writeFileAtomically((dir_ / "w").string(), "done").ok());
  std::vector<std::string> kept = {"other.tmp." + dead + ".0", "w",
                                   "w.tmp." + dead + ".x",
                                   "w.tmp." + live + ".3"};
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(listDir(), kept);
}

// A failed write (here: over the file size limit, as a full disk would
// fail) names the target first; the temporary only follows in parentheses,
// and is gone.
TEST_F(AtomicFileTest, ErrorsNameTheTargetFirst) {
  std::string p = (dir_ / "big").string();
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 4096;
  auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  absl::Status s = writeFileAtomically(p, std::string(1 << 20, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, oldHandler);
  ASSERT_FALSE(s.ok());
  std::string m(s.message());
  EXPECT_EQ(m.rfind(p + ": write failed: File too large (temporary file " + p +
                        ".tmp.",
                    0),
            0u)
      << m;
  EXPECT_EQ(m.back(), ')') << m;
  EXPECT_TRUE(listDir().empty());
}

} // namespace
