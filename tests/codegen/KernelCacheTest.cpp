// The on-disk kernel cache: a miss stores, a hit loads kernels that compute
// the same bits; truncated, corrupt or foreign entries are ignored and
// rewritten; concurrent threads and processes share one directory safely;
// every key component separates entries. Each test uses its own temporary
// directory, never the user's cache.
#include "codegen/KernelCache.h"
#include "codegen/Compiler.h"
#include "ir/Graph.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace cnnc::testing {
namespace {

namespace fs = std::filesystem;
using codegen::CompileOptions;
using codegen::KernelCache;

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
public:
  TempDir() {
    std::string pattern =
        (fs::temp_directory_path() / "cnnc-kernel-cache-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data()) ? pattern : "";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

std::vector<fs::path> filesIn(const std::string &dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec))
    out.push_back(it->path());
  return out;
}

// y = relu(x W + b): three kernels of different kinds.
ir::Graph denseGraph(int64_t batch, int64_t in, int64_t out) {
  ir::Graph g("dense");
  ir::ValueId x = g.addInput("x", ir::f32({batch, in}));
  ir::ValueId w = g.addParam("w", ir::f32({in, out}));
  ir::ValueId b = g.addParam("b", ir::f32({out}));
  ir::ValueId y = *g.create1(ir::OpKind::MatMul, {x, w});
  ir::ValueId z = *g.create1(ir::OpKind::BiasAdd, {y, b});
  ir::ValueId r =
      *g.create1(ir::OpKind::Activation, {z},
                 {{ir::AttrName::Kind, std::string("relu")}}, {}, "r");
  g.addOutput("r", r);
  return g;
}

// Runs the compiled graph (ops in order, one thread) on fixed inputs and
// returns r.
std::vector<float> run(const ir::Graph &g, const codegen::CompiledGraph &c) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<std::vector<float>> buffers(g.values().size());
  for (size_t v = 0; v < g.values().size(); ++v) {
    buffers[v].resize(g.values()[v].type.numElements());
    for (float &f : buffers[v])
      f = d(rng);
  }
  for (size_t i = 0; i < g.ops().size(); ++i) {
    std::vector<void *> args;
    for (ir::ValueId o : g.ops()[i].operands)
      args.push_back(buffers[o].data());
    for (ir::ValueId r : g.ops()[i].results)
      args.push_back(buffers[r].data());
    EXPECT_NE(c.kernel(i), nullptr);
    if (c.kernel(i))
      c.kernel(i)(args.data(), 0, 1);
  }
  return buffers[g.output("r")];
}

CompileOptions inDir(const std::string &dir) {
  CompileOptions o;
  o.cacheDir = dir;
  return o;
}

// Compiles g with the cache in `dir`; returns r and whether it was a hit.
std::pair<std::vector<float>, bool> compileAndRun(const ir::Graph &g,
                                                  const std::string &dir) {
  auto c = codegen::compileGraph(g, inDir(dir));
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok())
    return {{}, false};
  return {run(g, **c), (*c)->stats().cacheHit};
}

TEST(KernelCache, MissStoresThenHitLoadsIdenticalKernels) {
  TempDir dir;
  ir::Graph g = denseGraph(8, 20, 12);
  auto [first, firstHit] = compileAndRun(g, dir.path());
  EXPECT_FALSE(firstHit);
  std::vector<fs::path> files = filesIn(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), ".cnnck");

  auto [second, secondHit] = compileAndRun(g, dir.path());
  EXPECT_TRUE(secondHit);
  ASSERT_EQ(first.size(), second.size());
  EXPECT_EQ(
      std::memcmp(first.data(), second.data(), first.size() * sizeof(float)),
      0);
  // And both match an uncached compile.
  CompileOptions off;
  off.useCache = false;
  auto fresh = codegen::compileGraph(g, off);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE((*fresh)->stats().cacheHit);
  EXPECT_EQ(run(g, **fresh), first);
  EXPECT_EQ(filesIn(dir.path()).size(), 1u);
}

// Damages the only entry with `damage`, then checks that the next compile
// misses, computes the right result and rewrites a good entry.
void checkRecovers(const std::function<void(const fs::path &)> &damage,
                   const char *what) {
  TempDir dir;
  ir::Graph g = denseGraph(4, 9, 5);
  auto [want, hit] = compileAndRun(g, dir.path());
  std::vector<fs::path> files = filesIn(dir.path());
  ASSERT_EQ(files.size(), 1u) << what;
  damage(files[0]);
  auto [got, hit2] = compileAndRun(g, dir.path());
  EXPECT_FALSE(hit2) << what;
  EXPECT_EQ(got, want) << what;
  auto [again, hit3] = compileAndRun(g, dir.path());
  EXPECT_TRUE(hit3) << what << ": the entry was not rewritten";
  EXPECT_EQ(again, want) << what;
}

std::string readFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const fs::path &p, const std::string &data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

TEST(KernelCache, TruncatedEntryIsRecompiled) {
  checkRecovers(
      [](const fs::path &p) {
        std::string d = readFile(p);
        writeFile(p, d.substr(0, d.size() / 2));
      },
      "truncated to half");
  checkRecovers(
      [](const fs::path &p) {
        std::string d = readFile(p);
        writeFile(p, d.substr(0, 20));
      },
      "truncated inside the header");
  checkRecovers([](const fs::path &p) { writeFile(p, ""); }, "empty");
}

TEST(KernelCache, CorruptEntryIsRecompiled) {
  for (double where : {0.0, 0.01, 0.3, 0.6, 0.999}) {
    checkRecovers(
        [where](const fs::path &p) {
          std::string d = readFile(p);
          size_t at = static_cast<size_t>(where * (d.size() - 1));
          d[at] = static_cast<char>(d[at] ^ 0x5a);
          writeFile(p, d);
        },
        "one byte flipped");
  }
  checkRecovers(
      [](const fs::path &p) {
        std::string d = readFile(p);
        std::mt19937 rng(3);
        for (char &c : d)
          c = static_cast<char>(rng());
        writeFile(p, d);
      },
      "random bytes");
  checkRecovers(
      [](const fs::path &p) {
        std::string d = readFile(p);
        writeFile(p, d + "extra");
      },
      "trailing bytes");
}

TEST(KernelCache, EntryOfAnotherKeyIsAMiss) {
  TempDir dir;
  KernelCache cache(dir.path());
  ASSERT_TRUE(cache.store("key A", {"object one", "two"}));
  auto a = cache.load("key A");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, (std::vector<std::string>{"object one", "two"}));
  // The same bytes under another key's file name (as a hash collision would
  // put them) are not taken for that key.
  fs::copy_file(cache.entryPath("key A"), cache.entryPath("key B"));
  EXPECT_FALSE(cache.load("key B").has_value());
  EXPECT_FALSE(cache.load("key C").has_value()); // no file at all
}

TEST(KernelCache, UnwritableDirectoryJustDoesNotCache) {
  TempDir dir;
  std::string file = dir.path() + "/not-a-dir";
  writeFile(file, "x");
  ir::Graph g = denseGraph(2, 3, 4);
  auto [a, hitA] = compileAndRun(g, file + "/cache");
  auto [b, hitB] = compileAndRun(g, file + "/cache");
  EXPECT_FALSE(hitA);
  EXPECT_FALSE(hitB);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(KernelCache(file + "/cache").store("k", {"o"}));
}

TEST(KernelCache, DifferentKeyComponentsGiveDifferentEntries) {
  TempDir dir;
  // Different shapes: two entries.
  compileAndRun(denseGraph(4, 8, 8), dir.path());
  compileAndRun(denseGraph(4, 8, 9), dir.path());
  EXPECT_EQ(filesIn(dir.path()).size(), 2u);
  // Different attributes.
  ir::Graph g = denseGraph(4, 8, 8);
  ir::Graph h = g;
  h.ops()[2].attrs.set(ir::AttrName::Kind, std::string("tanh"));
  EXPECT_NE(codegen::kernelCacheKey(g, "znver4", "+avx"),
            codegen::kernelCacheKey(h, "znver4", "+avx"));
  // Different CPU or features.
  KernelCache cache(dir.path());
  std::string base = codegen::kernelCacheKey(g, "znver4", "+avx,+avx512f");
  for (const std::string &other :
       {codegen::kernelCacheKey(g, "znver5", "+avx,+avx512f"),
        codegen::kernelCacheKey(g, "znver4", "+avx,-avx512f")}) {
    EXPECT_NE(base, other);
    EXPECT_NE(cache.entryPath(base), cache.entryPath(other));
  }
  // The build of cnnc and LLVM's version are in every key.
  EXPECT_NE(base.find(codegen::codegenBuildId()), std::string::npos);
  EXPECT_NE(base.find("llvm 19."), std::string::npos);
  EXPECT_EQ(codegen::codegenBuildId().size(), 32u);
}

TEST(KernelCache, SourceLocationsAndGraphNameDoNotSplitEntries) {
  ir::Graph g = denseGraph(4, 8, 8);
  ir::Graph h = g;
  h.setName("renamed");
  h.ops()[0].loc = {"model.dsl", 12, 3};
  EXPECT_EQ(codegen::kernelCacheKey(g, "znver4", "+avx"),
            codegen::kernelCacheKey(h, "znver4", "+avx"));
}

TEST(KernelCache, ConcurrentThreadsShareOneDirectory) {
  TempDir dir;
  ir::Graph g = denseGraph(16, 33, 17);
  CompileOptions off;
  off.useCache = false;
  auto ref = codegen::compileGraph(g, off);
  ASSERT_TRUE(ref.ok());
  std::vector<float> want = run(g, **ref);
  constexpr int kThreads = 4;
  std::vector<std::vector<float>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 3; ++r) // misses and hits interleaved
        got[t] = compileAndRun(g, dir.path()).first;
    });
  for (std::thread &t : threads)
    t.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(got[t], want) << "thread " << t;
  std::vector<fs::path> files = filesIn(dir.path());
  ASSERT_EQ(files.size(), 1u) << "temporary files left behind";
  EXPECT_TRUE(compileAndRun(g, dir.path()).second);
}

// The body of ConcurrentProcessesShareOneDirectory's children: runs only
// when the parent sets CNNC_TEST_CACHE_CHILD_DIR.
TEST(KernelCacheChild, CompileIntoSharedDirectory) {
  const char *dir = std::getenv("CNNC_TEST_CACHE_CHILD_DIR");
  if (!dir)
    GTEST_SKIP() << "run by ConcurrentProcessesShareOneDirectory";
  ir::Graph g = denseGraph(16, 33, 17);
  CompileOptions off;
  off.useCache = false;
  auto ref = codegen::compileGraph(g, off);
  ASSERT_TRUE(ref.ok());
  std::vector<float> want = run(g, **ref);
  for (int r = 0; r < 5; ++r)
    ASSERT_EQ(compileAndRun(g, dir).first, want);
}

TEST(KernelCache, ConcurrentProcessesShareOneDirectory) {
  TempDir dir;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  self[n] = 0;
  constexpr int kProcesses = 3;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // exec at once: only async-signal-safe calls after fork.
      setenv("CNNC_TEST_CACHE_CHILD_DIR", dir.path().c_str(), 1);
      execl(self, self,
            "--gtest_filter=KernelCacheChild.CompileIntoSharedDirectory",
            "--gtest_brief=1", static_cast<char *>(nullptr));
      _exit(127);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a child process failed (status " << status << ")";
  }
  std::vector<fs::path> files = filesIn(dir.path());
  ASSERT_EQ(files.size(), 1u) << "temporary files left behind";
  EXPECT_TRUE(compileAndRun(denseGraph(16, 33, 17), dir.path()).second);
}

TEST(KernelCache, PruneEvictsLeastRecentlyUsed) {
  TempDir dir;
  std::string blob(1000, 'x');
  KernelCache big(dir.path());
  ASSERT_TRUE(big.store("old", {blob}));
  ASSERT_TRUE(big.store("mid", {blob}));
  // Make "old" older than "mid", then use it: now "mid" is the LRU.
  auto past = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(big.entryPath("old"), past);
  fs::last_write_time(big.entryPath("mid"), past + std::chrono::minutes(1));
  ASSERT_TRUE(big.load("old").has_value());
  KernelCache small(dir.path(), 2500); // room for two entries
  ASSERT_TRUE(small.store("new", {blob}));
  EXPECT_TRUE(small.load("old").has_value());
  EXPECT_TRUE(small.load("new").has_value());
  EXPECT_FALSE(small.load("mid").has_value());
  // Stale temporary files of crashed writers go too.
  std::string stale = dir.path() + "/.tmp.1.2.3.4";
  writeFile(stale, "partial");
  fs::last_write_time(stale, past);
  small.prune();
  EXPECT_FALSE(fs::exists(stale));
}

TEST(KernelCache, DefaultDirectoryFollowsTheEnvironment) {
  struct Saved {
    const char *name;
    std::optional<std::string> value;
  };
  std::vector<Saved> saved;
  for (const char *name :
       {"CNNC_NO_CACHE", "CNNC_CACHE_DIR", "XDG_CACHE_HOME", "HOME"}) {
    const char *v = std::getenv(name);
    saved.push_back({name, v ? std::optional<std::string>(v) : std::nullopt});
  }
  unsetenv("CNNC_NO_CACHE");
  setenv("CNNC_CACHE_DIR", "/a", 1);
  setenv("XDG_CACHE_HOME", "/b", 1);
  setenv("HOME", "/c", 1);
  EXPECT_EQ(codegen::defaultKernelCacheDir(), "/a");
  unsetenv("CNNC_CACHE_DIR");
  EXPECT_EQ(codegen::defaultKernelCacheDir(), "/b/cnnc");
  unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(codegen::defaultKernelCacheDir(), "/c/.cache/cnnc");
  setenv("CNNC_NO_CACHE", "0", 1);
  EXPECT_EQ(codegen::defaultKernelCacheDir(), "/c/.cache/cnnc");
  setenv("CNNC_NO_CACHE", "1", 1);
  EXPECT_EQ(codegen::defaultKernelCacheDir(), "");
  for (const Saved &s : saved) {
    if (s.value)
      setenv(s.name, s.value->c_str(), 1);
    else
      unsetenv(s.name);
  }
}

} // namespace
} // namespace cnnc::testing

namespace cnnc::testing {
namespace {

// The in-process memo: the same graph shares one compiled instance (also
// when renamed: the key ignores names), another graph gets its own, and only
// the last kCompiledGraphMemo graphs are kept.
TEST(CompiledGraphMemo, SameGraphsShareKernelsAndTheMemoIsBounded) {
  TempDir dir;
  CompileOptions o;
  o.cacheDir = dir.path();
  auto a = codegen::compileGraphShared(denseGraph(2, 3, 4), o);
  ASSERT_TRUE(a.ok()) << a.status();
  ir::Graph renamed = denseGraph(2, 3, 4);
  renamed.setName("another");
  auto again = codegen::compileGraphShared(renamed, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(a->get(), again->get());
  auto b = codegen::compileGraphShared(denseGraph(2, 3, 5), o);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->get(), b->get());
  EXPECT_EQ(run(denseGraph(2, 3, 4), **again), run(denseGraph(2, 3, 4), **a));

  // kCompiledGraphMemo other graphs push the first out: compiling it again
  // gives a new instance (while the old one stays valid for its holders).
  for (size_t i = 0; i < codegen::kCompiledGraphMemo; ++i)
    ASSERT_TRUE(codegen::compileGraphShared(
                    denseGraph(2, 3, 6 + static_cast<int64_t>(i)), o)
                    .ok());
  auto evicted = codegen::compileGraphShared(denseGraph(2, 3, 4), o);
  ASSERT_TRUE(evicted.ok());
  EXPECT_NE(evicted->get(), a->get());
  EXPECT_EQ(run(denseGraph(2, 3, 4), **evicted), run(denseGraph(2, 3, 4), **a));
}

} // namespace
} // namespace cnnc::testing
