// The fit statement's classes=[...] through the public API: Model::dataset
// filters and renumbers the training and validation data of every dataset
// kind, Dataset::subset does it by hand, names follow the new order, and
// data without a class, or a model with the wrong number of units, is an
// error before any training.
#include "cnnc/cnnc.h"
#include "e2e/TestData.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

// A model for 28x28x1 images with `units` outputs and the given fit line.
std::string mnistModel(int units, const std::string &fit) {
  return "model m {\n  input shape=(28, 28, 1)\n"
         "  conv2d filters=2 kernel_size=3 strides=2 activation=relu\n"
         "  flatten\n  dense units=" +
         std::to_string(units) +
         " activation=softmax\n}\n"
         "compile loss=sparse_categorical_crossentropy optimizer=adam\n" +
         fit + "\n";
}

cnnc::Model compile(const std::string &source) {
  auto m = cnnc::Model::fromString(source, "m.dsl");
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *std::move(m);
}

std::map<int, int64_t> countLabels(const cnnc::Dataset &d) {
  std::map<int, int64_t> counts;
  for (int64_t i = 0; i < d.size(); ++i)
    ++counts[d.labels()[i]];
  return counts;
}

// Checks that `kept` is `all` with only the labels of `classes`, in order,
// relabeled by their position there: every kept image is the next image of
// `all` with a kept label, pixel for pixel.
void expectSubsetOf(const cnnc::Dataset &all, const cnnc::Dataset &kept,
                    const std::vector<int> &classes) {
  std::map<int, int> newLabel;
  for (size_t i = 0; i < classes.size(); ++i)
    newLabel[classes[i]] = static_cast<int>(i);
  int64_t size = all.rows() * all.cols() * all.channels();
  ASSERT_EQ(kept.rows() * kept.cols() * kept.channels(), size);
  int64_t k = 0;
  for (int64_t i = 0; i < all.size(); ++i) {
    auto it = newLabel.find(all.labels()[i]);
    if (it == newLabel.end())
      continue;
    ASSERT_LT(k, kept.size());
    ASSERT_EQ(kept.labels()[k], it->second) << "kept image " << k;
    ASSERT_TRUE(std::equal(all.pixels() + i * size,
                           all.pixels() + (i + 1) * size,
                           kept.pixels() + k * size))
        << "kept image " << k << " is not image " << i;
    ++k;
  }
  EXPECT_EQ(k, kept.size());
}

class ClassSubsetMnistTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = cnnc::testing::mnistDir();
    if (dir_.empty())
      GTEST_FAIL() << "MNIST not found: run scripts/fetch-mnist.sh";
  }
  std::string dir_;
};

TEST_F(ClassSubsetMnistTest, DatasetKeepsTheClassesInTheOrderGiven) {
  cnnc::Model m =
      compile(mnistModel(2, "fit dataset=mnist classes=[9, 5] seed=1"));
  EXPECT_EQ(m.config().classes, (std::vector<int64_t>{9, 5}));
  // Known before any training or weights: the digits themselves.
  EXPECT_EQ(m.classNames(), (std::vector<std::string>{"9", "5"}));
  for (const char *split : {"train", "t10k"}) {
    SCOPED_TRACE(split);
    auto all = cnnc::Dataset::mnist(split, dir_);
    auto kept = m.dataset(split, dir_);
    ASSERT_TRUE(all.ok()) << all.status().message();
    ASSERT_TRUE(kept.ok()) << kept.status().message();
    std::map<int, int64_t> before = countLabels(*all),
                           after = countLabels(*kept);
    EXPECT_EQ(after.size(), 2u);
    EXPECT_EQ(after[0], before[9]);
    EXPECT_EQ(after[1], before[5]);
    EXPECT_GT(after[0], 0);
    EXPECT_EQ(kept->classNames(), (std::vector<std::string>{"9", "5"}));
    expectSubsetOf(*all, *kept, {9, 5});
    EXPECT_EQ(kept->loadLog(), "Keeping 2 of 10 classes (9, 5): " +
                                   std::to_string(kept->size()) + " images.\n");
  }
}

TEST_F(ClassSubsetMnistTest, AClassTheDataLacksIsAnError) {
  cnnc::Model m = compile(mnistModel(1, "fit dataset=mnist classes=[12]"));
  for (const char *split : {"train", "t10k"}) {
    auto d = m.dataset(split, dir_);
    ASSERT_FALSE(d.ok());
    std::string what = std::string(split) == "train" ? "training" : "test";
    EXPECT_EQ(d.status().message(), "classes: 12 is not a class of the " +
                                        what +
                                        " data, which has 10 classes (0 to 9)");
  }
}

TEST_F(ClassSubsetMnistTest, SubsetByHandAndTheUnitsCheck) {
  auto all = cnnc::Dataset::mnist("train", dir_);
  ASSERT_TRUE(all.ok()) << all.status().message();
  cnnc::Dataset head = all->head(2000);
  auto upper = head.subset({5, 6, 7, 8, 9});
  ASSERT_TRUE(upper.ok()) << upper.status().message();
  expectSubsetOf(head, *upper, {5, 6, 7, 8, 9});
  EXPECT_EQ(upper->classNames(),
            (std::vector<std::string>{"5", "6", "7", "8", "9"}));
  // Renumbered data subsets again by its new labels, names following.
  auto again = upper->subset({4, 0});
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->classNames(), (std::vector<std::string>{"9", "5"}));
  expectSubsetOf(*upper, *again, {4, 0});
  EXPECT_EQ(head.subset({5, 5}).status().message(),
            "Dataset::subset: class 5 is listed twice");
  EXPECT_EQ(upper->subset({5}).status().message(),
            "Dataset::subset: 5 is not a class of the data, which has 5 "
            "classes (0 to 4: 5, 6, 7, 8, 9)");

  // A model with fewer (or more) units than the classes kept never trains:
  // the DSL's classes at compile time, a subset by hand at fit.
  auto few = cnnc::Model::fromString(
      mnistModel(3, "fit dataset=mnist classes=[5, 6, 7, 8, 9]"), "m.dsl");
  ASSERT_FALSE(few.ok());
  ASSERT_TRUE(few.status().diagnostic().has_value());
  EXPECT_EQ(few.status().diagnostic()->line, 5);
  EXPECT_EQ(few.status().diagnostic()->message,
            "dense: the fit statement's classes list keeps 5 classes, but the "
            "last layer has 3 units");
  for (int units : {3, 10}) {
    cnnc::Model m = compile(mnistModel(units, "fit epochs=1"));
    cnnc::FitReport report;
    cnnc::FitOptions fo;
    fo.report = &report;
    auto h = m.fit(*upper, nullptr, fo);
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.status().message(),
              "training set has 5 classes (5, 6, 7, 8, 9) but the model's "
              "last layer has " +
                  std::to_string(units) + " units");
    EXPECT_EQ(report.step, 0);
  }
  // With 5 units it trains, and the weights carry the digits as names.
  cnnc::Model five = compile(mnistModel(5, "fit epochs=1"));
  cnnc::FitOptions fo;
  fo.limit = 200;
  ASSERT_TRUE(five.fit(*upper, nullptr, fo).ok());
  EXPECT_EQ(five.classNames(),
            (std::vector<std::string>{"5", "6", "7", "8", "9"}));
}

// A 24-bit BMP of w x w gray pixels of value `v`.
void writeBmp(const fs::path &p, int w, uint8_t v) {
  int row = (w * 3 + 3) / 4 * 4;
  uint32_t size = 54 + row * w;
  std::string b(size, '\0');
  auto put32 = [&](size_t at, uint32_t x) {
    for (int i = 0; i < 4; ++i)
      b[at + i] = static_cast<char>(x >> (8 * i));
  };
  b[0] = 'B';
  b[1] = 'M';
  put32(2, size);
  put32(10, 54);
  put32(14, 40);
  put32(18, w);
  put32(22, w);
  b[26] = 1;  // planes
  b[28] = 24; // bits per pixel
  for (int y = 0; y < w; ++y)
    for (int x = 0; x < w * 3; ++x)
      b[54 + y * row + x] = static_cast<char>(v);
  std::ofstream(p, std::ios::binary) << b;
}

// Image folders whose class directories hold images of one gray level
// each, so that a label can be checked against its pixels.
class ClassSubsetFolderTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cnnc_api_classes_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    for (const char *split : {"train", "test"})
      for (size_t c = 0; c < kClasses.size(); ++c) {
        fs::path d = dir_ / split / kClasses[c];
        fs::create_directories(d);
        for (int i = 0; i < 3 + static_cast<int>(c); ++i)
          writeBmp(d / (std::to_string(i) + ".bmp"), 4, kGray[c]);
      }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string model(const std::string &fit) const {
    return "model m {\n  input shape=(4, 4, 1)\n  flatten\n"
           "  dense units=2 activation=softmax\n}\n" +
           fit + "\n";
  }
  std::string folder(const std::string &split,
                     const std::string &more = "") const {
    return "image_folder(\"" + (dir_ / split).string() +
           "\", image_size=(4, 4), color_mode=grayscale" + more + ")";
  }

  // Every image's label matches its gray level: cow (2) -> 0, ant (0) -> 1.
  static void expectCowAnt(const cnnc::Dataset &d) {
    EXPECT_EQ(d.classNames(), (std::vector<std::string>{"cow", "ant"}));
    for (int64_t i = 0; i < d.size(); ++i) {
      uint8_t px = d.pixels()[i * 16];
      ASSERT_TRUE(px == kGray[2] || px == kGray[0]) << int(px);
      EXPECT_EQ(d.labels()[i], px == kGray[2] ? 0 : 1);
    }
  }

  static inline const std::array<std::string, 3> kClasses = {"ant", "bee",
                                                             "cow"};
  static constexpr std::array<uint8_t, 3> kGray = {40, 120, 200};
  fs::path dir_;
};

TEST_F(ClassSubsetFolderTest, NamesFollowTheNewOrderInBothFolders) {
  cnnc::Model m =
      compile(model("fit dataset=" + folder("train") +
                    " validation=" + folder("test") + " classes=[2, 0]"));
  for (const char *split : {"train", "t10k"}) {
    SCOPED_TRACE(split);
    auto d = m.dataset(split);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->size(), 5 + 3); // cow's 5 and ant's 3
    expectCowAnt(*d);
    EXPECT_NE(d->loadLog().find("Found 12 files belonging to 3 classes."),
              std::string::npos)
        << d->loadLog();
    EXPECT_NE(d->loadLog().find("Keeping 2 of 3 classes (cow, ant): 8 "
                                "images.\n"),
              std::string::npos)
        << d->loadLog();
  }
  // Names come from the folder once trained on it, not from the numbers.
  EXPECT_TRUE(m.classNames().empty());
  auto train = m.dataset("train");
  ASSERT_TRUE(train.ok());
  ASSERT_TRUE(m.fit(*train).ok());
  EXPECT_EQ(m.classNames(), (std::vector<std::string>{"cow", "ant"}));
}

// The split is Keras's over the whole folder, then both parts are
// filtered: together they hold exactly the kept classes' images.
TEST_F(ClassSubsetFolderTest, TheValidationSplitIsFilteredToo) {
  cnnc::Model m =
      compile(model("fit dataset=" + folder("train", ", validation_split=0.5") +
                    " classes=[2, 0] seed=4"));
  auto train = m.dataset("train");
  auto val = m.dataset("t10k");
  ASSERT_TRUE(train.ok()) << train.status().message();
  ASSERT_TRUE(val.ok()) << val.status().message();
  EXPECT_EQ(train->size() + val->size(), 8);
  EXPECT_GT(train->size(), 0);
  EXPECT_GT(val->size(), 0);
  expectCowAnt(*train);
  expectCowAnt(*val);
}

TEST_F(ClassSubsetFolderTest, AClassBeyondTheFoldersIsAnError) {
  cnnc::Model m = compile(model("fit dataset=" + folder("train") +
                                " validation=none classes=[3, 0]"));
  auto d = m.dataset("train");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(),
            "classes: 3 is not a class of the training data, which has 3 "
            "classes (0 to 2: ant, bee, cow)");
}

} // namespace
