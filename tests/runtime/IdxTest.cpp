#include "runtime/Idx.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <zlib.h>

namespace cnnc::runtime {
namespace {

namespace fs = std::filesystem;

::testing::AssertionResult hasSubstr(absl::string_view text,
                                     absl::string_view part) {
  if (text.find(part) != absl::string_view::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "'" << text << "' does not contain '" << part << "'";
}

std::vector<uint8_t> idxFile(uint32_t magic, const std::vector<uint32_t> &dims,
                             const std::vector<uint8_t> &payload) {
  std::vector<uint8_t> out;
  auto be32 = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<uint8_t>(v >> shift));
  };
  be32(magic);
  for (uint32_t d : dims)
    be32(d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> iota(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

class IdxTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cnnc-idx-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string &name) const {
    return (fs::path(dir) / name).string();
  }

  std::string writeRaw(const std::string &name,
                       const std::vector<uint8_t> &bytes) const {
    std::string p = path(name);
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  }

  std::string writeGz(const std::string &name,
                      const std::vector<uint8_t> &bytes) const {
    std::string p = path(name);
    gzFile f = gzopen(p.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    gzclose(f);
    return p;
  }

  std::string dir;
};

TEST_F(IdxTest, ReadsRawImages) {
  std::vector<uint8_t> pixels = iota(3 * 2 * 4);
  std::string p = writeRaw("images", idxFile(0x00000803, {3, 2, 4}, pixels));
  absl::StatusOr<IdxImages> images = readIdxImages(p);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->count, 3);
  EXPECT_EQ(images->rows, 2);
  EXPECT_EQ(images->cols, 4);
  EXPECT_EQ(images->pixels, pixels);
}

TEST_F(IdxTest, ReadsGzippedImagesAndLabels) {
  std::vector<uint8_t> pixels = iota(5 * 3 * 3);
  std::string ip = writeGz("images.gz", idxFile(0x00000803, {5, 3, 3}, pixels));
  absl::StatusOr<IdxImages> images = readIdxImages(ip);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->count, 5);
  EXPECT_EQ(images->pixels, pixels);

  std::vector<uint8_t> labels = {3, 1, 4, 1, 5};
  std::string lp = writeGz("labels.gz", idxFile(0x00000801, {5}, labels));
  absl::StatusOr<std::vector<uint8_t>> got = readIdxLabels(lp);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, labels);
}

TEST_F(IdxTest, ReadsEmptyLabelFile) {
  std::string p = writeRaw("labels", idxFile(0x00000801, {0}, {}));
  absl::StatusOr<std::vector<uint8_t>> got = readIdxLabels(p);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
}

TEST_F(IdxTest, TruncatedPayload) {
  std::vector<uint8_t> bytes = idxFile(0x00000803, {2, 3, 4}, iota(10));
  for (bool gz : {false, true}) {
    std::string p = gz ? writeGz("t.gz", bytes) : writeRaw("t", bytes);
    absl::StatusOr<IdxImages> images = readIdxImages(p);
    ASSERT_FALSE(images.ok());
    EXPECT_EQ(images.status().message(),
              p + ": truncated: expected 40 bytes, got 26");
  }
}

TEST_F(IdxTest, TruncatedHeader) {
  std::vector<uint8_t> bytes = idxFile(0x00000803, {2, 3, 4}, {});
  bytes.resize(10);
  std::string p = writeRaw("t", bytes);
  absl::StatusOr<IdxImages> images = readIdxImages(p);
  ASSERT_FALSE(images.ok());
  EXPECT_TRUE(hasSubstr(images.status().message(),
                        ": truncated: expected a 16-byte header, got 10"));
}

TEST_F(IdxTest, TruncatedGzipStream) {
  std::vector<uint8_t> raw = idxFile(0x00000801, {4000}, iota(4000));
  std::string full = writeGz("full.gz", raw);
  std::ifstream in(full, std::ios::binary);
  std::vector<char> gz((std::istreambuf_iterator<char>(in)), {});
  for (size_t keep : {gz.size() / 2, gz.size() - 4}) {
    std::vector<uint8_t> cut(gz.begin(), gz.begin() + keep);
    std::string p = writeRaw("cut.gz", cut);
    absl::StatusOr<std::vector<uint8_t>> labels = readIdxLabels(p);
    ASSERT_FALSE(labels.ok()) << "kept " << keep << " of " << gz.size();
    EXPECT_TRUE(
        hasSubstr(labels.status().message(), p + ": truncated: gzip stream"));
  }
}

TEST_F(IdxTest, CorruptGzipData) {
  std::vector<uint8_t> raw = idxFile(0x00000801, {4000}, iota(4000));
  std::string p = writeGz("bad.gz", raw);
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(-6, std::ios::end); // inside the CRC32 trailer
  f.put('\x5a');
  f.close();
  absl::StatusOr<std::vector<uint8_t>> labels = readIdxLabels(p);
  ASSERT_FALSE(labels.ok());
  EXPECT_TRUE(hasSubstr(labels.status().message(), p + ": "));
  EXPECT_TRUE(hasSubstr(labels.status().message(), "gzip"));
}

TEST_F(IdxTest, WrongMagic) {
  std::string p = writeRaw("labels", idxFile(0x00000801, {2}, {1, 2}));
  absl::StatusOr<IdxImages> images = readIdxImages(p);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().message(),
            p + ": bad magic 0x00000801 (u8 labels), expected 0x00000803 "
                "(u8 images)");

  std::string q = writeRaw("junk", {'h', 'e', 'l', 'l', 'o', '!', '!', '!'});
  absl::StatusOr<std::vector<uint8_t>> labels = readIdxLabels(q);
  ASSERT_FALSE(labels.ok());
  EXPECT_TRUE(hasSubstr(labels.status().message(),
                        q + ": bad magic 0x68656c6c (unknown)"));
}

TEST_F(IdxTest, TooLong) {
  std::vector<uint8_t> bytes = idxFile(0x00000801, {3}, {1, 2, 3, 4, 5});
  for (bool gz : {false, true}) {
    std::string p = gz ? writeGz("l.gz", bytes) : writeRaw("l", bytes);
    absl::StatusOr<std::vector<uint8_t>> labels = readIdxLabels(p);
    ASSERT_FALSE(labels.ok());
    EXPECT_EQ(labels.status().message(),
              p + ": too long: expected 11 bytes, got 13");
  }
}

// A corrupt header must not make the reader allocate what it claims.
TEST_F(IdxTest, AbsurdHeaderSizes) {
  std::string p = writeRaw(
      "huge", idxFile(0x00000803, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
  absl::StatusOr<IdxImages> images = readIdxImages(p);
  ASSERT_FALSE(images.ok());
  EXPECT_TRUE(hasSubstr(images.status().message(), "absurd dimensions"));

  // 100 GB claimed by a 116-byte file (raw and gzipped).
  std::vector<uint8_t> bytes =
      idxFile(0x00000803, {100000, 1000, 1000}, iota(100));
  for (bool gz : {false, true}) {
    std::string q = gz ? writeGz("big.gz", bytes) : writeRaw("big", bytes);
    images = readIdxImages(q);
    ASSERT_FALSE(images.ok());
    EXPECT_EQ(images.status().message(),
              q + ": truncated: expected 100000000016 bytes, got 116");
  }
}

TEST_F(IdxTest, MissingFile) {
  std::string p = path("nope-idx3-ubyte");
  absl::StatusOr<IdxImages> images = readIdxImages(p);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(images.status().message(),
            p + ": no such file; run scripts/fetch-mnist.sh or pass --data "
                "DIR");
}

TEST_F(IdxTest, LoadSplitPairsImagesAndLabels) {
  writeRaw("t10k-images-idx3-ubyte", idxFile(0x803, {2, 2, 2}, iota(8)));
  writeGz("t10k-labels-idx1-ubyte.gz", idxFile(0x801, {2}, {7, 2}));
  absl::StatusOr<LabeledImages> split = loadIdxSplit(dir + "/", "t10k");
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->images.count, 2);
  EXPECT_EQ(split->images.pixels, iota(8));
  EXPECT_EQ(split->labels, (std::vector<uint8_t>{7, 2}));
}

TEST_F(IdxTest, LoadSplitCountMismatch) {
  writeGz("train-images-idx3-ubyte.gz", idxFile(0x803, {3, 1, 1}, iota(3)));
  writeRaw("train-labels-idx1-ubyte", idxFile(0x801, {2}, {0, 1}));
  absl::StatusOr<LabeledImages> split = loadIdxSplit(dir + "/", "train");
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().message(),
            path("train-labels-idx1-ubyte") + ": holds 2 labels but " +
                path("train-images-idx3-ubyte.gz") + " holds 3 images");
}

TEST_F(IdxTest, LoadSplitMissingFiles) {
  absl::StatusOr<LabeledImages> split = loadIdxSplit(dir + "/", "train");
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(split.status().message(),
            path("train-images-idx3-ubyte") +
                "(.gz): no such file; run scripts/fetch-mnist.sh or pass "
                "--data DIR");

  split = loadIdxSplit(dir + "/", "validation");
  ASSERT_FALSE(split.ok());
  EXPECT_TRUE(
      hasSubstr(split.status().message(), "unknown MNIST split 'validation'"));
}

TEST_F(IdxTest, FindMnistDir) {
  absl::StatusOr<std::string> found = findMnistDir(dir);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().message(),
            dir + ": no train-images-idx3-ubyte(.gz) in this directory; run "
                  "scripts/fetch-mnist.sh or pass --data DIR");

  writeGz("train-images-idx3-ubyte.gz", idxFile(0x803, {0, 28, 28}, {}));
  found = findMnistDir(dir);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir);

  const char *old = std::getenv("CNNC_DATA_DIR");
  std::string saved = old ? old : "";
  setenv("CNNC_DATA_DIR", dir.c_str(), 1);
  found = findMnistDir("");
  if (old)
    setenv("CNNC_DATA_DIR", saved.c_str(), 1);
  else
    unsetenv("CNNC_DATA_DIR");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir);
}

TEST(IdxRealMnist, MatchesKnownFacts) {
  // scripts/fetch-mnist.sh stores it in data/mnist; the shared copy beside
  // the checkout is the other place tests may read it.
  std::string dir = CNNC_SOURCE_DIR "/data/mnist/";
  if (!fs::exists(dir + "train-images-idx3-ubyte.gz"))
    dir = CNNC_SOURCE_DIR "/../shared/data/mnist/";
  if (!fs::exists(dir))
    GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";

  absl::StatusOr<LabeledImages> train = loadIdxSplit(dir, "train");
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->images.count, 60000);
  EXPECT_EQ(train->images.rows, 28);
  EXPECT_EQ(train->images.cols, 28);
  EXPECT_EQ(train->images.pixels.size(), 60000u * 28 * 28);
  EXPECT_EQ(
      std::vector<uint8_t>(train->labels.begin(), train->labels.begin() + 10),
      (std::vector<uint8_t>{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}));

  absl::StatusOr<LabeledImages> test = loadIdxSplit(dir, "t10k");
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->images.count, 10000);
  EXPECT_EQ(test->images.rows, 28);
  EXPECT_EQ(test->images.cols, 28);
  EXPECT_EQ(
      std::vector<uint8_t>(test->labels.begin(), test->labels.begin() + 10),
      (std::vector<uint8_t>{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}));
  for (uint8_t label : test->labels)
    ASSERT_LT(label, 10);
}

} // namespace
} // namespace cnnc::runtime
