// Image folders as image_dataset_from_directory reads them: class order,
// file order, skipped files, the validation split, the decoded-image cache,
// and every bad folder as a one-line error naming the path.
#include "runtime/ImageFolder.h"
#include "runtime/Image.h"
#include "runtime/ThreadPool.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::runtime {
namespace {

class ImageFolderTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cnnc_folder_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "cache");
    ::setenv("CNNC_CACHE_DIR", (dir_ / "cache").c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("CNNC_CACHE_DIR");
    ::unsetenv("CNNC_NO_CACHE");
    fs::remove_all(dir_);
  }

  // A w x h RGB PNG whose pixels all equal (seed, seed+1, seed+2) mod 256,
  // so a decoded image tells which file it came from.
  fs::path png(const std::string &rel, int seed, int h = 5, int w = 7) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    Image im;
    im.height = h;
    im.width = w;
    im.channels = 3;
    for (int i = 0; i < h * w; ++i)
      for (int c = 0; c < 3; ++c)
        im.pixels.push_back(static_cast<uint8_t>(seed + c));
    EXPECT_TRUE(writePng(p.string(), im).ok());
    return p;
  }

  void text(const std::string &rel, const std::string &content) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }

  ir::ImageFolderSpec spec(const std::string &rel = "data") {
    ir::ImageFolderSpec s;
    s.directory = (dir_ / rel).string();
    s.height = 5;
    s.width = 7;
    s.colorMode = ir::ColorMode::Rgb;
    return s;
  }

  // The error of loading `rel`, which must be one line naming `path`.
  std::string loadError(const std::string &rel, const fs::path &path) {
    ThreadPool pool(2);
    auto r = loadImageFolder(spec(rel), pool);
    EXPECT_FALSE(r.ok());
    if (r.ok())
      return "";
    std::string m(r.status().message());
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(m.rfind(path.string(), 0), 0u) << m;
    return m;
  }

  fs::path dir_;
};

TEST_F(ImageFolderTest, ListsClassesAndFilesInKerasOrder) {
  png("data/dog/b.png", 1);
  png("data/dog/a.PNG", 2); // extensions compare case-insensitively
  png("data/dog/sub/c.png", 3);
  png("data/cat/z.png", 4);
  png("data/cat/y.png", 5);
  text("data/cat/notes.txt", "not an image");
  text("data/readme.md", "skipped");
  png("data/.hidden/x.png", 6); // a hidden directory is not a class
  png("elsewhere/e.png", 7);
  fs::create_directory_symlink(dir_ / "elsewhere", dir_ / "data/dog/link");

  auto l = listImageFolder((dir_ / "data").string());
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->classNames, (std::vector<std::string>{"cat", "dog"}));
  std::vector<std::string> rel;
  for (const std::string &f : l->files)
    rel.push_back(fs::relative(f, dir_ / "data").string());
  // Sorted by directory, then name; the link to a directory is not
  // followed (follow_links=False).
  EXPECT_EQ(rel,
            (std::vector<std::string>{"cat/y.png", "cat/z.png", "dog/a.PNG",
                                      "dog/b.png", "dog/sub/c.png"}));
  EXPECT_EQ(l->labels, (std::vector<uint8_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ(l->skipped, 1); // notes.txt; readme.md is not in a class
}

TEST_F(ImageFolderTest, DecodesInListingOrderForAnyThreadCount) {
  for (int i = 0; i < 40; ++i)
    png(fmt::format("data/{}/{:02}.png", i % 3 ? "b" : "a", i), i * 5);
  auto l = listImageFolder((dir_ / "data").string());
  ASSERT_TRUE(l.ok());
  ::setenv("CNNC_NO_CACHE", "1", 1);
  std::vector<uint8_t> first;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    auto d = loadImageFolder(spec(), pool);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_EQ(d->images.count, 40);
    EXPECT_EQ(d->images.channels, 3);
    for (int64_t i = 0; i < 40; ++i) {
      // File i of the listing has the colour its name says.
      int seed = std::stoi(fs::path(l->files[i]).stem().string()) * 5;
      EXPECT_EQ(d->images.pixels[i * 5 * 7 * 3], static_cast<uint8_t>(seed));
      EXPECT_EQ(d->labels[i], l->labels[i]);
    }
    if (first.empty())
      first = d->images.pixels;
    EXPECT_EQ(d->images.pixels, first) << threads << " threads";
  }
}

TEST_F(ImageFolderTest, SplitIsDisjointCompleteAndFixedBySeed) {
  for (int i = 0; i < 50; ++i)
    png(fmt::format("data/{}/{:02}.png", i % 2 ? "odd" : "even", i), i);
  ThreadPool pool(2);
  auto all = loadImageFolder(spec(), pool);
  ASSERT_TRUE(all.ok());
  auto train = splitImageFolder(*all, 0.2, 7, false);
  auto val = splitImageFolder(*all, 0.2, 7, true);
  ASSERT_TRUE(train.ok() && val.ok());
  EXPECT_EQ(val->images.count, 10); // int(0.2 * 50), as Keras
  EXPECT_EQ(train->images.count, 40);
  std::multiset<int> seen;
  for (const LabeledImages *part : {&*train, &*val})
    for (int64_t i = 0; i < part->images.count; ++i)
      seen.insert(part->images.pixels[i * 5 * 7 * 3]);
  std::multiset<int> want;
  for (int i = 0; i < 50; ++i)
    want.insert(i);
  EXPECT_EQ(seen, want); // every image exactly once
  auto again = splitImageFolder(*all, 0.2, 7, true);
  EXPECT_EQ(again->images.pixels, val->images.pixels);
  auto other = splitImageFolder(*all, 0.2, 8, true);
  EXPECT_NE(other->images.pixels, val->images.pixels);
  auto tooSmall = splitImageFolder(*all, 0.01, 7, true);
  ASSERT_FALSE(tooSmall.ok());
  EXPECT_NE(tooSmall.status().message().find("validation_split=0.01 of 50"),
            std::string::npos)
      << tooSmall.status();
}

TEST_F(ImageFolderTest, CacheIsUsedAndInvalidatedWhenAFileChanges) {
  png("data/a/1.png", 10);
  png("data/b/2.png", 20);
  ThreadPool pool(2);
  ImageLoadInfo info;
  auto first = loadImageFolder(spec(), pool, &info);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(info.fromCache);
  ASSERT_FALSE(info.cachePath.empty());
  EXPECT_TRUE(fs::exists(info.cachePath));

  auto second = loadImageFolder(spec(), pool, &info);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(info.fromCache);
  EXPECT_EQ(second->images.pixels, first->images.pixels);

  // Other options are another cache entry.
  ir::ImageFolderSpec gray = spec();
  gray.colorMode = ir::ColorMode::Grayscale;
  auto g = loadImageFolder(gray, pool, &info);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(info.fromCache);
  EXPECT_EQ(g->images.channels, 1);

  // A rewritten file (new contents, size and time) is decoded again.
  png("data/b/2.png", 99, 6, 7);
  auto third = loadImageFolder(spec(), pool, &info);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(info.fromCache);
  EXPECT_EQ(third->images.pixels[5 * 7 * 3], 99);

  // A corrupt cache file is a miss, not an error.
  std::ofstream(info.cachePath, std::ios::binary | std::ios::trunc) << "junk";
  auto fourth = loadImageFolder(spec(), pool, &info);
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(info.fromCache);
  EXPECT_EQ(fourth->images.pixels, third->images.pixels);
}

TEST_F(ImageFolderTest, BadFoldersAreOneLineErrorsNamingThePath) {
  EXPECT_NE(loadError("missing", dir_ / "missing").find("no such directory"),
            std::string::npos);
  text("afile", "x");
  EXPECT_NE(loadError("afile", dir_ / "afile").find("not a directory"),
            std::string::npos);
  fs::create_directories(dir_ / "empty");
  EXPECT_NE(loadError("empty", dir_ / "empty").find("no class directories"),
            std::string::npos);
  png("one/only/a.png", 1);
  EXPECT_NE(loadError("one", dir_ / "one").find("only one class directory"),
            std::string::npos);
  png("noimg/a/a.png", 1);
  text("noimg/b/readme.txt", "x");
  EXPECT_NE(
      loadError("noimg", dir_ / "noimg/b").find("class 'b' has no images"),
      std::string::npos);
}

TEST_F(ImageFolderTest, BadFilesAreOneLineErrorsNamingTheFile) {
  png("trunc/a/ok.png", 1);
  fs::path good = png("trunc/b/cut.png", 2);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(good, std::ios::binary | std::ios::trunc)
      << bytes.substr(0, bytes.size() / 2);
  loadError("trunc", good);

  png("lying/a/ok.png", 1);
  text("lying/b/text.jpg", "this is not a JPEG at all");
  loadError("lying", dir_ / "lying/b/text.jpg");

  png("loop/a/ok.png", 1);
  fs::create_directories(dir_ / "loop/b");
  fs::create_symlink("l2.png", dir_ / "loop/b/l1.png");
  fs::create_symlink("l1.png", dir_ / "loop/b/l2.png");
  loadError("loop", dir_ / "loop/b/l1.png");

  png("dangling/a/ok.png", 1);
  fs::create_directories(dir_ / "dangling/b");
  fs::create_symlink("nowhere.png", dir_ / "dangling/b/gone.png");
  loadError("dangling", dir_ / "dangling/b/gone.png");
}

TEST_F(ImageFolderTest, ErrorNamesTheFirstBadFileWhateverTheThreads) {
  for (int i = 0; i < 64; ++i)
    png(fmt::format("data/{}/{:02}.png", i % 2 ? "b" : "a", i), i);
  text("data/a/40.png", "bad");
  text("data/b/09.png", "bad");
  ::setenv("CNNC_NO_CACHE", "1", 1);
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    auto r = loadImageFolder(spec(), pool);
    ASSERT_FALSE(r.ok());
    // a/40.png comes first in the listing (class a before class b).
    EXPECT_EQ(std::string(r.status().message())
                  .rfind((dir_ / "data/a/40.png").string(), 0),
              0u)
        << threads << ": " << r.status();
  }
}

TEST_F(ImageFolderTest, ImageFilesForPrediction) {
  png("p/x/2.png", 1);
  png("p/1.png", 2);
  text("p/skip.txt", "x");
  fs::path single = png("single.png", 3);
  auto files = listImageFiles({(dir_ / "p").string(), single.string()});
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> want = {(dir_ / "p/1.png").string(),
                                   (dir_ / "p/x/2.png").string(),
                                   single.string()};
  EXPECT_EQ(*files, want);
  auto missing = listImageFiles({(dir_ / "nope.png").string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.png: no such file"),
            std::string::npos);
}

} // namespace
} // namespace cnnc::runtime
