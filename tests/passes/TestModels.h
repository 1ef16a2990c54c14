// Forward graphs built by hand with ir::Graph::create, in the frontend's
// conventions (inputs %x and %step, params "<layer>.kernel"/"<layer>.bias",
// outputs "logits" and "probs").
#pragma once

#include "ir/FusedStages.h"
#include "ir/Graph.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cnnc::testing {

// Layer-by-layer construction; every call adds the layer's ops and params.
// Shape errors throw (absl::StatusOr::value), failing the test.
class ModelBuilder {
public:
  ModelBuilder(const std::string &name, std::vector<int64_t> xShape);

  ir::Graph &graph() { return g_; }
  ir::ValueId x() const { return x_; }
  ir::ValueId step() const { return step_; }

  ir::ValueId conv(const std::string &name, ir::ValueId in, int64_t filters,
                   int64_t k, int64_t stride = 1, bool same = false,
                   const std::string &activation = "relu");
  ir::ValueId maxPool(const std::string &name, ir::ValueId in, int64_t pool,
                      int64_t stride, bool same = false);
  ir::ValueId avgPool(const std::string &name, ir::ValueId in, int64_t pool,
                      int64_t stride, bool same = false);
  ir::ValueId dropout(const std::string &name, ir::ValueId in, double rate);
  ir::ValueId flatten(const std::string &name, ir::ValueId in);
  // activation "" means linear.
  ir::ValueId dense(const std::string &name, ir::ValueId in, int64_t units,
                    const std::string &activation = "");
  ir::ValueId param(const std::string &name, std::vector<int64_t> shape);

  // ---- Global pooling, batch normalization, parametric activations ----
  ir::ValueId globalAvgPool(const std::string &name, ir::ValueId in);
  // batch_norm in training mode plus the moving-average updates of
  // "<name>.moving_mean" / "<name>.moving_variance" (trainable = 0), as the
  // frontend lowers batch_normalization.
  ir::ValueId batchNorm(const std::string &name, ir::ValueId in,
                        bool scale = true, bool center = true,
                        double momentum = 0.9, double epsilon = 1e-3);
  // An activation op of `kind` with its parameter (leaky_relu's
  // negative_slope, elu's alpha).
  ir::ValueId activation(const std::string &name, ir::ValueId in,
                         const std::string &kind, double param = 0);

  // Adds softmax(logits) and the outputs "logits" and "probs".
  ir::Graph finish(ir::ValueId logits);

private:
  ir::ValueId window(ir::OpKind kind, const std::string &name, ir::ValueId in,
                     int64_t pool, int64_t stride, bool same);
  std::vector<int64_t> padding(ir::ValueId in, int64_t k, int64_t stride,
                               bool same) const;
  ir::ValueId act(const std::string &name, ir::ValueId in,
                  const std::string &kind);

  ir::Graph g_;
  ir::ValueId x_, step_;
  int64_t salt_ = 0;
};

// The ops of one kind, in graph order; with `stages`, only the fused ops
// with exactly those stages.
std::vector<const ir::Op *> opsOfKind(const ir::Graph &g, ir::OpKind kind);
std::vector<const ir::Op *> opsOfKind(const ir::Graph &g, ir::OpKind kind,
                                      ir::FusedStageSet stages);
inline int countOps(const ir::Graph &g, ir::OpKind kind) {
  return static_cast<int>(opsOfKind(g, kind).size());
}
inline int countOps(const ir::Graph &g, ir::OpKind kind,
                    ir::FusedStageSet stages) {
  return static_cast<int>(opsOfKind(g, kind, stages).size());
}

// The Keras MNIST tutorial model on x : f32[batch, 28, 28, 1].
ir::Graph tutorialModel(int64_t batch);
// Same padding, strided conv, average pooling, sigmoid/tanh; x [b, 9, 9, 1].
ir::Graph samePaddingAvgPoolModel(int64_t batch);
// One value read three times (add(r, r) then mul(s, r)); x [b, 6].
ir::Graph sharedValueModel(int64_t batch);
// Every transpose_a/transpose_b combination, params on both sides; x [b, 6].
ir::Graph matmulModel(int64_t batch);
// Small conv net: overlapping max pool with padding, conv with asymmetric
// same padding, stride-1 average pool with padding; x [b, 7, 7, 2].
ir::Graph tinyConvModel(int64_t batch);
// dense -> dropout(0.5) -> dense; x [b, 8].
ir::Graph dropoutModel(int64_t batch);
// conv (no bias) -> batch_norm -> leaky_relu(0.3) -> global average pool ->
// dense; x [b, 5, 5, 2].
ir::Graph batchNormConvModel(int64_t batch);
// matmul -> batch_norm (rank 2, without scale) -> elu(0.7) -> batch_norm
// (without center) -> dense; x [b, 6].
ir::Graph batchNormDenseModel(int64_t batch);

// Inputs and params of one step, by name (shared by every graph derived
// from one forward graph).
using Tensors = std::map<std::string, std::vector<double>>;

// Random values for a training graph's params (uniform in ±paramScale), %x
// (±1), %labels (class indices) and %step (3), drawn in value order from
// `seed`.
Tensors randomStepTensors(const ir::Graph &train, uint32_t seed,
                          double paramScale);

} // namespace cnnc::testing
