// The first images of real MNIST as public-API Datasets, loaded once per
// test suite (SetUpTestSuite) and shared by its tests.
#pragma once

#include "cnnc/cnnc.h"
#include "e2e/TestData.h"

#include <gtest/gtest.h>

#include <memory>

namespace cnnc::testing {

struct MnistSubset {
  std::unique_ptr<cnnc::Dataset> train, test; // null when MNIST is absent

  void load(int64_t trainCount, int64_t testCount) {
    std::string dir = mnistDir();
    if (dir.empty())
      return;
    auto all = cnnc::Dataset::mnist("train", dir);
    auto t10k = cnnc::Dataset::mnist("t10k", dir);
    ASSERT_TRUE(all.ok()) << all.status().message();
    ASSERT_TRUE(t10k.ok()) << t10k.status().message();
    train = std::make_unique<cnnc::Dataset>(all->head(trainCount));
    test = std::make_unique<cnnc::Dataset>(t10k->head(testCount));
  }
  void reset() {
    train.reset();
    test.reset();
  }
};

} // namespace cnnc::testing
