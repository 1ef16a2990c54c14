// Every model under models/, at every stage of every pipeline, prints to
// text that parses back to the same program and prints the same again. A
// search file (models/mnist_tune.dsl) stands for its first random draw.
#include "IrTestUtil.h"

#include "frontend/Frontend.h"
#include "frontend/SearchSpace.h"
#include "passes/Pipelines.h"
#include "passes/Rebatch.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace cnnc::ir {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> modelFiles() {
  std::vector<std::string> out;
  for (const auto &e : fs::directory_iterator(CNNC_SOURCE_DIR "/models"))
    if (e.path().extension() == ".dsl")
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct Stage {
  std::string name;
  Graph graph;
};

// The forward graph and the graph after every pass of the training (with
// the model's optimizer and with each other one), evaluation and prediction
// pipelines, and the forward graph rebatched.
std::vector<Stage> stagesOf(const std::string &path) {
  std::vector<Stage> stages;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  frontend::SearchResult search = frontend::parseSearch(text.str(), path);
  if (search.error) {
    ADD_FAILURE() << search.error->str();
    return stages;
  }
  const frontend::SearchProgram &sp = *search.program;
  frontend::ParseResult parsed =
      sp.spaces.empty()
          ? frontend::parseFile(path)
          : frontend::parseProgram(
                frontend::instantiate(sp, frontend::randomTrial(sp, 0, 0)),
                path);
  if (parsed.error) {
    ADD_FAILURE() << parsed.error->str();
    return stages;
  }
  TrainingSpec spec = frontend::trainingSpec(*parsed.program);
  frontend::LowerResult lowered = frontend::lowerModel(*parsed.program, spec);
  if (lowered.error) {
    ADD_FAILURE() << lowered.error->str();
    return stages;
  }
  const Graph &forward = lowered.model->forward;
  stages.push_back({"forward", forward});

  std::string pipeline;
  passes::PipelineOptions options;
  options.verifyEach = true;
  options.afterPass = [&](const passes::PassInvocation &inv, const Graph &g) {
    stages.push_back({pipeline + "/" + inv.pass->name, g});
  };
  std::vector<std::pair<std::string, OptimizerSpec>> optimizers = {
      {"model", spec.optimizer}};
  OptimizerSpec sgd;
  sgd.kind = OptimizerKind::SGD;
  optimizers.push_back({"sgd", sgd});
  sgd.momentum = 0.9;
  sgd.nesterov = true;
  optimizers.push_back({"sgd-nesterov", sgd});
  OptimizerSpec rms;
  rms.kind = OptimizerKind::RMSprop;
  optimizers.push_back({"rmsprop", rms});
  for (const auto &[name, opt] : optimizers) {
    TrainingSpec s = spec;
    s.optimizer = opt;
    pipeline = "train-" + name;
    auto train = passes::runTrainingPipeline(forward, s, options);
    EXPECT_TRUE(train.ok()) << path << ": " << train.status();
  }
  pipeline = "eval";
  EXPECT_TRUE(passes::runEvalPipeline(forward, options).ok()) << path;
  pipeline = "predict";
  EXPECT_TRUE(passes::runPredictPipeline(forward, options).ok()) << path;
  auto rebatched = passes::rebatch(forward, 3);
  EXPECT_TRUE(rebatched.ok()) << path << ": " << rebatched.status();
  if (rebatched.ok())
    stages.push_back({"rebatch", *rebatched});
  return stages;
}

TEST(RoundTrip, EveryModelAtEveryStage) {
  std::vector<std::string> files = modelFiles();
  ASSERT_GE(files.size(), 3u);
  for (const std::string &path : files) {
    std::vector<Stage> stages = stagesOf(path);
    // forward, 4 training pipelines and eval/predict of >= 2 passes each,
    // rebatch.
    EXPECT_GE(stages.size(), 14u) << path;
    for (const Stage &s : stages) {
      SCOPED_TRACE(path + " " + s.name);
      testing::expectRoundTrip(s.graph);
    }
  }
}

// The stages contain every op the pipelines build, so the round trip above
// covers them all (add only sums the gradients of values used twice, which
// none of the models has).
TEST(RoundTrip, StagesCoverTheOps) {
  std::set<std::string> seen;
  for (const std::string &path : modelFiles())
    for (const Stage &s : stagesOf(path))
      for (const Op &op : s.graph.ops())
        seen.insert(opName(op.kind));
  for (OpKind k : {OpKind::Conv2D,
                   OpKind::Conv2DBackwardData,
                   OpKind::Conv2DBackwardFilter,
                   OpKind::BiasAdd,
                   OpKind::BiasGrad,
                   OpKind::MaxPool2D,
                   OpKind::MaxPool2DGrad,
                   OpKind::AvgPool2D,
                   OpKind::AvgPool2DGrad,
                   OpKind::MatMul,
                   OpKind::Reshape,
                   OpKind::Activation,
                   OpKind::ActivationGrad,
                   OpKind::Softmax,
                   OpKind::SoftmaxCrossEntropy,
                   OpKind::SoftmaxCrossEntropyGrad,
                   OpKind::CountCorrect,
                   OpKind::Dropout,
                   OpKind::Mul,
                   OpKind::SgdUpdate,
                   OpKind::AdamUpdate,
                   OpKind::RmspropUpdate})
    EXPECT_TRUE(seen.count(opName(k))) << opName(k);
}

} // namespace
} // namespace cnnc::ir
