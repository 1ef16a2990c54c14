// Training on one's own images, end to end through the cnnc command: a
// synthetic colour set in which only colour tells the classes apart (equal
// luma, so a grayscale copy carries no signal), PNG and JPEG files, the
// validation folder, --predict with class names from the weights, and bad
// folders as one-line errors.
#include "common/RunTool.h"
#include "runtime/Image.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc::testing {
namespace {

// Three hues of (almost) equal BT.601 luma, 0.299 R + 0.587 G + 0.114 B:
// 123.9, 123.9 and 123.7. Red alone cannot separate green from blue either.
struct Hue {
  const char *name;
  double r, g, b;
};
constexpr Hue kHues[] = {
    {"blue", 102, 120, 200}, {"green", 100, 140, 104}, {"red", 180, 100, 100}};

constexpr int kSide = 16;

// A random blob of the class's hue, scaled by a random brightness, on a
// gray background of random brightness with gray noise.
runtime::Image colourImage(const Hue &hue, std::mt19937 &rng) {
  std::uniform_real_distribution<double> u(0, 1);
  runtime::Image im;
  im.height = im.width = kSide;
  im.channels = 3;
  double fg = 0.5 + 0.5 * u(rng), bg = 0.2 + 0.6 * u(rng);
  double cy = 3 + u(rng) * (kSide - 6), cx = 3 + u(rng) * (kSide - 6);
  double ry = 2 + 4 * u(rng), rx = 2 + 4 * u(rng);
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x) {
      double dy = (y - cy) / ry, dx = (x - cx) / rx;
      bool inside = dy * dy + dx * dx <= 1;
      double noise = 8 * (u(rng) - 0.5);
      for (double c : {hue.r, hue.g, hue.b}) {
        double v = inside ? c * fg : 124 * bg + noise;
        im.pixels.push_back(static_cast<uint8_t>(std::clamp(v, 0.0, 255.0)));
      }
    }
  return im;
}

class ImageFolderTrainingTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() /
           ("cnnc_colour_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    std::mt19937 rng(2024);
    // train/: PNG; test/: half PNG, half JPEG (quality 95), so that
    // prediction reads both.
    for (const char *split : {"train", "test"})
      for (const Hue &hue : kHues) {
        fs::path d = dir_ / split / hue.name;
        fs::create_directories(d);
        int n = std::string(split) == "train" ? 240 : 40;
        for (int i = 0; i < n; ++i) {
          runtime::Image im = colourImage(hue, rng);
          bool jpeg = std::string(split) == "test" && i % 2;
          fs::path p = d / fmt::format("{:03}.{}", i, jpeg ? "jpg" : "png");
          absl::Status s = jpeg ? runtime::writeJpeg(p.string(), im, 95)
                                : runtime::writePng(p.string(), im);
          ASSERT_TRUE(s.ok()) << s;
        }
      }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override {
    scratch_ =
        dir_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(scratch_);
  }

  RunResult run(const std::string &args) {
    return runTool("CNNC_CACHE_DIR=" + (dir_ / "cache").string() + " " +
                       CNNC_BINARY_DIR "/cnnc " + args,
                   scratch_);
  }

  // A small CNN over kSide x kSide images of `channels`, on the colour set.
  fs::path model(const std::string &name, const std::string &colorMode,
                 int channels, const std::string &validation) {
    fs::path p = scratch_ / (name + ".dsl");
    std::ofstream(p) << fmt::format(
        R"(model {0} {{
  input shape=({1}, {1}, {2})
  conv2d 16 3 activation=relu
  max_pooling2d 2
  conv2d 16 3 activation=relu
  global_average_pooling2d
  dense 3 activation=softmax
}}
compile loss=sparse_categorical_crossentropy optimizer=adam(learning_rate=0.01)
fit dataset=image_folder("{3}", image_size=({1}, {1}), color_mode={4}) validation={5} epochs=8 batch_size=16 seed=1
)",
        name, kSide, channels, (dir_ / "train").string(), colorMode,
        validation);
    return p;
  }

  static double metric(const std::string &out, const std::string &name) {
    size_t at = out.rfind(name + ": ");
    if (at == std::string::npos)
      return -1;
    return std::stod(out.substr(at + name.size() + 2));
  }

  static fs::path dir_;
  fs::path scratch_;
};

fs::path ImageFolderTrainingTest::dir_;

TEST_F(ImageFolderTrainingTest, ColourDecidesAndPredictionsNameTheClass) {
  std::string validation =
      fmt::format("image_folder(\"{}\")", (dir_ / "test").string());
  fs::path rgb = model("rgb", "rgb", 3, validation);
  RunResult r = run(rgb.string() + " --train");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Found 720 files belonging to 3 classes."),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Found 120 files belonging to 3 classes."),
            std::string::npos)
      << r.out;
  double accuracy = metric(r.out, "Validation accuracy");
  RecordProperty("rgb_validation_accuracy", std::to_string(accuracy));
  EXPECT_GE(accuracy, 0.99) << r.out;

  // The same model and images, read as grayscale: equal luma leaves only
  // chance (1/3).
  fs::path gray = model("gray", "grayscale", 1, validation);
  RunResult g = run(gray.string() + " --train");
  ASSERT_EQ(g.status, 0) << g.out << g.err;
  double grayAccuracy = metric(g.out, "Validation accuracy");
  RecordProperty("grayscale_validation_accuracy", std::to_string(grayAccuracy));
  EXPECT_LE(grayAccuracy, 0.5) << g.out;

  // Prediction from the saved weights alone: class names come from the
  // file, PNG and JPEG alike; each image's class is its directory's name.
  fs::path weights = scratch_ / "rgb.safetensors";
  ASSERT_TRUE(fs::exists(weights));
  fs::path csv = scratch_ / "preds.csv";
  RunResult p =
      run(rgb.string() + " --load " + weights.string() + " --predict " +
          (dir_ / "test").string() + " --output " + csv.string());
  ASSERT_EQ(p.status, 0) << p.err;
  std::istringstream lines(p.out);
  std::string line;
  int total = 0, right = 0, jpegs = 0;
  while (std::getline(lines, line)) {
    // "<path>: <class> (<probability>)"
    size_t colon = line.rfind(": ");
    ASSERT_NE(colon, std::string::npos) << line;
    fs::path file = line.substr(0, colon);
    std::string cls =
        line.substr(colon + 2, line.find(" (", colon) - colon - 2);
    ++total;
    right += cls == file.parent_path().filename().string();
    jpegs += file.extension() == ".jpg";
  }
  EXPECT_EQ(total, 120);
  EXPECT_EQ(jpegs, 60);
  EXPECT_GE(right, 118) << p.out;

  std::string table = slurp(csv);
  EXPECT_EQ(table.rfind("file,class,probability\n", 0), 0u) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 121);

  // A file that is not the image its name says is a one-line error naming
  // it, and no CSV is written.
  fs::path fake = scratch_ / "fake.png";
  std::ofstream(fake) << "not a PNG";
  fs::path noCsv = scratch_ / "none.csv";
  RunResult bad = run(rgb.string() + " --predict " + fake.string() +
                      " --output " + noCsv.string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.err.rfind("cnnc: error: " + fake.string() + ": ", 0), 0u)
      << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  EXPECT_FALSE(fs::exists(noCsv));

  // --top-k 3 lists every class, most probable first.
  RunResult top = run(rgb.string() + " --predict " +
                      (dir_ / "test/red/000.png").string() + " --top-k 3");
  ASSERT_EQ(top.status, 0) << top.err;
  EXPECT_NE(top.out.find(": red ("), std::string::npos) << top.out;
  for (const char *name : {"blue", "green"})
    EXPECT_NE(top.out.find(std::string(", ") + name + " ("), std::string::npos)
        << top.out;
}

// classes=[2, 0] keeps red and blue, relabeled in that order: the weights
// carry those names, and --predict names only them.
TEST_F(ImageFolderTrainingTest, ClassSubsetNamesTheKeptFoldersInOrder) {
  fs::path m = model("subset", "rgb", 3,
                     "image_folder(\"" + (dir_ / "test").string() + "\")");
  std::string text = slurp(m);
  text.replace(text.find("dense 3"), 7, "dense 2");
  text.replace(text.find("epochs=8"), 8, "epochs=2 classes=[2, 0]");
  std::ofstream(m) << text;
  RunResult t = run(m.string() + " --train");
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.out.find("Keeping 2 of 3 classes (red, blue): 480 images."),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("Keeping 2 of 3 classes (red, blue): 80 images."),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("Validation accuracy: "), std::string::npos) << t.out;
  RunResult p = run(m.string() + " --predict " +
                    (dir_ / "test/green/000.png").string() + " --top-k 3");
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_NE(p.out.find(" red ("), std::string::npos) << p.out;
  EXPECT_NE(p.out.find(" blue ("), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find("green ("), std::string::npos) << p.out;
}

TEST_F(ImageFolderTrainingTest, SplitGivesDisjointSubsetsAndTrains) {
  fs::path p = scratch_ / "split.dsl";
  std::ofstream(p) << fmt::format(
      R"(model split {{
  input shape=({0}, {0}, 3)
  conv2d 8 3 activation=relu
  global_average_pooling2d
  dense 3 activation=softmax
}}
compile loss=sparse_categorical_crossentropy optimizer=adam(learning_rate=0.01)
fit dataset=image_folder("{1}", image_size=({0}, {0}), validation_split=0.25) epochs=1 seed=5
)",
      kSide, (dir_ / "train").string());
  RunResult r = run(p.string() + " --train");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Using 540 files for training."), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Using 180 files for validation."), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Training on 540 images"), std::string::npos) << r.out;
  EXPECT_GE(metric(r.out, "Validation accuracy"), 0.0) << r.out;
}

TEST_F(ImageFolderTrainingTest, BadFoldersAndImagesAreOneLineErrors) {
  auto expectError = [&](const std::string &folder, const std::string &what) {
    fs::path p = scratch_ / "bad.dsl";
    std::ofstream(p) << fmt::format(
        R"(model bad {{
  input shape=(8, 8, 3)
  flatten
  dense 3 activation=softmax
}}
fit dataset=image_folder("{}", image_size=(8, 8))
)",
        folder);
    RunResult r = run(p.string() + " --train");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("cnnc: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  };
  fs::path bad = scratch_ / "folders";
  expectError((bad / "missing").string(), "missing: no such directory");

  fs::create_directories(bad / "one/cls");
  fs::copy_file(dir_ / "train/red/000.png", bad / "one/cls/a.png");
  expectError((bad / "one").string(), "only one class directory");

  fs::create_directories(bad / "empty/a");
  fs::create_directories(bad / "empty/b");
  fs::copy_file(dir_ / "train/red/000.png", bad / "empty/a/a.png");
  expectError((bad / "empty").string(), "class 'b' has no images");

  fs::create_directories(bad / "corrupt/b");
  fs::copy(bad / "empty/a", bad / "corrupt/a");
  std::ofstream(bad / "corrupt/b/x.png") << "\x89PNG\r\n\x1a\n garbage";
  expectError((bad / "corrupt").string(), "corrupt/b/x.png: ");

  // Three classes in the folder, but a model with 4 outputs.
  fs::path p = scratch_ / "classes.dsl";
  std::ofstream(p) << fmt::format(
      R"(model classes {{
  input shape=({0}, {0}, 3)
  flatten
  dense 4 activation=softmax
}}
fit dataset=image_folder("{1}", image_size=({0}, {0}))
)",
      kSide, (dir_ / "train").string());
  RunResult r = run(p.string() + " --train");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("has 3 classes (blue, green, red) but the model's "
                       "last layer has 4 units"),
            std::string::npos)
      << r.err;
}

} // namespace
} // namespace cnnc::testing
