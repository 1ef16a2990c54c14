// Learning-rate schedules against Keras 3's formulas
// (keras/src/optimizers/schedules/learning_rate_schedule.py), written out
// here step by step with their constants.
#include "ir/TrainingSpec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace cnnc::ir {
namespace {

ScheduleSpec cosine(double initial, int64_t steps, double alpha) {
  ScheduleSpec s;
  s.kind = ScheduleKind::CosineDecay;
  s.initialLearningRate = initial;
  s.decaySteps = steps;
  s.alpha = alpha;
  return s;
}

TEST(Schedules, CosineDecayFollowsTheHalfCosineToAlpha) {
  ScheduleSpec s = cosine(0.1, 100, 0.2);
  for (int64_t t : {0, 1, 25, 50, 99, 100, 101, 1000}) {
    double done = std::min<double>(t, 100) / 100;
    double cosineDecayed = 0.5 * (1 + std::cos(std::numbers::pi * done));
    double want = 0.1 * ((1 - 0.2) * cosineDecayed + 0.2);
    EXPECT_DOUBLE_EQ(learningRateAt(s, t), want) << "step " << t;
  }
  EXPECT_DOUBLE_EQ(learningRateAt(s, 0), 0.1);
  EXPECT_DOUBLE_EQ(learningRateAt(s, 50), 0.1 * (0.8 * 0.5 + 0.2));
  // After decay_steps it stays at initial * alpha.
  EXPECT_DOUBLE_EQ(learningRateAt(s, 5000), 0.1 * 0.2);
}

TEST(Schedules, CosineDecayWarmsUpLinearlyThenDecaysFromTheTarget) {
  ScheduleSpec s = cosine(0.0, 100, 0.0);
  s.hasWarmupTarget = true;
  s.warmupTarget = 0.4;
  s.warmupSteps = 10;
  EXPECT_DOUBLE_EQ(learningRateAt(s, 0), 0.0);
  EXPECT_DOUBLE_EQ(learningRateAt(s, 5), 0.2);
  EXPECT_DOUBLE_EQ(learningRateAt(s, 9), 0.4 * 9 / 10);
  EXPECT_DOUBLE_EQ(learningRateAt(s, 10), 0.4); // decay starts at the target
  EXPECT_DOUBLE_EQ(learningRateAt(s, 60),
                   0.4 * 0.5 * (1 + std::cos(std::numbers::pi * 0.5)));
  EXPECT_NEAR(learningRateAt(s, 110), 0.0, 1e-18);
  EXPECT_NEAR(learningRateAt(s, 500), 0.0, 1e-18);
}

TEST(Schedules, ExponentialDecaySmoothAndStaircase) {
  ScheduleSpec s;
  s.kind = ScheduleKind::ExponentialDecay;
  s.initialLearningRate = 0.01;
  s.decaySteps = 100;
  s.decayRate = 0.5;
  for (int64_t t : {0, 1, 50, 99, 100, 150, 1000})
    EXPECT_DOUBLE_EQ(learningRateAt(s, t), 0.01 * std::pow(0.5, t / 100.0))
        << "step " << t;
  s.staircase = true;
  EXPECT_DOUBLE_EQ(learningRateAt(s, 99), 0.01);
  EXPECT_DOUBLE_EQ(learningRateAt(s, 100), 0.005);
  EXPECT_DOUBLE_EQ(learningRateAt(s, 199), 0.005);
  EXPECT_DOUBLE_EQ(learningRateAt(s, 250), 0.0025);
}

// Keras: values[0] while step <= boundaries[0], values[i] while
// boundaries[i-1] < step <= boundaries[i], the last value after them.
TEST(Schedules, PiecewiseConstantDecayIncludesEachBoundaryInTheStepBefore) {
  ScheduleSpec s;
  s.kind = ScheduleKind::PiecewiseConstantDecay;
  s.boundaries = {100, 110};
  s.values = {1.0, 0.5, 0.1};
  EXPECT_EQ(learningRateAt(s, 0), 1.0);
  EXPECT_EQ(learningRateAt(s, 100), 1.0);
  EXPECT_EQ(learningRateAt(s, 101), 0.5);
  EXPECT_EQ(learningRateAt(s, 110), 0.5);
  EXPECT_EQ(learningRateAt(s, 111), 0.1);
  EXPECT_EQ(learningRateAt(s, 1 << 30), 0.1);
}

} // namespace
} // namespace cnnc::ir
