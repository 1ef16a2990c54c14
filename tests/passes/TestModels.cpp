#include "passes/TestModels.h"

#include "ir/ShapeRules.h"

#include <random>

namespace cnnc::testing {

using ir::Attrs;
using ir::OpKind;
using ir::ValueId;

std::vector<const ir::Op *> opsOfKind(const ir::Graph &g, OpKind kind) {
  std::vector<const ir::Op *> out;
  for (const ir::Op &op : g.ops())
    if (op.kind == kind)
      out.push_back(&op);
  return out;
}

std::vector<const ir::Op *> opsOfKind(const ir::Graph &g, OpKind kind,
                                      ir::FusedStageSet stages) {
  std::vector<const ir::Op *> out;
  for (const ir::Op *op : opsOfKind(g, kind))
    if (ir::fusedStagesOf(kind, op->attrs).value_or(ir::FusedStageSet{}) ==
        stages)
      out.push_back(op);
  return out;
}

ModelBuilder::ModelBuilder(const std::string &name, std::vector<int64_t> xShape)
    : g_(name) {
  x_ = g_.addInput("x", ir::f32(std::move(xShape)));
  step_ = g_.addInput("step", ir::i32({}));
}

ValueId ModelBuilder::param(const std::string &name,
                            std::vector<int64_t> shape) {
  return g_.addParam(name, ir::f32(std::move(shape)),
                     {{ir::AttrName::Init, std::string("glorot_uniform")}});
}

std::vector<int64_t> ModelBuilder::padding(ValueId in, int64_t k,
                                           int64_t stride, bool same) const {
  if (!same)
    return {0, 0, 0, 0};
  const auto &s = g_.type(in).shape;
  auto [t, b] = ir::samePadding(s[1], k, stride);
  auto [l, r] = ir::samePadding(s[2], k, stride);
  return {t, l, b, r};
}

ValueId ModelBuilder::act(const std::string &name, ValueId in,
                          const std::string &kind) {
  if (kind.empty())
    return in;
  return g_
      .create1(OpKind::Activation, {in}, {{ir::AttrName::Kind, kind}}, {},
               name + "_act")
      .value();
}

ValueId ModelBuilder::conv(const std::string &name, ValueId in, int64_t filters,
                           int64_t k, int64_t stride, bool same,
                           const std::string &activation) {
  int64_t c = g_.type(in).shape[3];
  ValueId w = param(name + ".kernel", {k, k, c, filters});
  ValueId b = param(name + ".bias", {filters});
  ValueId y =
      g_.create1(OpKind::Conv2D, {in, w},
                 {{ir::AttrName::Strides, std::vector<int64_t>{stride, stride}},
                  {ir::AttrName::Padding, padding(in, k, stride, same)}},
                 {}, name + "_conv")
          .value();
  y = g_.create1(OpKind::BiasAdd, {y, b}, {}, {}, name + "_bias").value();
  return act(name, y, activation);
}

ValueId ModelBuilder::window(OpKind kind, const std::string &name, ValueId in,
                             int64_t pool, int64_t stride, bool same) {
  return g_
      .create1(kind, {in},
               {{ir::AttrName::PoolSize, std::vector<int64_t>{pool, pool}},
                {ir::AttrName::Strides, std::vector<int64_t>{stride, stride}},
                {ir::AttrName::Padding, padding(in, pool, stride, same)}},
               {}, name)
      .value();
}

ValueId ModelBuilder::maxPool(const std::string &name, ValueId in, int64_t pool,
                              int64_t stride, bool same) {
  return window(OpKind::MaxPool2D, name, in, pool, stride, same);
}

ValueId ModelBuilder::avgPool(const std::string &name, ValueId in, int64_t pool,
                              int64_t stride, bool same) {
  return window(OpKind::AvgPool2D, name, in, pool, stride, same);
}

ValueId ModelBuilder::dropout(const std::string &name, ValueId in,
                              double rate) {
  return g_
      .create(OpKind::Dropout, {in, step_},
              {{ir::AttrName::Rate, rate},
               {ir::AttrName::Seed, int64_t{42}},
               {ir::AttrName::Salt, ++salt_}},
              {}, {name, name + "_mask"})
      .value()[0];
}

ValueId ModelBuilder::flatten(const std::string &name, ValueId in) {
  const ir::TensorType &t = g_.type(in);
  int64_t n = t.shape[0];
  return g_
      .create1(
          OpKind::Reshape, {in},
          {{ir::AttrName::Shape, std::vector<int64_t>{n, t.numElements() / n}}},
          {}, name)
      .value();
}

ValueId ModelBuilder::dense(const std::string &name, ValueId in, int64_t units,
                            const std::string &activation) {
  ValueId w = param(name + ".kernel", {g_.type(in).shape[1], units});
  ValueId b = param(name + ".bias", {units});
  ValueId y =
      g_.create1(OpKind::MatMul, {in, w}, {}, {}, name + "_matmul").value();
  y = g_.create1(OpKind::BiasAdd, {y, b}, {}, {}, name + "_bias").value();
  return act(name, y, activation);
}

// ---- Global pooling, batch normalization, parametric activations ----

ValueId ModelBuilder::globalAvgPool(const std::string &name, ValueId in) {
  return g_.create1(OpKind::GlobalAvgPool2D, {in}, {}, {}, name).value();
}

ValueId ModelBuilder::batchNorm(const std::string &name, ValueId in, bool scale,
                                bool center, double momentum, double epsilon) {
  int64_t c = g_.type(in).shape.back();
  auto weight = [&](const std::string &suffix, const char *init,
                    bool trainable) {
    Attrs attrs{{ir::AttrName::Init, std::string(init)}};
    if (!trainable)
      attrs.set(ir::AttrName::Trainable, int64_t{0});
    return g_.addParam(name + suffix, ir::f32({c}), attrs);
  };
  std::vector<ValueId> operands{in};
  if (scale)
    operands.push_back(weight(".gamma", "ones", true));
  if (center)
    operands.push_back(weight(".beta", "zeros", true));
  ValueId mean = weight(".moving_mean", "zeros", false);
  ValueId variance = weight(".moving_variance", "ones", false);
  std::vector<ValueId> r =
      g_.create(OpKind::BatchNorm, operands,
                {{ir::AttrName::Epsilon, epsilon},
                 {ir::AttrName::Scale, int64_t{scale ? 1 : 0}},
                 {ir::AttrName::Center, int64_t{center ? 1 : 0}}},
                {}, {name, name + ".mean", name + ".variance"})
          .value();
  for (auto [moving, stat] : {std::pair{mean, r[1]}, std::pair{variance, r[2]}})
    g_.create(OpKind::MovingAverageUpdate, {moving, stat},
              {{ir::AttrName::Momentum, momentum}})
        .value();
  return r[0];
}

ValueId ModelBuilder::activation(const std::string &name, ValueId in,
                                 const std::string &kind, double param) {
  Attrs attrs{{ir::AttrName::Kind, kind}};
  if (kind == "leaky_relu")
    attrs.set(ir::AttrName::NegativeSlope, param);
  if (kind == "elu")
    attrs.set(ir::AttrName::Alpha, param);
  return g_.create1(OpKind::Activation, {in}, attrs, {}, name).value();
}

ir::Graph ModelBuilder::finish(ValueId logits) {
  ValueId probs =
      g_.create1(OpKind::Softmax, {logits}, {}, {}, "probs").value();
  g_.addOutput("probs", probs);
  g_.addOutput("logits", logits);
  return g_;
}

ir::Graph tutorialModel(int64_t batch) {
  ModelBuilder m("mnist", {batch, 28, 28, 1});
  ValueId h = m.conv("conv2d", m.x(), 32, 3);
  h = m.maxPool("max_pooling2d", h, 2, 2);
  h = m.dropout("dropout", h, 0.25);
  h = m.conv("conv2d_1", h, 64, 3);
  h = m.maxPool("max_pooling2d_1", h, 2, 2);
  h = m.dropout("dropout_1", h, 0.25);
  h = m.flatten("flatten", h);
  h = m.dense("dense", h, 128, "relu");
  return m.finish(m.dense("dense_1", h, 10));
}

ir::Graph samePaddingAvgPoolModel(int64_t batch) {
  ModelBuilder m("samepad", {batch, 9, 9, 1});
  ValueId h = m.conv("conv_a", m.x(), 4, 3, 1, /*same=*/true);
  h = m.avgPool("avg", h, 2, 2, /*same=*/true); // 9 -> 5, padding [0,0,1,1]
  h = m.conv("conv_b", h, 6, 3, 2, /*same=*/true, "tanh"); // 5 -> 3
  h = m.flatten("flatten", h);
  h = m.dense("dense", h, 5, "sigmoid");
  return m.finish(m.dense("out", h, 3));
}

ir::Graph sharedValueModel(int64_t batch) {
  ModelBuilder m("shared", {batch, 6});
  ValueId r = m.dense("dense", m.x(), 5, "relu");
  ir::Graph &g = m.graph();
  ValueId s = g.create1(OpKind::Add, {r, r}, {}, {}, "twice").value();
  ValueId t = g.create1(OpKind::Mul, {s, r}, {}, {}, "product").value();
  return m.finish(m.dense("out", t, 3));
}

ir::Graph matmulModel(int64_t batch) {
  ModelBuilder m("matmuls", {batch, 6});
  ir::Graph &g = m.graph();
  auto mm = [&](ValueId a, ValueId b, int64_t ta, int64_t tb,
                const std::string &name) {
    return g
        .create1(
            OpKind::MatMul, {a, b},
            {{ir::AttrName::TransposeA, ta}, {ir::AttrName::TransposeB, tb}},
            {}, name)
        .value();
  };
  ValueId w1 = m.param("w1", {6, 5}), w2 = m.param("w2", {4, 5});
  ValueId w3 = m.param("w3", {4, 3}), w4 = m.param("w4", {3, 3});
  ValueId a = mm(m.x(), w1, 0, 0, "a"); // [b, 5]
  ValueId b = mm(a, w2, 0, 1, "b");     // [b, 4]
  ValueId c = mm(w3, b, 1, 1, "c");     // [3, b]
  c = g.create1(OpKind::Activation, {c},
                {{ir::AttrName::Kind, std::string("tanh")}}, {}, "c_act")
          .value();
  ValueId logits = mm(c, w4, 1, 0, "logits"); // [b, 3]
  return m.finish(logits);
}

ir::Graph tinyConvModel(int64_t batch) {
  ModelBuilder m("tiny", {batch, 7, 7, 2});
  ValueId h = m.conv("conv_a", m.x(), 3, 3);                  // 5x5x3
  h = m.maxPool("pool_a", h, 3, 2, /*same=*/true);            // 3x3x3
  h = m.conv("conv_b", h, 4, 2, 1, /*same=*/true, "sigmoid"); // 3x3x4
  h = m.avgPool("pool_b", h, 2, 1, /*same=*/true);            // 3x3x4
  h = m.flatten("flatten", h);
  h = m.dense("dense", h, 5, "tanh");
  return m.finish(m.dense("out", h, 3));
}

ir::Graph dropoutModel(int64_t batch) {
  ModelBuilder m("dropnet", {batch, 8});
  ValueId h = m.dense("dense", m.x(), 6, "relu");
  h = m.dropout("dropout", h, 0.5);
  return m.finish(m.dense("out", h, 3));
}

// ---- Global pooling, batch normalization, parametric activations ----

ir::Graph batchNormConvModel(int64_t batch) {
  ModelBuilder m("bnconv", {batch, 5, 5, 2});
  ValueId w = m.param("conv.kernel", {2, 2, 2, 3});
  ValueId h =
      m.graph()
          .create1(OpKind::Conv2D, {m.x(), w},
                   {{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
                    {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}},
                   {}, "conv")
          .value();         // 4x4x3
  h = m.batchNorm("bn", h); // over 4 * 4 * batch rows
  h = m.activation("leaky", h, "leaky_relu", 0.3);
  h = m.globalAvgPool("gap", h); // [b, 3]
  return m.finish(m.dense("out", h, 4));
}

ir::Graph batchNormDenseModel(int64_t batch) {
  ModelBuilder m("bndense", {batch, 6});
  // No bias before a batch norm: its gradient would be exactly 0.
  ValueId w = m.param("dense.kernel", {6, 5});
  ValueId h =
      m.graph().create1(OpKind::MatMul, {m.x(), w}, {}, {}, "dense").value();
  h = m.batchNorm("bn", h, /*scale=*/false, /*center=*/true);
  h = m.activation("elu", h, "elu", 0.7);
  h = m.batchNorm("bn_1", h, /*scale=*/true, /*center=*/false);
  return m.finish(m.dense("out", h, 3));
}

Tensors randomStepTensors(const ir::Graph &train, uint32_t seed,
                          double paramScale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uni(-1, 1);
  Tensors t;
  int64_t classes = train.type(train.output("probs")).shape[1];
  for (const ir::Value &v : train.values()) {
    std::vector<double> data(v.type.numElements());
    if (v.kind == ir::ValueKind::Param || v.name == "x") {
      double scale = v.kind == ir::ValueKind::Param ? paramScale : 1.0;
      for (double &d : data)
        d = scale * uni(rng);
    } else if (v.name == "labels") {
      for (double &d : data)
        d = static_cast<double>(rng() % classes);
    } else if (v.name == "step") {
      data = {3};
    } else if (v.name == "learning_rate") {
      data = {v.attrs.getFloat(ir::AttrName::Initial)}; // the recipe's rate
    } else {
      continue;
    }
    t[v.name] = std::move(data);
  }
  return t;
}

} // namespace cnnc::testing
