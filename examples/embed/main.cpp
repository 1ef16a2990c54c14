// Embedding cnnc: compile a model from a string, train it for a few steps on
// MNIST, then classify a digit held in the program's own buffer.
//
//   embed [MNIST_DIR]    (default: $CNNC_DATA_DIR, ./data/mnist, ...)
#include <cnnc/cnnc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

const char kModel[] = R"(model embedded {
  input shape=(28, 28, 1)
  conv2d filters=8 kernel_size=3 activation=relu
  max_pooling2d pool_size=2
  flatten
  dense units=10 activation=softmax
}
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=[accuracy]
fit dataset=mnist epochs=1 batch_size=32 seed=1
)";

int fail(const cnnc::Status &status) {
  // DSL errors come with the source line and a caret.
  if (status.diagnostic())
    std::fprintf(stderr, "%s\n", status.diagnostic()->str().c_str());
  else
    std::fprintf(stderr, "embed: error: %s\n", status.message().c_str());
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  std::string dataDir = argc > 1 ? argv[1] : "";
  std::printf("cnnc %s\n", cnnc::version());

  auto model = cnnc::Model::fromString(kModel, "embedded.dsl");
  if (!model)
    return fail(model.status());
  auto train = cnnc::Dataset::mnist("train", dataDir);
  if (!train)
    return fail(train.status());
  auto test = cnnc::Dataset::mnist("t10k", dataDir);
  if (!test)
    return fail(test.status());

  // A few steps: the first 3,200 training images, 100 batches of 32.
  cnnc::FitOptions fit;
  fit.limit = 3200;
  fit.onEpochEnd = [](const cnnc::EpochMetrics &m) {
    std::printf("epoch %d: loss %.4f, accuracy %.4f (%.1fs)\n", m.epoch, m.loss,
                m.accuracy, m.seconds);
    return true; // false would stop training here
  };
  if (auto history = model->fit(*train, nullptr, fit); !history)
    return fail(history.status());

  // One digit in our own buffer: NHWC u8 pixels (float works too).
  int64_t pixels = test->rows() * test->cols();
  std::vector<uint8_t> digit(test->pixels(), test->pixels() + pixels);
  auto probs = model->predict(digit.data(), 1);
  if (!probs)
    return fail(probs.status());
  auto best = std::max_element(probs->begin(), probs->end());
  std::printf("test image 0: predicted %d (p=%.3f), label %d\n",
              static_cast<int>(best - probs->begin()), *best,
              test->labels()[0]);

  auto result = model->evaluate(*test);
  if (!result)
    return fail(result.status());
  std::printf("test accuracy: %.4f\n", result->accuracy);
  return 0;
}
