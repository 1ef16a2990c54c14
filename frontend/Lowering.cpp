// Lowers a checked Program to the forward graph. Shapes are tracked per layer
// (without the batch dimension) so that a layer that cannot work is reported
// at its own line, in the user's terms, before any op is created.
#include "frontend/Frontend.h"
#include "ir/ShapeRules.h"
#include "ir/Verifier.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <limits>

namespace cnnc::frontend {

namespace {

using ir::ValueId;

// Every tensor, batch included, stays below 2^31 elements: enough for any
// model that trains on one machine, and products of such sizes never
// overflow int64.
constexpr int64_t kMaxElements = std::numeric_limits<int32_t>::max();

// "13x13x32"
std::string dims(const std::vector<int64_t> &shape) {
  return fmt::format("{}", fmt::join(shape, "x"));
}

// The product of `shape` times `factor` when it is at most kMaxElements.
std::optional<int64_t> checkedElements(const std::vector<int64_t> &shape,
                                       int64_t factor = 1) {
  int64_t n = factor;
  if (n < 1 || n > kMaxElements)
    return std::nullopt;
  for (int64_t d : shape) {
    if (d < 1 || d > kMaxElements || n > kMaxElements / d)
      return std::nullopt;
    n *= d;
  }
  return n;
}

bool validSettings(const Layer &l) {
  auto positive = [](const IntPair &p) { return p[0] >= 1 && p[1] >= 1; };
  switch (l.kind) {
  case LayerKind::Conv2D:
    return l.filters >= 1 && positive(l.kernelSize) && positive(l.strides);
  case LayerKind::MaxPooling2D:
  case LayerKind::AveragePooling2D:
    return positive(l.poolSize) && positive(l.strides);
  case LayerKind::Dropout:
    return l.rate >= 0 && l.rate < 1;
  case LayerKind::Flatten:
    return true;
  case LayerKind::Dense:
    return l.units >= 1;
  case LayerKind::GlobalAveragePooling2D:
  case LayerKind::GlobalMaxPooling2D:
    return true;
  case LayerKind::BatchNormalization:
    return l.momentum >= 0 && l.momentum <= 1 && l.epsilon > 0;
  case LayerKind::Activation:
  case LayerKind::LeakyReLU:
  case LayerKind::ELU:
    return l.alpha >= 0;
  case LayerKind::ZeroPadding2D:
    return l.padTop >= 0 && l.padBottom >= 0 && l.padLeft >= 0 &&
           l.padRight >= 0;
  case LayerKind::RandomFlip:
  case LayerKind::RandomRotation:
  case LayerKind::RandomZoom:
  case LayerKind::RandomTranslation:
  case LayerKind::RandomContrast:
  case LayerKind::RandomBrightness:
    return true;
  case LayerKind::RandomCrop:
    return l.cropHeight >= 1 && l.cropWidth >= 1;
  case LayerKind::Rescaling:
    return std::isfinite(l.rescaleScale) && std::isfinite(l.rescaleOffset);
  }
  return false;
}

const char *lossName(ir::LossKind k) {
  return k == ir::LossKind::CategoricalCrossentropy
             ? "categorical_crossentropy"
             : "sparse_categorical_crossentropy";
}

class Lowerer {
public:
  Lowerer(const Program &p, const ir::TrainingSpec &spec)
      : p_(p), spec_(spec), g_(p.model.name) {}

  LowerResult run() {
    if (!lower())
      return {std::nullopt, *error_};
    return {LoweredModel{std::move(g_), std::move(summary_)}, std::nullopt};
  }

private:
  bool fail(SourceLoc loc, std::string message) {
    if (!error_)
      error_ = p_.diagnose(loc, std::move(message));
    return false;
  }

  // MNIST's shape is only checked when the file names the dataset, so that
  // small test models without a fit statement still lower.
  bool mnistNamed() const {
    return p_.fit && p_.fit->datasetLoc.known() &&
           spec_.fit.dataset == ir::DatasetKind::Mnist;
  }

  // An image folder's images are resized to image_size and converted to the
  // color mode, so the input layer must be exactly that.
  bool checkImageFolder(const ir::ImageFolderSpec &images, SourceLoc loc,
                        const char *what) {
    std::vector<int64_t> want = {images.height, images.width,
                                 ir::channelsOf(images.colorMode)};
    if (shape_ == want)
      return true;
    return fail(p_.model.inputLoc,
                fmt::format("input: the {} image_folder gives {}x{}x{} "
                            "images (image_size=({}, {}), color_mode={}, "
                            "line {}), but the input shape is {}",
                            what, want[0], want[1], want[2], images.height,
                            images.width, ir::colorModeName(images.colorMode),
                            loc.line, dims(shape_)));
  }

  bool lower() {
    const Model &m = p_.model;
    n_ = spec_.fit.batchSize;
    if (n_ < 1 || n_ > kMaxElements)
      return fail(p_.fit ? p_.fit->loc : m.loc,
                  fmt::format("batch_size must be between 1 and {}, got {}",
                              kMaxElements, n_));
    shape_.assign(m.inputShape.begin(), m.inputShape.end());
    for (int64_t d : shape_)
      if (d < 1)
        return fail(m.inputLoc, fmt::format("input: shape {} is not positive",
                                            dims(shape_)));
    if (!checkedElements(shape_, n_))
      return fail(m.inputLoc, fmt::format("input: a batch of {} {} images is "
                                          "too large",
                                          n_, dims(shape_)));
    if (mnistNamed() && shape_ != std::vector<int64_t>{28, 28, 1})
      return fail(m.inputLoc, fmt::format("input: mnist images are 28x28x1, "
                                          "but the input shape is {}",
                                          dims(shape_)));
    if (p_.fit && spec_.fit.dataset == ir::DatasetKind::ImageFolder) {
      if (!checkImageFolder(spec_.fit.images, p_.fit->datasetLoc, "dataset"))
        return false;
      if (spec_.fit.validation == ir::ValidationKind::Folder &&
          !checkImageFolder(spec_.fit.validationImages, p_.fit->validationLoc,
                            "validation"))
        return false;
    }
    if (m.layers.empty())
      return fail(m.loc, fmt::format("model '{}' has no layers after its "
                                     "input",
                                     m.name));
    cur_ = g_.addInput("x", ir::f32({n_, shape_[0], shape_[1], shape_[2]}));
    step_ = g_.addInput("step", ir::i32({}));
    for (size_t i = 0; i < m.layers.size(); ++i)
      if (!lowerLayer(m.layers[i], i, i + 1 == m.layers.size()))
        return false;

    const Layer &last = m.layers.back();
    if ((last.kind != LayerKind::Dense && last.kind != LayerKind::Activation) ||
        last.activation != Activation::Softmax)
      return fail(last.loc, fmt::format("the last layer must have "
                                        "activation=softmax for {}",
                                        lossName(spec_.loss)));
    // classes=[...] gives every dataset k classes, and the class names the
    // weights carry need one unit each.
    const std::vector<int64_t> &subset = spec_.fit.classes;
    if (!subset.empty() &&
        shape_ != std::vector<int64_t>{static_cast<int64_t>(subset.size())})
      return fail(last.loc,
                  fmt::format("{}: the fit statement's classes list "
                              "keeps {} classes, but the last layer has {} "
                              "units",
                              last.name, subset.size(), dims(shape_)));
    if (mnistNamed() && subset.empty() && shape_ != std::vector<int64_t>{10})
      return fail(last.loc, fmt::format("{}: mnist has 10 classes, but the "
                                        "last layer has {} units",
                                        last.name, dims(shape_)));
    g_.addOutput("probs", cur_);
    const ir::Op &lastOp = g_.ops().back();
    if (lastOp.kind == ir::OpKind::Softmax)
      g_.addOutput("logits", lastOp.operands[0]);
    if (absl::Status s = ir::verifyGraph(g_); !s.ok())
      return fail(m.loc, fmt::format("internal error: the lowered graph does "
                                     "not verify: {}",
                                     std::string(s.message())));
    return true;
  }

  ir::Location irLoc(const Layer &l) const {
    return {p_.filename, l.loc.line, l.loc.col};
  }

  bool create1(const Layer &l, ir::OpKind kind, std::vector<ValueId> operands,
               ir::Attrs attrs, const std::string &name) {
    auto v =
        g_.create1(kind, std::move(operands), std::move(attrs), irLoc(l), name);
    if (!v.ok())
      return fail(l.loc, fmt::format("{}: {}", l.name,
                                     std::string(v.status().message())));
    cur_ = *v;
    return true;
  }

  bool lowerLayer(const Layer &l, size_t index, bool isLast) {
    if (!validSettings(l))
      return fail(l.loc, fmt::format("{}: invalid {} settings", l.name,
                                     layerKeyword(l.kind)));
    if (l.activation == Activation::Softmax && !isLast)
      return fail(l.activationLoc,
                  fmt::format("{}: activation=softmax is only supported on "
                              "the last layer, where the loss uses it",
                              l.name));
    int64_t params = 0, nonTrainable = 0;
    const size_t valuesBefore = g_.values().size();
    bool ok = false;
    switch (l.kind) {
    case LayerKind::Conv2D:
    case LayerKind::MaxPooling2D:
    case LayerKind::AveragePooling2D:
      ok = lowerWindowed(l, params);
      break;
    case LayerKind::Dropout:
      ok = lowerDropout(l, index);
      break;
    case LayerKind::Flatten:
      ok = lowerFlatten(l);
      break;
    case LayerKind::Dense:
      ok = lowerDense(l, params);
      break;
    case LayerKind::GlobalAveragePooling2D:
      ok = lowerGlobalPool(l);
      break;
    case LayerKind::GlobalMaxPooling2D:
      ok = lowerGlobalMaxPool(l);
      break;
    case LayerKind::BatchNormalization:
      ok = lowerBatchNorm(l, params, nonTrainable);
      break;
    case LayerKind::Activation:
    case LayerKind::LeakyReLU:
    case LayerKind::ELU:
      ok = lowerActivation(l);
      break;
    case LayerKind::ZeroPadding2D:
      ok = lowerZeroPadding(l);
      break;
    case LayerKind::RandomFlip:
    case LayerKind::RandomRotation:
    case LayerKind::RandomZoom:
    case LayerKind::RandomTranslation:
    case LayerKind::RandomContrast:
    case LayerKind::RandomBrightness:
    case LayerKind::RandomCrop:
      ok = lowerAugmentation(l, index);
      break;
    case LayerKind::Rescaling:
      ok = create1(l, ir::OpKind::Rescale, {cur_},
                   {{ir::AttrName::Scale, l.rescaleScale},
                    {ir::AttrName::Offset, l.rescaleOffset}},
                   l.name);
      break;
    }
    if (ok && l.kind != LayerKind::Rescaling && !isRandom(l.kind))
      pastPreprocessing_ = true;
    if (!ok)
      return false;
    if (!l.trainable) {
      // Frozen: autodiff gives these params no gradient and no update, and
      // computes no backward pass below the lowest trainable layer.
      for (size_t v = valuesBefore; v < g_.values().size(); ++v)
        if (g_.values()[v].kind == ir::ValueKind::Param) {
          ir::Attrs attrs = g_.values()[v].attrs;
          attrs.set(ir::AttrName::Trainable, int64_t{0});
          g_.setAttrs(static_cast<ValueId>(v), std::move(attrs));
        }
      nonTrainable = params;
    }
    summary_.push_back(
        {l.name, layerClassName(l.kind), shape_, params, nonTrainable});
    return true;
  }

  bool checkOutput(const Layer &l, const std::vector<int64_t> &out) {
    if (!checkedElements(out, n_))
      return fail(l.loc, fmt::format("{}: output {} is too large for batch "
                                     "size {}",
                                     l.name, dims(out), n_));
    return true;
  }

  bool expectImage(const Layer &l) {
    if (shape_.size() == 3)
      return true;
    return fail(l.loc, fmt::format("{}: expects an image input (h, w, c), "
                                   "got {}; {} cannot follow flatten or "
                                   "dense",
                                   l.name, dims(shape_), layerKeyword(l.kind)));
  }

  ValueId addKernel(const Layer &l, std::vector<int64_t> shape, int64_t fanIn,
                    int64_t fanOut) {
    return g_.addParam(l.name + ".kernel", ir::f32(std::move(shape)),
                       {{ir::AttrName::Init, std::string("glorot_uniform")},
                        {ir::AttrName::FanIn, fanIn},
                        {ir::AttrName::FanOut, fanOut}});
  }

  // conv2d, max_pooling2d and average_pooling2d.
  bool lowerWindowed(const Layer &l, int64_t &params) {
    bool conv = l.kind == LayerKind::Conv2D;
    if (!expectImage(l))
      return false;
    const IntPair &win = conv ? l.kernelSize : l.poolSize;
    int64_t h = shape_[0], w = shape_[1], c = shape_[2];
    std::vector<int64_t> pad{0, 0, 0, 0}; // top, left, bottom, right
    if (l.padding == Padding::Same) {
      auto [top, bottom] = ir::samePadding(h, win[0], l.strides[0]);
      auto [left, right] = ir::samePadding(w, win[1], l.strides[1]);
      pad = {top, left, bottom, right};
    }
    int64_t oh = ir::windowOutputSize(h, win[0], l.strides[0], pad[0], pad[2]);
    int64_t ow = ir::windowOutputSize(w, win[1], l.strides[1], pad[1], pad[3]);
    if (oh <= 0 || ow <= 0)
      return fail(l.loc, fmt::format("{}: {} {}x{} does not fit its {} input",
                                     l.name, conv ? "kernel" : "pool", win[0],
                                     win[1], dims(shape_)));
    std::vector<int64_t> out{oh, ow, conv ? l.filters : c};
    if (!checkOutput(l, out))
      return false;
    ir::Attrs attrs{{ir::AttrName::Strides,
                     std::vector<int64_t>{l.strides[0], l.strides[1]}},
                    {ir::AttrName::Padding, pad}};
    if (!conv) {
      attrs.set(ir::AttrName::PoolSize, std::vector<int64_t>{win[0], win[1]});
      shape_ = out;
      return create1(l,
                     l.kind == LayerKind::MaxPooling2D ? ir::OpKind::MaxPool2D
                                                       : ir::OpKind::AvgPool2D,
                     {cur_}, std::move(attrs), l.name);
    }
    if (l.activation == Activation::Softmax)
      return fail(l.activationLoc,
                  fmt::format("{}: activation=softmax needs a flat output, got "
                              "{}; use it on the last dense layer",
                              l.name, dims(out)));
    std::vector<int64_t> kernelShape{win[0], win[1], c, l.filters};
    auto weights = checkedElements(kernelShape);
    if (!weights)
      return fail(l.loc, fmt::format("{}: kernel {} has too many weights",
                                     l.name, dims(kernelShape)));
    params = *weights + (l.useBias ? l.filters : 0);
    ValueId kernel = addKernel(l, kernelShape, win[0] * win[1] * c,
                               win[0] * win[1] * l.filters);
    shape_ = out;
    if (!create1(l, ir::OpKind::Conv2D, {cur_, kernel}, std::move(attrs),
                 innerName(l, "conv2d")))
      return false;
    return biasAndActivation(l, l.filters);
  }

  bool lowerDense(const Layer &l, int64_t &params) {
    if (shape_.size() != 1)
      return fail(l.loc, fmt::format("{}: expects a flat input, got {}; add "
                                     "flatten before it",
                                     l.name, dims(shape_)));
    int64_t in = shape_[0];
    std::vector<int64_t> kernelShape{in, l.units};
    std::vector<int64_t> out{l.units};
    if (!checkOutput(l, out))
      return false;
    auto weights = checkedElements(kernelShape);
    if (!weights)
      return fail(l.loc, fmt::format("{}: kernel {} has too many weights",
                                     l.name, dims(kernelShape)));
    params = *weights + (l.useBias ? l.units : 0);
    ValueId kernel = addKernel(l, kernelShape, in, l.units);
    shape_ = out;
    if (!create1(l, ir::OpKind::MatMul, {cur_, kernel}, {},
                 innerName(l, "matmul")))
      return false;
    return biasAndActivation(l, l.units);
  }

  // The name of a layer's first op result: the layer's own name when nothing
  // follows, "<layer>.logits" when it feeds the softmax directly.
  static std::string innerName(const Layer &l, const char *op) {
    bool act = l.activation != Activation::Linear;
    if (!l.useBias && !act)
      return l.name;
    if (!l.useBias && l.activation == Activation::Softmax)
      return l.name + ".logits";
    return fmt::format("{}.{}", l.name, op);
  }

  bool biasAndActivation(const Layer &l, int64_t channels) {
    bool act = l.activation != Activation::Linear;
    if (l.useBias) {
      ValueId bias = g_.addParam(l.name + ".bias", ir::f32({channels}),
                                 {{ir::AttrName::Init, std::string("zeros")}});
      std::string name = !act ? l.name
                         : l.activation == Activation::Softmax
                             ? l.name + ".logits"
                             : l.name + ".bias_add";
      if (!create1(l, ir::OpKind::BiasAdd, {cur_, bias}, {}, name))
        return false;
    }
    if (l.activation == Activation::Softmax)
      return create1(l, ir::OpKind::Softmax, {cur_}, {}, l.name);
    if (act)
      return create1(l, ir::OpKind::Activation, {cur_}, activationAttrs(l),
                     l.name);
    return true;
  }

  // The activation op's kind and, if it has one, its parameter.
  static ir::Attrs activationAttrs(const Layer &l) {
    const ir::ActivationInfo &info =
        ir::activationInfo(*irActivation(l.activation));
    ir::Attrs attrs{{ir::AttrName::Kind, std::string(info.name)}};
    if (info.hasParam())
      attrs.set(info.paramAttr(), l.alpha);
    return attrs;
  }

  // ---- global_average_pooling2d, batch_normalization, activation layers

  bool lowerGlobalPool(const Layer &l) {
    if (!expectImage(l))
      return false;
    shape_ = {shape_[2]};
    return create1(l, ir::OpKind::GlobalAvgPool2D, {cur_}, {}, l.name);
  }

  // Keras's GlobalMaxPooling2D: a max_pool2d whose window is the whole
  // image, then the (1, 1, c) result flat.
  bool lowerGlobalMaxPool(const Layer &l) {
    if (!expectImage(l))
      return false;
    std::vector<int64_t> window{shape_[0], shape_[1]};
    int64_t c = shape_[2];
    ir::Attrs attrs{{ir::AttrName::PoolSize, window},
                    {ir::AttrName::Strides, window},
                    {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}}};
    if (!create1(l, ir::OpKind::MaxPool2D, {cur_}, std::move(attrs),
                 innerName(l, "max_pool2d")))
      return false;
    shape_ = {c};
    return create1(l, ir::OpKind::Reshape, {cur_},
                   {{ir::AttrName::Shape, std::vector<int64_t>{n_, c}}},
                   l.name);
  }

  // batch_norm(x, gamma, beta) -> (%<layer>, %<layer>.mean,
  // %<layer>.variance) and the moving averages of the two statistics, which
  // inference graphs use instead (passes::CopyOptions::movingStatistics).
  bool lowerBatchNorm(const Layer &l, int64_t &params, int64_t &nonTrainable) {
    int64_t c = shape_.back();
    auto weight = [&](const char *suffix, const char *init, bool trainable) {
      ir::Attrs attrs{{ir::AttrName::Init, std::string(init)}};
      if (!trainable)
        attrs.set(ir::AttrName::Trainable, int64_t{0});
      return g_.addParam(l.name + suffix, ir::f32({c}), std::move(attrs));
    };
    std::vector<ValueId> operands{cur_};
    if (l.scale)
      operands.push_back(weight(".gamma", "ones", true));
    if (l.center)
      operands.push_back(weight(".beta", "zeros", true));
    ValueId movingMean = weight(".moving_mean", "zeros", false);
    ValueId movingVariance = weight(".moving_variance", "ones", false);
    int64_t trainable = static_cast<int64_t>(operands.size() - 1) * c;
    nonTrainable = 2 * c;
    params = trainable + nonTrainable;
    ir::Attrs attrs{{ir::AttrName::Epsilon, l.epsilon},
                    {ir::AttrName::Scale, int64_t{l.scale ? 1 : 0}},
                    {ir::AttrName::Center, int64_t{l.center ? 1 : 0}}};
    if (!l.trainable) {
      // Keras 3: a frozen batch normalization runs in inference mode, on
      // its moving statistics, which stay as they are.
      operands.insert(operands.begin() + 1, {movingMean, movingVariance});
      return create1(l, ir::OpKind::BatchNormInference, std::move(operands),
                     std::move(attrs), l.name);
    }
    auto r =
        g_.create(ir::OpKind::BatchNorm, std::move(operands), std::move(attrs),
                  irLoc(l), {l.name, l.name + ".mean", l.name + ".variance"});
    if (!r.ok())
      return fail(l.loc, fmt::format("{}: {}", l.name,
                                     std::string(r.status().message())));
    cur_ = (*r)[0];
    for (auto [moving, stat] :
         {std::pair{movingMean, (*r)[1]}, std::pair{movingVariance, (*r)[2]}}) {
      auto u = g_.create(ir::OpKind::MovingAverageUpdate, {moving, stat},
                         {{ir::AttrName::Momentum, l.momentum}}, irLoc(l));
      if (!u.ok())
        return fail(l.loc, fmt::format("{}: {}", l.name,
                                       std::string(u.status().message())));
    }
    return true;
  }

  // activation, leaky_re_lu, elu: the layer's function alone.
  bool lowerActivation(const Layer &l) {
    if (l.activation == Activation::Linear)
      return true; // the identity
    if (l.activation == Activation::Softmax) {
      if (shape_.size() != 1)
        return fail(l.activationLoc,
                    fmt::format("{}: activation=softmax needs a flat input, "
                                "got {}; add flatten before it",
                                l.name, dims(shape_)));
      return create1(l, ir::OpKind::Softmax, {cur_}, {}, l.name);
    }
    return create1(l, ir::OpKind::Activation, {cur_}, activationAttrs(l),
                   l.name);
  }

  // zero_padding2d: pad2d {padding = [top, left, bottom, right]}.
  bool lowerZeroPadding(const Layer &l) {
    if (!expectImage(l))
      return false;
    std::vector<int64_t> out{shape_[0] + l.padTop + l.padBottom,
                             shape_[1] + l.padLeft + l.padRight, shape_[2]};
    if (!checkOutput(l, out))
      return false;
    shape_ = out;
    std::vector<int64_t> pad{l.padTop, l.padLeft, l.padBottom, l.padRight};
    if (pad == std::vector<int64_t>(4, 0))
      return true; // the identity
    return create1(l, ir::OpKind::Pad2D, {cur_}, {{ir::AttrName::Padding, pad}},
                   l.name);
  }

  static bool isRandom(LayerKind k) {
    switch (k) {
    case LayerKind::RandomFlip:
    case LayerKind::RandomRotation:
    case LayerKind::RandomZoom:
    case LayerKind::RandomTranslation:
    case LayerKind::RandomContrast:
    case LayerKind::RandomBrightness:
    case LayerKind::RandomCrop:
      return true;
    default:
      return false;
    }
  }

  // The random_* layers: one op of (x, %step), seeded like dropout (the
  // layer's seed= or fit's seed, salted with the layer index). They have
  // no gradient, so they must stand before every other layer but rescaling.
  bool lowerAugmentation(const Layer &l, size_t index) {
    if (pastPreprocessing_)
      return fail(l.loc, fmt::format("{}: {} must come right after input (only "
                                     "augmentation layers and rescaling may "
                                     "stand before it)",
                                     l.name, layerKeyword(l.kind)));
    if (!expectImage(l))
      return false;
    ir::Attrs attrs{{ir::AttrName::Seed,
                     l.seed ? *l.seed : static_cast<int64_t>(spec_.fit.seed)},
                    {ir::AttrName::Salt, static_cast<int64_t>(index)}};
    auto resample = [&] {
      attrs.set(ir::AttrName::FillMode, l.fillMode);
      attrs.set(ir::AttrName::Interpolation, l.interpolation);
      attrs.set(ir::AttrName::FillValue, l.fillValue);
    };
    auto range = [&](ir::AttrName lower, ir::AttrName upper,
                     const std::array<double, 2> &r) {
      attrs.set(lower, r[0]);
      attrs.set(upper, r[1]);
    };
    ir::OpKind kind = ir::OpKind::RandomFlip;
    switch (l.kind) {
    case LayerKind::RandomFlip:
      attrs.set(ir::AttrName::Mode, l.flipMode);
      break;
    case LayerKind::RandomRotation:
      kind = ir::OpKind::RandomRotation;
      resample();
      range(ir::AttrName::Lower, ir::AttrName::Upper, l.factor);
      break;
    case LayerKind::RandomZoom:
      kind = ir::OpKind::RandomZoom;
      resample();
      range(ir::AttrName::HeightLower, ir::AttrName::HeightUpper,
            l.heightFactor);
      range(ir::AttrName::WidthLower, ir::AttrName::WidthUpper,
            l.widthFactorGiven ? l.widthFactor : l.heightFactor);
      attrs.set(ir::AttrName::KeepAspect, int64_t{l.widthFactorGiven ? 0 : 1});
      break;
    case LayerKind::RandomTranslation:
      kind = ir::OpKind::RandomTranslation;
      resample();
      range(ir::AttrName::HeightLower, ir::AttrName::HeightUpper,
            l.heightFactor);
      range(ir::AttrName::WidthLower, ir::AttrName::WidthUpper, l.widthFactor);
      break;
    case LayerKind::RandomContrast:
    case LayerKind::RandomBrightness:
      kind = l.kind == LayerKind::RandomContrast ? ir::OpKind::RandomContrast
                                                 : ir::OpKind::RandomBrightness;
      range(ir::AttrName::Lower, ir::AttrName::Upper, l.factor);
      attrs.set(ir::AttrName::ValueLow, l.valueRange[0]);
      attrs.set(ir::AttrName::ValueHigh, l.valueRange[1]);
      break;
    case LayerKind::RandomCrop: {
      kind = ir::OpKind::RandomCrop;
      std::vector<int64_t> out{l.cropHeight, l.cropWidth, shape_[2]};
      if (!checkOutput(l, out))
        return false;
      shape_ = out;
      attrs.set(ir::AttrName::Height, l.cropHeight);
      attrs.set(ir::AttrName::Width, l.cropWidth);
      attrs.set(ir::AttrName::Training, int64_t{1});
      break;
    }
    default:
      return fail(l.loc, fmt::format("{}: not an augmentation layer", l.name));
    }
    return create1(l, kind, {cur_, step_}, std::move(attrs), l.name);
  }

  bool lowerDropout(const Layer &l, size_t index) {
    if (l.rate == 0)
      return true; // the identity
    auto r =
        g_.create(ir::OpKind::Dropout, {cur_, step_},
                  {{ir::AttrName::Rate, l.rate},
                   {ir::AttrName::Seed, static_cast<int64_t>(spec_.fit.seed)},
                   {ir::AttrName::Salt, static_cast<int64_t>(index)}},
                  irLoc(l), {l.name, l.name + ".mask"});
    if (!r.ok())
      return fail(l.loc, fmt::format("{}: {}", l.name,
                                     std::string(r.status().message())));
    cur_ = (*r)[0];
    return true;
  }

  bool lowerFlatten(const Layer &l) {
    // Already flat input is fine (Keras allows it too): a no-op reshape.
    std::optional<int64_t> n = checkedElements(shape_);
    if (!n)
      return fail(l.loc, fmt::format("{}: input {} is too large", l.name,
                                     dims(shape_)));
    shape_ = {*n};
    return create1(l, ir::OpKind::Reshape, {cur_},
                   {{ir::AttrName::Shape, std::vector<int64_t>{n_, *n}}},
                   l.name);
  }

  const Program &p_;
  const ir::TrainingSpec &spec_;
  ir::Graph g_;
  std::vector<LayerSummary> summary_;
  std::optional<Diagnostic> error_;
  int64_t n_ = 0;
  std::vector<int64_t> shape_; // current output, without the batch
  ValueId cur_ = -1, step_ = -1;
  // A layer other than an augmentation layer or rescaling has been lowered.
  bool pastPreprocessing_ = false;
};

} // namespace

LowerResult lowerModel(const Program &p, const ir::TrainingSpec &spec) {
  return Lowerer(p, spec).run();
}

} // namespace cnnc::frontend
