// Models too large for memory are refused, naming the size and the weight,
// before anything is allocated: an error instead of an OOM kill.
#include "runtime/MemoryBudget.h"
#include "frontend/Frontend.h"
#include "runtime/Model.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace cnnc::testing {
namespace {

struct Lowered {
  ir::Graph forward;
  ir::TrainingSpec spec;
};

Lowered lower(const std::string &source) {
  auto parsed = frontend::parseProgram(source, "m.dsl");
  EXPECT_FALSE(parsed.error) << parsed.error->str();
  Lowered l;
  l.spec = frontend::trainingSpec(*parsed.program);
  auto lowered = frontend::lowerModel(*parsed.program, l.spec);
  EXPECT_FALSE(lowered.error) << lowered.error->str();
  l.forward = std::move(lowered.model->forward);
  return l;
}

// Sets $CNNC_MEMORY_LIMIT for one test.
class MemoryLimit {
public:
  explicit MemoryLimit(const char *bytes) {
    ::setenv("CNNC_MEMORY_LIMIT", bytes, 1);
  }
  ~MemoryLimit() { ::unsetenv("CNNC_MEMORY_LIMIT"); }
};

// 8.5 GB of weights, 33.9 GB with Adam's moments and the gradients, on a
// 24 GB machine: refused at once (it used to initialize them for a minute,
// then be OOM-killed in training).
TEST(MemoryBudget, HugeDenseLayerIsRefusedBeforeAllocation) {
  MemoryLimit limit("24000000000");
  Lowered l = lower("model m {\n input shape=(28, 28, 1)\n flatten\n"
                    " dense units=2700000 activation=softmax\n}\n");
  auto m = runtime::Model::create(std::move(l.forward), l.spec, 1);
  ASSERT_FALSE(m.ok());
  std::string msg(m.status().message());
  EXPECT_NE(msg.find("more than the"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dense.kernel f32[784,2700000]"), std::string::npos)
      << msg;
}

// Weights x (1 + gradient + optimizer slots): adam's two slots make 4x.
TEST(MemoryBudget, WeightsCountGradientsAndOptimizerState) {
  std::string adam = "model m {\n input shape=(10, 10, 1)\n flatten\n"
                     " dense units=100 activation=softmax\n}\n"
                     "compile optimizer=adam\n";
  std::string sgd = "model m {\n input shape=(10, 10, 1)\n flatten\n"
                    " dense units=100 activation=softmax\n}\n"
                    "compile optimizer=sgd\n";
  // 100*100 + 100 floats = 40400 bytes of weights.
  MemoryLimit limit("100000");
  Lowered a = lower(adam), s = lower(sgd);
  EXPECT_FALSE(runtime::checkWeightMemory(a.forward, a.spec).ok()); // 161600
  EXPECT_TRUE(runtime::checkWeightMemory(s.forward, s.spec).ok());  // 80800
}

TEST(MemoryBudget, ArenaLargerThanMemoryIsRefusedBeforeCompiling) {
  Lowered l = lower("model m {\n input shape=(64, 64, 1)\n"
                    " conv2d filters=64 kernel_size=3 padding=same\n"
                    " flatten\n dense units=2 activation=softmax\n}\n"
                    "fit batch_size=4096\n");
  auto m = runtime::Model::create(std::move(l.forward), l.spec, 1);
  ASSERT_TRUE(m.ok()) << m.status();
  MemoryLimit limit("200000000"); // the activations need about 4 GB
  runtime::LabeledImages data;
  data.images = {4096, 64, 64, 1, std::vector<uint8_t>(4096 * 64 * 64)};
  data.labels.assign(4096, 0);
  auto history = (*m)->fit(data, nullptr, {});
  ASSERT_FALSE(history.ok());
  std::string msg(history.status().message());
  EXPECT_NE(msg.find("the activations of one step"), std::string::npos) << msg;
}

} // namespace
} // namespace cnnc::testing
