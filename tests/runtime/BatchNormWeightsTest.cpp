// Batch normalization's weights in the runtime: initialization, the moving
// statistics that training updates and inference reads (one ParamStore for
// every graph), and a save/load round trip that carries them under Keras's
// names.
#include "frontend/Frontend.h"
#include "runtime/Model.h"
#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>

namespace cnnc::runtime {
namespace {

namespace fs = std::filesystem;

const char *const kSource = R"(model bn {
  input shape=(8, 8, 1)
  conv2d filters=4 kernel_size=3 use_bias=false
  batch_normalization momentum=0.5
  activation activation=relu
  global_average_pooling2d
  dense units=3 activation=softmax
}
fit batch_size=8 epochs=1 shuffle=false
)";

class BatchNormWeightsTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cnnc-bn-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    // 40 random 8x8 images (5 steps of 8), labels 0..2.
    std::mt19937 rng(7);
    data.images = {40, 8, 8, 1, std::vector<uint8_t>(40 * 64)};
    for (uint8_t &p : data.images.pixels)
      p = static_cast<uint8_t>(rng() % 256);
    for (int i = 0; i < 40; ++i)
      data.labels.push_back(static_cast<uint8_t>(i % 3));
  }
  void TearDown() override { fs::remove_all(dir); }

  std::unique_ptr<Model> makeModel() {
    frontend::ParseResult r = frontend::parseProgram(kSource, "bn.dsl");
    EXPECT_FALSE(r.error) << r.error->str();
    spec = frontend::trainingSpec(*r.program);
    frontend::LowerResult l = frontend::lowerModel(*r.program, spec);
    EXPECT_FALSE(l.error) << l.error->str();
    auto m = Model::create(l.model->forward, spec, 2);
    EXPECT_TRUE(m.ok()) << m.status();
    return *std::move(m);
  }

  std::map<std::string, std::vector<float>> saved(Model &m,
                                                  const std::string &name) {
    std::string path = (fs::path(dir) / name).string();
    absl::Status s = m.saveWeights(path);
    EXPECT_TRUE(s.ok()) << s;
    auto tensors = readSafetensors(path);
    EXPECT_TRUE(tensors.ok()) << tensors.status();
    std::map<std::string, std::vector<float>> out;
    for (NamedTensor &t : *tensors)
      out[t.name] = std::move(t.data);
    return out;
  }

  std::vector<float> predict(Model &m) {
    auto p = m.predict(data.images.pixels.data(), data.images.count);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : std::vector<float>{};
  }

  std::string dir;
  LabeledImages data;
  ir::TrainingSpec spec;
};

TEST_F(BatchNormWeightsTest, InitializedAsKeras) {
  auto m = makeModel();
  m->initializeWeights(3);
  auto w = saved(*m, "init.safetensors");
  EXPECT_EQ(w["batch_normalization.gamma"], std::vector<float>(4, 1.0f));
  EXPECT_EQ(w["batch_normalization.beta"], std::vector<float>(4, 0.0f));
  EXPECT_EQ(w["batch_normalization.moving_mean"], std::vector<float>(4, 0.0f));
  EXPECT_EQ(w["batch_normalization.moving_variance"],
            std::vector<float>(4, 1.0f));
  EXPECT_EQ(w.size(), 7u); // and conv2d.kernel, dense.kernel, dense.bias
}

TEST_F(BatchNormWeightsTest, TrainingMovesStatisticsAndARoundTripKeepsThem) {
  auto a = makeModel();
  a->initializeWeights(3);
  auto history = a->fit(data, nullptr, {});
  ASSERT_TRUE(history.ok()) << history.status();
  auto w = saved(*a, "trained.safetensors");
  // Five steps at momentum 0.5 moved the moving statistics off their
  // initial values (the conv outputs of random pixels are not 0-mean, unit
  // variance); gamma and beta were trained.
  for (int c = 0; c < 4; ++c) {
    EXPECT_NE(w["batch_normalization.moving_mean"][c], 0.0f) << c;
    EXPECT_NE(w["batch_normalization.moving_variance"][c], 1.0f) << c;
    EXPECT_GT(w["batch_normalization.moving_variance"][c], 0.0f) << c;
    EXPECT_NE(w["batch_normalization.gamma"][c], 1.0f) << c;
  }

  // A fresh model with other weights, then loaded: same predictions and
  // evaluation, bit for bit.
  auto b = makeModel();
  b->initializeWeights(99);
  std::string path = (fs::path(dir) / "trained.safetensors").string();
  ASSERT_TRUE(b->loadWeights(path).ok());
  std::vector<float> pa = predict(*a), pb = predict(*b);
  ASSERT_EQ(pa.size(), 40u * 3);
  EXPECT_EQ(pa, pb);
  auto ea = a->evaluate(data), eb = b->evaluate(data);
  ASSERT_TRUE(ea.ok() && eb.ok());
  EXPECT_EQ(ea->loss, eb->loss);

  // Inference reads the moving statistics: other values, other outputs.
  std::vector<NamedTensor> changed = *readSafetensors(path);
  for (NamedTensor &t : changed)
    if (t.name == "batch_normalization.moving_variance")
      for (float &v : t.data)
        v *= 4;
  std::string path2 = (fs::path(dir) / "changed.safetensors").string();
  ASSERT_TRUE(writeSafetensors(path2, changed).ok());
  ASSERT_TRUE(b->loadWeights(path2).ok());
  EXPECT_NE(predict(*b), pa);

  // A file without the moving statistics is rejected, naming the tensor.
  std::vector<NamedTensor> partial;
  for (NamedTensor &t : changed)
    if (t.name.find("moving") == std::string::npos)
      partial.push_back(t);
  std::string path3 = (fs::path(dir) / "partial.safetensors").string();
  ASSERT_TRUE(writeSafetensors(path3, partial).ok());
  absl::Status s = b->loadWeights(path3);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()),
            path3 + ": model tensor 'batch_normalization.moving_mean' is "
                    "missing");
}

// The same seed and thread count give the same moving statistics: the
// batch reductions are deterministic.
TEST_F(BatchNormWeightsTest, TrainingIsReproducible) {
  auto a = makeModel(), b = makeModel();
  a->initializeWeights(5);
  b->initializeWeights(5);
  ASSERT_TRUE(a->fit(data, nullptr, {}).ok());
  ASSERT_TRUE(b->fit(data, nullptr, {}).ok());
  EXPECT_EQ(saved(*a, "a.safetensors"), saved(*b, "b.safetensors"));
}

// Data whose sizes disagree is an error, never a read past its end.
TEST_F(BatchNormWeightsTest, InconsistentDataIsAnError) {
  auto m = makeModel();
  m->initializeWeights(5);
  LabeledImages fewLabels = data;
  fewLabels.labels.pop_back();
  auto h = m->fit(fewLabels, nullptr, {});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(std::string(h.status().message()),
            "training set holds 39 labels and 2560 pixels for 40 images of "
            "8x8x1");
  LabeledImages fewPixels = data;
  fewPixels.images.pixels.resize(39 * 64);
  auto e = m->evaluate(fewPixels);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(std::string(e.status().message()),
            "evaluation set holds 40 labels and 2496 pixels for 40 images of "
            "8x8x1");
}

} // namespace
} // namespace cnnc::runtime
