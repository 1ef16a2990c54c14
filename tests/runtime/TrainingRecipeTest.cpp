// The training loop's recipe features on a small model and random data: a
// schedule's rate reaches every step (the learning rate is an input of the
// compiled step), and a non-finite loss is reported or, with
// terminate_on_nan, stops training at the first such step.
#include "runtime/DslModel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace cnnc::runtime {
namespace {

std::unique_ptr<Model> makeModel(const std::string &recipe) {
  return modelFromDsl(R"(model recipe {
  input shape=(6, 6, 1)
  conv2d filters=3 kernel_size=3 activation=relu
  flatten
  dense units=4 activation=softmax
}
)" + recipe,
                      2, 5);
}

LabeledImages randomImages(int count) {
  std::mt19937 rng(11);
  LabeledImages data;
  data.images = {count, 6, 6, 1, std::vector<uint8_t>(count * 36)};
  for (uint8_t &p : data.images.pixels)
    p = static_cast<uint8_t>(rng() % 256);
  for (int i = 0; i < count; ++i)
    data.labels.push_back(static_cast<uint8_t>(rng() % 4));
  return data;
}

std::vector<float> predictions(Model &m, const LabeledImages &data) {
  auto p = m.predict(data.images.pixels.data(), data.images.count);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<float>{};
}

// piecewise_constant_decay([3], [0.05, 0]): steps with iterations 0..3 (the
// first four) train, later ones see a rate of 0 and change nothing. So 4
// steps and 10 steps end with the same weights, and 3 steps with others.
TEST(TrainingRecipe, TheScheduleSetsEveryStepsRate) {
  const std::string recipe =
      "compile loss=sparse_categorical_crossentropy optimizer=sgd(learning_"
      "rate=piecewise_constant_decay([3], [0.05, 0.0]))\n"
      "fit batch_size=8 epochs=1 shuffle=false\n";
  LabeledImages data = randomImages(80);
  std::vector<std::vector<float>> after;
  for (int steps : {3, 4, 10}) {
    auto m = makeModel(recipe);
    ASSERT_TRUE(m);
    FitOptions o;
    o.limit = 8 * steps;
    auto h = m->fit(data, nullptr, o);
    ASSERT_TRUE(h.ok()) << h.status();
    after.push_back(predictions(*m, data));
  }
  EXPECT_NE(after[0], after[1]);
  EXPECT_EQ(after[1], after[2]);
}

// Keras's behaviour without terminate_on_nan: training goes on, and the
// epoch's loss is NaN in the history.
TEST(TrainingRecipe, ANonFiniteLossIsReported) {
  auto m = makeModel("compile loss=sparse_categorical_crossentropy "
                     "optimizer=sgd(learning_rate=1e30)\n"
                     "fit batch_size=8 epochs=2 shuffle=false\n");
  ASSERT_TRUE(m);
  auto h = m->fit(randomImages(80), nullptr, {});
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_FALSE(std::isfinite((*h)[0].loss));
  EXPECT_FALSE(std::isfinite((*h)[1].loss));
}

// terminate_on_nan stops at the first step whose loss is not finite: the
// run up to the step before it is finite, and nothing after it runs.
TEST(TrainingRecipe, TerminateOnNanStopsAtTheFirstNonFiniteStep) {
  const std::string recipe = "compile loss=sparse_categorical_crossentropy "
                             "optimizer=sgd(learning_rate=1e30)\n"
                             "fit batch_size=8 epochs=2 shuffle=false "
                             "validation=none callbacks=[terminate_on_nan]\n";
  auto m = makeModel(recipe);
  ASSERT_TRUE(m);
  LabeledImages data = randomImages(80);
  FitState state;
  FitOptions o;
  o.state = &state;
  auto h = m->fit(data, nullptr, o);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(state.epoch, 1);
  ASSERT_GE(state.step, 2); // the first step's loss is finite
  EXPECT_NE(std::string(h.status().message())
                .find("the loss is not finite at epoch 1, step " +
                      std::to_string(state.step)),
            std::string::npos)
      << h.status();
  EXPECT_TRUE(state.history.empty());
  // One step fewer: all finite.
  auto before = makeModel(recipe);
  ASSERT_TRUE(before);
  before->setEpochs(1);
  o = FitOptions();
  o.limit = 8 * (state.step - 1);
  auto ok = before->fit(data, nullptr, o);
  ASSERT_TRUE(ok.ok()) << ok.status();
}

} // namespace
} // namespace cnnc::runtime
