#include "runtime/AtomicFile.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using cnnc::runtime::writeFileAtomically;

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

} // namespace
