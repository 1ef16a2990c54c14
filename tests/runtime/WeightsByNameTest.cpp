// Model::loadWeightsByName (Keras's load_weights(by_name=True,
// skip_mismatch)): matching names and shapes load, the model's other
// weights keep their values, a shape mismatch is an error that changes
// nothing or, with skip_mismatch, is reported and skipped.
#include "runtime/DslModel.h"
#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <unistd.h>

namespace cnnc::runtime {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Model> makeModel(const std::string &layers, uint64_t seed) {
  return modelFromDsl("model m {\n  input shape=(8, 8, 1)\n" + layers +
                          "}\ncompile loss=sparse_categorical_crossentropy\n",
                      1, seed);
}

class WeightsByNameTest : public ::testing::Test {
protected:
  std::string path(const std::string &name) {
    return (fs::temp_directory_path() /
            ("cnnc_byname_" + std::to_string(::getpid()) + "_" + name))
        .string();
  }
  std::map<std::string, std::vector<float>> weights(const Model &m) {
    std::string p = path("w.safetensors");
    EXPECT_TRUE(m.saveWeights(p).ok());
    auto read = readSafetensors(p);
    fs::remove(p);
    std::map<std::string, std::vector<float>> out;
    if (read.ok())
      for (NamedTensor &t : *read)
        out[t.name] = std::move(t.data);
    return out;
  }
};

TEST_F(WeightsByNameTest, LoadsMatchesKeepsTheRestAndReports) {
  // The source: conv2d and a 10-unit head. The target: the same conv2d, a
  // 4-unit dense where the head was, and a new head.
  auto source = makeModel("  conv2d 3 3\n  flatten\n  dense 10 "
                          "activation=softmax\n",
                          1);
  auto target = makeModel("  conv2d 3 3\n  flatten\n  dense 4 activation=relu\n"
                          "  dense 10 activation=softmax\n",
                          2);
  ASSERT_TRUE(source && target);
  std::string file = path("source.safetensors");
  ASSERT_TRUE(source->saveWeights(file).ok());
  auto from = weights(*source), before = weights(*target);

  // Without skip_mismatch the dense kernel's shape is an error, and nothing
  // is loaded (not even the matching conv2d).
  auto strict = target->loadWeightsByName(file, false);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(std::string(strict.status().message()),
            file + ": tensor 'dense.kernel' is [108,10] in the file but "
                   "[108,4] in the model; skip_mismatch=true leaves such "
                   "weights as they are");
  EXPECT_EQ(weights(*target), before);

  auto r = target->loadWeightsByName(file, true);
  ASSERT_TRUE(r.ok()) << r.status();
  fs::remove(file);
  EXPECT_EQ(r->loaded,
            (std::vector<std::string>{"conv2d.kernel", "conv2d.bias"}));
  EXPECT_EQ(r->skipped,
            (std::vector<std::string>{
                "dense.kernel ([108,10] in the file, [108,4] in the model)",
                "dense.bias ([10] in the file, [4] in the model)"}));
  EXPECT_EQ(r->fresh,
            (std::vector<std::string>{"dense_1.kernel", "dense_1.bias"}));
  EXPECT_TRUE(r->unused.empty());
  auto after = weights(*target);
  for (const auto &[name, data] : after)
    if (name.rfind("conv2d.", 0) == 0)
      EXPECT_EQ(data, from[name]) << name;
    else
      EXPECT_EQ(data, before[name]) << name;
  EXPECT_NE(after["conv2d.kernel"], before["conv2d.kernel"]);
}

TEST_F(WeightsByNameTest, TensorsTheModelLacksAreReportedUnused) {
  auto big = makeModel("  conv2d 3 3 name=features\n  flatten\n  dense 4\n  "
                       "dense 10 activation=softmax\n",
                       3);
  auto small = makeModel("  conv2d 3 3 name=features\n  flatten\n  dense 10 "
                         "activation=softmax name=dense_1\n",
                         4);
  ASSERT_TRUE(big && small);
  std::string file = path("big.safetensors");
  ASSERT_TRUE(big->saveWeights(file).ok());
  auto r = small->loadWeightsByName(file, false);
  fs::remove(file);
  ASSERT_FALSE(r.ok()); // dense_1.kernel is [4,10] in the file
  EXPECT_NE(std::string(r.status().message()).find("'dense_1.kernel'"),
            std::string::npos)
      << r.status();
  // A file without the head at all: the head is new, the extra tensors of
  // the file unused.
  auto other = makeModel("  conv2d 3 3 name=features\n  flatten\n  dense 10 "
                         "activation=softmax name=head\n",
                         5);
  ASSERT_TRUE(big->saveWeights(file).ok());
  auto ok = other->loadWeightsByName(file, false);
  fs::remove(file);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->loaded,
            (std::vector<std::string>{"features.kernel", "features.bias"}));
  EXPECT_EQ(ok->fresh, (std::vector<std::string>{"head.kernel", "head.bias"}));
  EXPECT_EQ(ok->unused,
            (std::vector<std::string>{"dense.bias", "dense.kernel",
                                      "dense_1.bias", "dense_1.kernel"}));
  EXPECT_FALSE(other->loadWeightsByName(path("missing"), true).ok());
}

} // namespace
} // namespace cnnc::runtime
