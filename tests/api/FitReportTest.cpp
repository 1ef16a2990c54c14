// FitOptions::stop and FitOptions::report: stopping a fit between steps,
// and what a fit that fails or stops leaves to the caller.
#include "cnnc/cnnc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

const char kModel[] = R"(model tiny {
  input shape=(28, 28, 1)
  conv2d filters=4 kernel_size=3 strides=2 activation=relu
  flatten
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=3 batch_size=20 seed=3
)";

// 60 images of a fixed pattern: three steps of 20 per epoch.
cnnc::Dataset syntheticData() {
  const int64_t count = 60, pixels = 28 * 28;
  std::vector<uint8_t> images(count * pixels), labels(count);
  for (int64_t i = 0; i < count; ++i) {
    labels[i] = static_cast<uint8_t>(i % 10);
    for (int64_t p = 0; p < pixels; ++p)
      images[i * pixels + p] = static_cast<uint8_t>((i * 31 + p * 7) % 256);
  }
  auto data =
      cnnc::Dataset::fromMemory(images.data(), labels.data(), count, 28, 28);
  EXPECT_TRUE(data.ok()) << data.status().message();
  return *std::move(data);
}

cnnc::Model compile(const cnnc::CompileOptions &options = {},
                    const std::string &source = kModel) {
  auto m = cnnc::Model::fromString(source, "tiny.dsl", options);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *std::move(m);
}

TEST(FitReport, StopEndsTheFitAfterTheCurrentStep) {
  cnnc::Model model = compile();
  cnnc::Dataset data = syntheticData();
  std::atomic<bool> stop{false};
  cnnc::FitReport report;
  cnnc::FitOptions fo;
  fo.stop = &stop;
  fo.report = &report;
  // Asked to stop at the end of epoch 1: the first step of epoch 2 still
  // runs, then fit returns with epoch 1 only.
  fo.onEpochEnd = [&](const cnnc::EpochMetrics &m) {
    if (m.epoch == 1)
      stop = true;
    return true;
  };
  auto history = model.fit(data, nullptr, fo);
  ASSERT_TRUE(history.ok()) << history.status().message();
  EXPECT_EQ(history->size(), 1u);
  EXPECT_TRUE(report.stopped);
  EXPECT_EQ(report.epoch, 2);
  EXPECT_EQ(report.step, 1);
  ASSERT_EQ(report.history.size(), 1u);
  EXPECT_EQ(report.history[0].loss, (*history)[0].loss);

  // Already set: one step, no epoch.
  fo.onEpochEnd = nullptr;
  auto none = model.fit(data, nullptr, fo);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(report.stopped);
  EXPECT_EQ(report.epoch, 1);
  EXPECT_EQ(report.step, 1);
  EXPECT_TRUE(report.history.empty());

  // Not set: a complete fit, reported as such.
  stop = false;
  auto all = model.fit(data, nullptr, fo);
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->size(), 3u);
  EXPECT_FALSE(report.stopped);
  EXPECT_EQ(report.epoch, 3);
  EXPECT_EQ(report.step, 3);
  EXPECT_EQ(report.history.size(), 3u);
}

// A diverging loss is reported as Keras reports it: training goes on.
TEST(FitReport, ADivergingLossIsReportedInTheHistory) {
  cnnc::CompileOptions co;
  co.learningRate = 1e30;
  co.batchSize = 60; // one step per epoch: epoch 1's loss is still finite
  cnnc::Model model = compile(co);
  auto history = model.fit(syntheticData(), nullptr, {});
  ASSERT_TRUE(history.ok()) << history.status().message();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_TRUE(std::isfinite((*history)[0].loss));
  EXPECT_FALSE(std::isfinite((*history)[1].loss));
}

// With terminate_on_nan a diverging loss fails the fit; the report keeps
// the epochs before it.
TEST(FitReport, KeepsTheCompletedEpochsOfAFailedFit) {
  cnnc::CompileOptions co;
  co.learningRate = 1e30;
  co.batchSize = 60;
  std::string source = kModel;
  source.replace(source.find("seed=3"), 6,
                 "seed=3 callbacks=[terminate_on_nan]");
  cnnc::Model model = compile(co, source);
  cnnc::FitReport report;
  cnnc::FitOptions fo;
  fo.report = &report;
  auto history = model.fit(syntheticData(), nullptr, fo);
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().message(),
            "terminate_on_nan stopped training: the loss is not finite at "
            "epoch 2, step 1");
  ASSERT_EQ(report.history.size(), 1u);
  EXPECT_EQ(report.history[0].epoch, 1);
  EXPECT_EQ(report.epoch, 2);
  EXPECT_EQ(report.step, 1);
  EXPECT_FALSE(report.stopped);
}

} // namespace
