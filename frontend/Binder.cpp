#include "frontend/Binder.h"

#include "ir/Optimizers.h"
#include "support/Text.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <set>

namespace cnnc::frontend {

namespace {

// Sizes stay in int32 range so that every shape product can be checked
// without overflow and indexes fit the kernels' 32-bit steps.
constexpr int64_t kMaxSize = std::numeric_limits<int32_t>::max();

using Kind = RawValue::Kind;

bool isIdentifier(std::string_view s);

} // namespace

std::string describe(const RawValue &v) {
  switch (v.kind) {
  case Kind::Int:
  case Kind::Float:
    return v.text;
  case Kind::String:
    return "a string";
  case Kind::Name:
    return fmt::format("the name '{}'", v.text);
  case Kind::Tuple:
    return v.elements.size() == 1
               ? std::string("a tuple of 1 value")
               : fmt::format("a tuple of {} values", v.elements.size());
  case Kind::List:
    return "a list";
  case Kind::Call:
    return fmt::format("a call '{}(...)'", v.text);
  }
  return "a value";
}

namespace {

bool isIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

// ir/Activations.def's names (aliases included), then softmax.
const std::vector<std::string> &activationChoices() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = ir::activationNames();
    v.push_back("softmax");
    return v;
  }();
  return names;
}

const std::vector<std::string> kPaddings = {"valid", "same"};
const std::vector<std::string> kLosses = {"categorical_crossentropy",
                                          "sparse_categorical_crossentropy"};
const std::vector<std::string> kDatasets = {"mnist", "idx", "image_folder"};
// In the order of ir::ColorMode and ir::Interpolation.
const std::vector<std::string> kColorModes = {"grayscale", "rgb", "rgba"};
const std::vector<std::string> kInterpolations = {"bilinear", "nearest",
                                                  "area"};
// The augmentation layers' choices (Keras's).
const std::vector<std::string> kFlipModes = {"horizontal", "vertical",
                                             "horizontal_and_vertical"};
const std::vector<std::string> kFillModes = {"reflect", "wrap", "constant",
                                             "nearest"};
const std::vector<std::string> kResampleInterpolations = {"bilinear",
                                                          "nearest"};

bool isPreprocessing(LayerKind k) {
  switch (k) {
  case LayerKind::RandomFlip:
  case LayerKind::RandomRotation:
  case LayerKind::RandomZoom:
  case LayerKind::RandomTranslation:
  case LayerKind::RandomContrast:
  case LayerKind::RandomBrightness:
  case LayerKind::RandomCrop:
  case LayerKind::Rescaling:
    return true;
  default:
    return false;
  }
}

// Keras ZeroPadding2D: n (all sides), (sym_h, sym_w) or
// ((top, bottom), (left, right)), each at least 0. Returns the error, if
// any, and where.
std::optional<std::pair<SourceLoc, std::string>>
readZeroPadding(const RawValue &v, Layer &layer) {
  auto isInt = [](const RawValue &e) { return e.kind == Kind::Int; };
  auto isPair = [&](const RawValue &e, auto &&element) {
    return e.kind == Kind::Tuple && e.elements.size() == 2 &&
           element(e.elements[0]) && element(e.elements[1]);
  };
  // (top, bottom, left, right) as values of the source.
  std::array<const RawValue *, 4> parts;
  if (isInt(v))
    parts = {&v, &v, &v, &v};
  else if (isPair(v, isInt))
    parts = {&v.elements[0], &v.elements[0], &v.elements[1], &v.elements[1]};
  else if (isPair(v, [&](const RawValue &e) { return isPair(e, isInt); }))
    parts = {&v.elements[0].elements[0], &v.elements[0].elements[1],
             &v.elements[1].elements[0], &v.elements[1].elements[1]};
  else
    return std::pair{v.loc, fmt::format("padding expects an integer, (h, w) "
                                        "or ((top, bottom), (left, right)), "
                                        "got {}",
                                        describe(v))};
  std::array<int64_t *, 4> out = {&layer.padTop, &layer.padBottom,
                                  &layer.padLeft, &layer.padRight};
  for (int i = 0; i < 4; ++i) {
    const RawValue &p = *parts[i];
    if (p.intValue < 0 || p.intValue > kMaxSize)
      return std::pair{p.loc,
                       fmt::format("padding must be between 0 and {}, got {}",
                                   kMaxSize, p.text)};
    *out[i] = p.intValue;
  }
  return std::nullopt;
}

} // namespace

const std::vector<std::string> &layerKeywords() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = {"input"};
    for (int k = 0; k < kNumLayerKinds; ++k)
      v.push_back(layerKeyword(static_cast<LayerKind>(k)));
    return v;
  }();
  return names;
}

std::optional<LayerKind> layerKindFromKeyword(std::string_view k) {
  for (int i = 0; i < kNumLayerKinds; ++i)
    if (k == layerKeyword(static_cast<LayerKind>(i)))
      return static_cast<LayerKind>(i);
  return std::nullopt;
}

bool Binder::fail(SourceLoc loc, std::string message) {
  if (!error_)
    error_ = makeDiagnostic(file_, source_, loc, std::move(message));
  return false;
}

// Positional arguments (the parser keeps them before the named ones) take
// the names of `positional`, in order, as Python binds them.
bool Binder::namePositional(std::vector<RawArg> &args, std::string_view owner,
                            const std::vector<std::string> &positional) {
  size_t given = 0, next = 0;
  for (const RawArg &a : args)
    given += a.name.empty();
  for (RawArg &a : args) {
    if (!a.name.empty())
      continue;
    if (next == positional.size()) {
      if (positional.empty())
        return fail(a.loc, fmt::format("{} takes no positional arguments, "
                                       "got {}; use name=value",
                                       owner, describe(a.value)));
      return fail(a.loc,
                  fmt::format("{} takes at most {} positional argument{} ({}), "
                              "got {}",
                              owner, positional.size(),
                              positional.size() == 1 ? "" : "s",
                              joinNames(positional, ", "), given));
    }
    a.name = positional[next++];
  }
  return true;
}

bool Binder::forEachArg(const std::vector<RawArg> &args, std::string_view owner,
                        SourceLoc ownerLoc,
                        const std::vector<std::string> &known,
                        const std::vector<std::string> &required,
                        const std::function<bool(const RawArg &)> &handle) {
  std::set<std::string> seen;
  for (const RawArg &a : args) {
    if (a.name.empty())
      return fail(a.loc, fmt::format("{} takes name=value arguments, got {}",
                                     owner, describe(a.value)));
    bool isKnown = false;
    for (const std::string &k : known)
      isKnown |= k == a.name;
    if (!isKnown)
      return fail(a.loc, fmt::format("unknown argument '{}' for {}{}", a.name,
                                     owner, suggestionSuffix(a.name, known)));
    if (!seen.insert(a.name).second)
      return fail(a.loc, fmt::format("duplicate argument '{}'", a.name));
    if (!handle(a))
      return false;
  }
  for (const std::string &r : required)
    if (!seen.count(r))
      return fail(ownerLoc, fmt::format("missing required argument '{}' for {}",
                                        r, owner));
  return true;
}

bool Binder::readInt(const RawArg &a, int64_t &out, int64_t min, int64_t max) {
  const RawValue &v = a.value;
  if (v.kind != Kind::Int)
    return fail(v.loc, fmt::format("{} expects an integer, got {}", a.name,
                                   describe(v)));
  if (v.intValue < min)
    return fail(v.loc, fmt::format("{} must be at least {}, got {}", a.name,
                                   min, v.text));
  if (v.intValue > max)
    return fail(v.loc, fmt::format("{} must be at most {}, got {}", a.name, max,
                                   v.text));
  out = v.intValue;
  return true;
}

// An integer n means (n, n), as in Keras.
bool Binder::readPair(const RawArg &a, IntPair &out) {
  const RawValue &v = a.value;
  std::vector<const RawValue *> parts;
  if (v.kind == Kind::Int)
    parts = {&v, &v};
  else if (v.kind == Kind::Tuple && v.elements.size() == 2 &&
           v.elements[0].kind == Kind::Int && v.elements[1].kind == Kind::Int)
    parts = {&v.elements[0], &v.elements[1]};
  else
    return fail(v.loc, fmt::format("{} expects an integer or (h, w), got {}",
                                   a.name, describe(v)));
  for (int i = 0; i < 2; ++i) {
    const RawValue &p = *parts[i];
    if (p.intValue < 1 || p.intValue > kMaxSize)
      return fail(p.loc, fmt::format("{} must be between 1 and {}, got {}",
                                     a.name, kMaxSize, p.text));
    out[i] = p.intValue;
  }
  return true;
}

bool Binder::readNumber(const RawArg &a, double &out, Range range) {
  const RawValue &v = a.value;
  if (v.kind != Kind::Int && v.kind != Kind::Float)
    return fail(
        v.loc, fmt::format("{} expects a number, got {}", a.name, describe(v)));
  double x = v.floatValue;
  switch (range) {
  case Range::Positive:
    if (!(x > 0))
      return fail(v.loc,
                  fmt::format("{} must be positive, got {}", a.name, v.text));
    break;
  case Range::UnitOpen:
    if (!(x >= 0 && x < 1))
      return fail(v.loc,
                  fmt::format("{} must be in [0, 1), got {}", a.name, v.text));
    break;
  case Range::UnitClosed:
    if (!(x >= 0 && x <= 1))
      return fail(v.loc,
                  fmt::format("{} must be in [0, 1], got {}", a.name, v.text));
    break;
  case Range::NonNegative:
    if (!(x >= 0) || !std::isfinite(x))
      return fail(v.loc,
                  fmt::format("{} must be at least 0, got {}", a.name, v.text));
    break;
  }
  out = x;
  return true;
}

bool Binder::readBool(const RawArg &a, bool &out) {
  const RawValue &v = a.value;
  if (v.kind == Kind::Name && (v.text == "true" || v.text == "false")) {
    out = v.text == "true";
    return true;
  }
  std::string msg =
      fmt::format("{} expects true or false, got {}", a.name, describe(v));
  if (v.kind == Kind::Name)
    if (auto m = closestMatch(v.text, {"true", "false"}))
      msg += fmt::format("; did you mean '{}'?", *m);
  return fail(v.loc, std::move(msg));
}

bool Binder::readChoice(const RawArg &a, std::string_view what,
                        const std::vector<std::string> &choices,
                        size_t &index) {
  const RawValue &v = a.value;
  if (v.kind != Kind::Name)
    return fail(v.loc, fmt::format("{} expects one of {}, got {}", a.name,
                                   joinNames(choices), describe(v)));
  for (size_t i = 0; i < choices.size(); ++i)
    if (choices[i] == v.text) {
      index = i;
      return true;
    }
  return fail(v.loc, unknownMessage(what, v.text, choices));
}

// Layer names become parameter names ("<name>.kernel"), so they must be
// identifiers; a string is accepted as well, as Keras writes name='...'.
bool Binder::readLayerName(const RawArg &a, std::string &out) {
  const RawValue &v = a.value;
  if (v.kind != Kind::Name && v.kind != Kind::String)
    return fail(v.loc,
                fmt::format("name expects an identifier, got {}", describe(v)));
  if (!isIdentifier(v.text))
    return fail(v.loc, fmt::format("layer name \"{}\" is not an identifier "
                                   "(letters, digits and _, not starting "
                                   "with a digit)",
                                   v.text));
  // The runtime and the passes find these graph values by name.
  for (const char *reserved :
       {"x", "step", "labels", "loss", "correct", "probs", "logits"})
    if (v.text == reserved)
      return fail(v.loc, fmt::format("layer name '{}' is reserved for a graph "
                                     "value",
                                     v.text));
  out = v.text;
  return true;
}

bool Binder::bindInput(const RawStatement &s, std::array<int64_t, 3> &shape) {
  std::vector<RawArg> args = s.args;
  if (!namePositional(args, "input", {"shape"}))
    return false;
  return forEachArg(
      args, "input", s.loc, {"shape"}, {"shape"}, [&](const RawArg &a) {
        const RawValue &v = a.value;
        if (v.kind != Kind::Tuple || v.elements.size() != 3)
          return fail(v.loc, fmt::format("shape expects (h, w, c), got "
                                         "{}",
                                         describe(v)));
        for (size_t i = 0; i < 3; ++i) {
          const RawValue &e = v.elements[i];
          if (e.kind != Kind::Int)
            return fail(e.loc, fmt::format("shape expects "
                                           "integers, got {}",
                                           describe(e)));
          if (e.intValue < 1 || e.intValue > kMaxSize)
            return fail(e.loc, fmt::format("shape must be between 1 "
                                           "and {}, got {}",
                                           kMaxSize, e.text));
          shape[i] = e.intValue;
        }
        return true;
      });
}

bool Binder::bindLayer(const RawStatement &s, Layer &layer,
                       SourceLoc &nameLoc) {
  layer.loc = s.loc;
  layer.activationLoc = s.loc;
  const LayerInfo &info = layerInfo(layer.kind);
  std::vector<std::string> known = info.positional;
  known.insert(known.end(), info.namedOnly.begin(), info.namedOnly.end());
  known.push_back("name");
  known.push_back("trainable");
  layer.activation = info.activation;
  // A standalone activation layer's parameter (negative_slope, alpha).
  std::optional<ir::ActivationKind> preset = irActivation(info.activation);
  std::string presetParam = preset ? ir::activationInfo(*preset).param : "";
  std::vector<RawArg> args = s.args;
  if (!namePositional(args, s.keyword, info.positional))
    return false;
  bool stridesGiven = false, alphaGiven = false;
  bool ok = forEachArg(
      args, s.keyword, s.loc, known, info.required, [&](const RawArg &a) {
        size_t index = 0;
        if (a.name == "trainable")
          return readBool(a, layer.trainable);
        if (a.name != "name" && isPreprocessing(layer.kind))
          return readAugmentArg(a, layer);
        if (a.name == "filters")
          return readInt(a, layer.filters, 1, kMaxSize);
        if (a.name == "units")
          return readInt(a, layer.units, 1, kMaxSize);
        if (a.name == "kernel_size")
          return readPair(a, layer.kernelSize);
        if (a.name == "pool_size")
          return readPair(a, layer.poolSize);
        if (a.name == "strides") {
          stridesGiven = true;
          return readPair(a, layer.strides);
        }
        if (a.name == "padding" && layer.kind == LayerKind::ZeroPadding2D) {
          auto e = readZeroPadding(a.value, layer);
          return !e || fail(e->first, e->second);
        }
        if (a.name == "padding") {
          if (!readChoice(a, "padding", kPaddings, index))
            return false;
          layer.padding = index == 0 ? Padding::Valid : Padding::Same;
          return true;
        }
        if (a.name == "activation") {
          if (!readChoice(a, "activation", activationChoices(), index))
            return false;
          std::optional<ir::ActivationKind> k =
              ir::activationKindFromName(a.value.text, /*acceptAliases=*/true);
          layer.activation =
              k ? static_cast<Activation>(*k) : Activation::Softmax;
          layer.activationLoc = a.value.loc;
          return true;
        }
        if (a.name == "use_bias")
          return readBool(a, layer.useBias);
        if (a.name == "rate")
          return readNumber(a, layer.rate, Range::UnitOpen);
        if (a.name == presetParam) {
          alphaGiven = true;
          return readNumber(a, layer.alpha, Range::NonNegative);
        }
        if (a.name == "momentum")
          return readNumber(a, layer.momentum, Range::UnitClosed);
        if (a.name == "epsilon")
          return readNumber(a, layer.epsilon, Range::Positive);
        if (a.name == "center")
          return readBool(a, layer.center);
        if (a.name == "scale")
          return readBool(a, layer.scale);
        if (a.name == "name") {
          nameLoc = a.value.loc;
          return readLayerName(a, layer.name);
        }
        return fail(a.loc, fmt::format("argument '{}' is not handled", a.name));
      });
  if (!ok)
    return false;
  // Keras pools step by their own size unless told otherwise.
  if (!stridesGiven && (layer.kind == LayerKind::MaxPooling2D ||
                        layer.kind == LayerKind::AveragePooling2D))
    layer.strides = layer.poolSize;
  // Keras's defaults: the layer's own (the LeakyReLU layer's 0.3), else the
  // function's (keras.activations.leaky_relu's negative_slope 0.2).
  std::optional<ir::ActivationKind> k = irActivation(layer.activation);
  if (!alphaGiven)
    layer.alpha = info.activation != Activation::Linear ? info.activationParam
                  : k ? ir::activationInfo(*k).defaultParam
                      : 0.0;
  return true;
}

// A number in Keras's factor range, or a (low, high) pair of them, as
// (lower, upper): a number f is (-|f|, |f|) when `symmetric`, else (f, f);
// a pair is sorted.
bool Binder::readFactor(const RawArg &a, std::array<double, 2> &out, double min,
                        double max, bool minOpen, bool symmetric) {
  const RawValue &v = a.value;
  auto isNumber = [](const RawValue &e) {
    return e.kind == Kind::Int || e.kind == Kind::Float;
  };
  std::vector<const RawValue *> parts;
  if (isNumber(v))
    parts = {&v};
  else if (v.kind == Kind::Tuple && v.elements.size() == 2 &&
           isNumber(v.elements[0]) && isNumber(v.elements[1]))
    parts = {&v.elements[0], &v.elements[1]};
  else
    return fail(v.loc, fmt::format("{} expects a number or (low, high), got "
                                   "{}",
                                   a.name, describe(v)));
  for (const RawValue *p : parts) {
    double x = p->floatValue;
    if (!(minOpen ? x > min : x >= min) || !(x <= max))
      return fail(p->loc, fmt::format("{} must be in {}{}, {}], got {}", a.name,
                                      minOpen ? "(" : "[", min, max, p->text));
  }
  if (parts.size() == 1) {
    double f = std::fabs(parts[0]->floatValue);
    out =
        symmetric ? std::array<double, 2>{-f, f} : std::array<double, 2>{f, f};
    return true;
  }
  out = {parts[0]->floatValue, parts[1]->floatValue};
  if (out[0] > out[1])
    std::swap(out[0], out[1]);
  return true;
}

bool Binder::readFinite(const RawArg &a, double &out) {
  const RawValue &v = a.value;
  if ((v.kind != Kind::Int && v.kind != Kind::Float) ||
      !std::isfinite(v.floatValue))
    return fail(v.loc, fmt::format("{} expects a finite number, got {}", a.name,
                                   describe(v)));
  out = v.floatValue;
  return true;
}

// The arguments of the augmentation layers and rescaling, with Keras 3's
// ranges (docs/dsl.md "Augmentation").
bool Binder::readAugmentArg(const RawArg &a, Layer &layer) {
  size_t index = 0;
  LayerKind k = layer.kind;
  if (a.name == "mode") {
    if (!readChoice(a, "mode", kFlipModes, index))
      return false;
    layer.flipMode = kFlipModes[index];
    return true;
  }
  if (a.name == "factor") {
    if (k == LayerKind::RandomContrast)
      return readFactor(a, layer.factor, 0, 1, false, false);
    return readFactor(a, layer.factor, -1, 1, false, true);
  }
  if (a.name == "height_factor")
    return readFactor(a, layer.heightFactor, -1, 1, k == LayerKind::RandomZoom,
                      true);
  if (a.name == "width_factor") {
    if (k == LayerKind::RandomZoom && a.value.kind == Kind::Name &&
        (a.value.text == "none" || a.value.text == "None"))
      return true; // Keras's None: keep the aspect ratio
    layer.widthFactorGiven = true;
    return readFactor(a, layer.widthFactor, -1, 1, k == LayerKind::RandomZoom,
                      true);
  }
  if (a.name == "fill_mode") {
    if (!readChoice(a, "fill_mode", kFillModes, index))
      return false;
    layer.fillMode = kFillModes[index];
    return true;
  }
  if (a.name == "interpolation") {
    if (!readChoice(a, "interpolation", kResampleInterpolations, index))
      return false;
    layer.interpolation = kResampleInterpolations[index];
    return true;
  }
  if (a.name == "fill_value")
    return readFinite(a, layer.fillValue);
  if (a.name == "value_range") {
    const RawValue &v = a.value;
    auto isNumber = [](const RawValue &e) {
      return e.kind == Kind::Int || e.kind == Kind::Float;
    };
    if (v.kind != Kind::Tuple || v.elements.size() != 2 ||
        !isNumber(v.elements[0]) || !isNumber(v.elements[1]))
      return fail(v.loc, fmt::format("value_range expects (low, high), got {}",
                                     describe(v)));
    double lo = v.elements[0].floatValue, hi = v.elements[1].floatValue;
    if (lo > hi)
      std::swap(lo, hi);
    if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
      return fail(v.loc, "value_range must be two different finite numbers");
    layer.valueRange = {lo, hi};
    return true;
  }
  if (a.name == "seed") {
    int64_t seed = 0;
    if (!readInt(a, seed, 0, std::numeric_limits<int64_t>::max()))
      return false;
    layer.seed = seed;
    return true;
  }
  if (a.name == "height")
    return readInt(a, layer.cropHeight, 1, kMaxSize);
  if (a.name == "width")
    return readInt(a, layer.cropWidth, 1, kMaxSize);
  if (a.name == "scale")
    return readFinite(a, layer.rescaleScale);
  if (a.name == "offset")
    return readFinite(a, layer.rescaleOffset);
  return fail(a.loc, fmt::format("argument '{}' is not handled", a.name));
}

bool Binder::readOptimizer(const RawArg &a, ir::OptimizerSpec &out) {
  const RawValue &v = a.value;
  const std::vector<std::string> &names = ir::optimizerNames();
  if (v.kind != Kind::Name && v.kind != Kind::Call)
    return fail(v.loc, fmt::format("optimizer expects {}, optionally with "
                                   "arguments as in "
                                   "adam(learning_rate=0.001), got {}",
                                   support::orList(names), describe(v)));
  std::optional<ir::OptimizerKind> kind = ir::optimizerKindFromName(v.text);
  if (!kind)
    return fail(v.loc, unknownMessage("optimizer", v.text, names));
  out = ir::defaultOptimizerSpec(*kind);
  std::vector<ir::OptimizerArg> args = ir::optimizerArgs(*kind);
  std::vector<std::string> known = {"learning_rate"};
  for (const ir::OptimizerArg &arg : args)
    known.push_back(arg.name);
  return forEachArg(v.args, v.text, v.loc, known, {}, [&](const RawArg &c) {
    if (c.name == "learning_rate" && c.value.kind == Kind::Call) {
      ir::ScheduleSpec schedule;
      if (!readSchedule(c.value, schedule))
        return false;
      out.schedule = schedule;
      out.learningRate = ir::learningRateAt(schedule, 0);
      return true;
    }
    if (c.name == "learning_rate")
      return readNumber(c, out.learningRate, Range::Positive);
    for (const ir::OptimizerArg &arg : args) {
      if (c.name != arg.name)
        continue;
      switch (arg.range) {
      case ir::OptimizerArgRange::Bool:
        return readBool(c, out.*arg.flag);
      case ir::OptimizerArgRange::Positive:
        return readNumber(c, out.*arg.number, Range::Positive);
      case ir::OptimizerArgRange::UnitOpen:
        return readNumber(c, out.*arg.number, Range::UnitOpen);
      case ir::OptimizerArgRange::UnitClosed:
        return readNumber(c, out.*arg.number, Range::UnitClosed);
      }
    }
    return fail(c.loc, fmt::format("argument '{}' is not handled", c.name));
  });
}

bool Binder::readMetrics(const RawArg &a, bool &accuracy) {
  const RawValue &v = a.value;
  if (v.kind != Kind::List)
    return fail(v.loc, fmt::format("metrics expects a list such as "
                                   "[accuracy], got {}",
                                   describe(v)));
  accuracy = false;
  for (const RawValue &m : v.elements) {
    if (m.kind != Kind::Name)
      return fail(m.loc,
                  fmt::format("metrics expects names, got {}", describe(m)));
    if (m.text != "accuracy")
      return fail(m.loc, unknownMessage("metric", m.text, {"accuracy"}));
    if (accuracy)
      return fail(m.loc, "duplicate metric 'accuracy'");
    accuracy = true;
  }
  return true;
}

bool Binder::bindCompile(const RawStatement &s, CompileStmt &c) {
  c.loc = s.loc;
  return forEachArg(
      s.args, "compile", s.loc,
      {"loss", "optimizer", "metrics", "dtype_policy"}, {},
      [&](const RawArg &a) {
        if (a.name == "dtype_policy") {
          size_t index = 0;
          if (!readChoice(a, "dtype_policy", ir::dtypePolicyNames(), index))
            return false;
          c.dtypePolicy = static_cast<ir::DtypePolicy>(index);
          return true;
        }
        if (a.name == "loss") {
          size_t index = 0;
          if (!readChoice(a, "loss", kLosses, index))
            return false;
          c.loss = index == 0 ? ir::LossKind::CategoricalCrossentropy
                              : ir::LossKind::SparseCategoricalCrossentropy;
          return true;
        }
        if (a.name == "optimizer")
          return readOptimizer(a, c.optimizer);
        return readMetrics(a, c.accuracy);
      });
}

bool Binder::readDataset(const RawArg &a, ir::FitSpec &out) {
  const RawValue &v = a.value;
  const char *idxUsage = "dataset idx needs a path prefix, as in "
                         "idx(\"data/mnist/\")";
  if (v.kind != Kind::Name && v.kind != Kind::Call)
    return fail(v.loc, fmt::format("dataset expects mnist, "
                                   "idx(\"path/prefix\") or "
                                   "image_folder(\"dir/\", ...), got {}",
                                   describe(v)));
  if (v.text == "mnist" && v.kind == Kind::Name) {
    out.dataset = ir::DatasetKind::Mnist;
    out.idxPrefix.clear();
    return true;
  }
  if (v.text == "idx") {
    if (v.kind != Kind::Call || v.args.size() != 1 || !v.args[0].name.empty() ||
        v.args[0].value.kind != Kind::String)
      return fail(v.loc, idxUsage);
    if (v.args[0].value.text.empty())
      return fail(v.args[0].loc, "the idx path prefix is empty");
    out.dataset = ir::DatasetKind::Idx;
    out.idxPrefix = v.args[0].value.text;
    return true;
  }
  if (v.text == "image_folder") {
    if (v.kind != Kind::Call)
      return fail(v.loc, "dataset image_folder needs a directory, as in "
                         "image_folder(\"photos/\", image_size=(64, 64))");
    out.dataset = ir::DatasetKind::ImageFolder;
    return readImageFolder(v, out.images, /*allowSplit=*/true);
  }
  if (v.text == "mnist")
    return fail(v.loc, "dataset mnist takes no arguments");
  return fail(v.loc, unknownMessage("dataset", v.text, kDatasets));
}

// image_folder("dir", image_size=..., ...) with Keras's
// image_dataset_from_directory names; `out` holds the defaults on entry.
bool Binder::readImageFolder(const RawValue &call, ir::ImageFolderSpec &out,
                             bool allowSplit) {
  std::vector<RawArg> args = call.args;
  if (!namePositional(args, "image_folder", {"directory"}))
    return false;
  std::vector<std::string> known = {"directory", "image_size", "color_mode",
                                    "interpolation", "crop_to_aspect_ratio"};
  if (allowSplit)
    known.push_back("validation_split");
  bool ok = forEachArg(
      args, "image_folder", call.loc, known, {"directory"},
      [&](const RawArg &a) {
        const RawValue &v = a.value;
        if (a.name == "directory") {
          if (v.kind != Kind::String)
            return fail(v.loc, fmt::format("directory expects a string, "
                                           "got {}",
                                           describe(v)));
          if (v.text.empty())
            return fail(v.loc, "the image_folder directory is empty");
          out.directory = v.text;
          return true;
        }
        if (a.name == "image_size") {
          if (v.kind != Kind::Tuple)
            return fail(v.loc, fmt::format("image_size expects (height, "
                                           "width), got {}",
                                           describe(v)));
          IntPair hw{};
          if (!readPair(a, hw))
            return false;
          out.height = hw[0];
          out.width = hw[1];
          return true;
        }
        size_t index = 0;
        if (a.name == "color_mode") {
          if (!readChoice(a, "color_mode", kColorModes, index))
            return false;
          out.colorMode = static_cast<ir::ColorMode>(index);
          return true;
        }
        if (a.name == "interpolation") {
          if (!readChoice(a, "interpolation", kInterpolations, index))
            return false;
          out.interpolation = static_cast<ir::Interpolation>(index);
          return true;
        }
        if (a.name == "crop_to_aspect_ratio")
          return readBool(a, out.cropToAspectRatio);
        double split = 0;
        if (!readNumber(a, split, Range::NonNegative))
          return false;
        if (split <= 0 || split >= 1)
          return fail(v.loc, fmt::format("validation_split must be between 0 "
                                         "and 1 (exclusive), got {}",
                                         v.text));
        out.validationSplit = split;
        return true;
      });
  return ok;
}

// callbacks=[early_stopping(patience=2), model_checkpoint("best.safetensors",
// save_best_only=true), csv_logger("log.csv")], Keras 3's names, positional
// order and defaults.
bool Binder::readCallbacks(const RawArg &a,
                           std::vector<ir::CallbackSpec> &out) {
  const RawValue &v = a.value;
  if (v.kind != Kind::List)
    return fail(v.loc, fmt::format("callbacks expects a list such as "
                                   "[early_stopping(patience=2)], got {}",
                                   describe(v)));
  out.clear();
  for (const RawValue &c : v.elements) {
    if (c.kind != Kind::Name && c.kind != Kind::Call)
      return fail(c.loc, fmt::format("callbacks expects callbacks such as "
                                     "early_stopping(patience=2), got {}",
                                     describe(c)));
    std::optional<ir::CallbackKind> kind;
    std::vector<std::string> names;
#define CALLBACK(Enum, name)                                                   \
  names.push_back(name);                                                       \
  if (c.text == name)                                                          \
    kind = ir::CallbackKind::Enum;
#include "ir/Callbacks.def"
    if (!kind)
      return fail(c.loc, unknownMessage("callback", c.text, names));
    ir::CallbackSpec spec;
    spec.kind = *kind;
    std::vector<std::string> positional, known, required;
    switch (*kind) {
    case ir::CallbackKind::EarlyStopping:
      positional = {"monitor", "min_delta", "patience"};
      known = {"monitor",
               "min_delta",
               "patience",
               "mode",
               "restore_best_weights",
               "start_from_epoch"};
      break;
    case ir::CallbackKind::ModelCheckpoint:
      positional = {"filepath", "monitor"};
      known = {"filepath", "monitor", "save_best_only", "mode"};
      required = {"filepath"};
      break;
    case ir::CallbackKind::CsvLogger:
      positional = {"filename"};
      known = {"filename", "append"};
      required = {"filename"};
      break;
    case ir::CallbackKind::ReduceLrOnPlateau:
      // Keras's defaults differ from early_stopping's.
      spec.patience = 10;
      spec.minDelta = 1e-4;
      positional = {"monitor", "factor", "patience"};
      known = {"monitor",   "factor",   "patience", "mode",
               "min_delta", "cooldown", "min_lr"};
      break;
    case ir::CallbackKind::TerminateOnNan:
      break;
    case ir::CallbackKind::BackupAndRestore:
      positional = {"backup_dir", "save_freq"};
      known = {"backup_dir", "save_freq", "delete_checkpoint"};
      required = {"backup_dir"};
      break;
    }
    if (c.kind == Kind::Call && *kind == ir::CallbackKind::TerminateOnNan &&
        !c.args.empty())
      return fail(c.args[0].loc, "terminate_on_nan takes no arguments");
    std::vector<RawArg> args = c.args;
    if (!namePositional(args, c.text, positional))
      return false;
    bool ok = forEachArg(
        args, c.text, c.loc, known, required, [&](const RawArg &arg) {
          const RawValue &x = arg.value;
          size_t index = 0;
          if (arg.name == "monitor") {
            if (!readChoice(arg, "monitor",
                            {"loss", "accuracy", "val_loss", "val_accuracy"},
                            index))
              return false;
            spec.monitor = static_cast<ir::Monitor>(index);
            return true;
          }
          if (arg.name == "mode") {
            if (!readChoice(arg, "mode", {"auto", "min", "max"}, index))
              return false;
            spec.mode = static_cast<ir::MonitorMode>(index);
            return true;
          }
          if (arg.name == "min_delta")
            return readNumber(arg, spec.minDelta, Range::NonNegative);
          if (arg.name == "patience")
            return readInt(arg, spec.patience, 0, kMaxSize);
          if (arg.name == "start_from_epoch")
            return readInt(arg, spec.startFromEpoch, 0, kMaxSize);
          if (arg.name == "restore_best_weights")
            return readBool(arg, spec.restoreBestWeights);
          if (arg.name == "save_best_only")
            return readBool(arg, spec.saveBestOnly);
          if (arg.name == "append")
            return readBool(arg, spec.append);
          if (arg.name == "factor") {
            if (x.kind != Kind::Int && x.kind != Kind::Float)
              return readNumber(arg, spec.factor, Range::Positive);
            spec.factor = x.floatValue;
            if (!(spec.factor > 0 && spec.factor < 1))
              return fail(x.loc, fmt::format("factor must be in (0, 1), got "
                                             "{}",
                                             x.text));
            return true;
          }
          if (arg.name == "cooldown")
            return readInt(arg, spec.cooldown, 0, kMaxSize);
          if (arg.name == "min_lr")
            return readNumber(arg, spec.minLr, Range::NonNegative);
          if (arg.name == "delete_checkpoint")
            return readBool(arg, spec.deleteCheckpoint);
          if (arg.name == "save_freq") {
            // "epoch" or a number of steps.
            if (x.kind == Kind::String && x.text == "epoch") {
              spec.saveFreq = 0;
              return true;
            }
            if (x.kind != Kind::Int)
              return fail(x.loc, fmt::format("save_freq expects \"epoch\" "
                                             "or a number of steps, got {}",
                                             describe(x)));
            return readInt(arg, spec.saveFreq, 1, kMaxSize);
          }
          // filepath, filename, backup_dir
          if (x.kind != Kind::String)
            return fail(x.loc, fmt::format("{} expects a string, got {}",
                                           arg.name, describe(x)));
          if (x.text.empty())
            return fail(x.loc, fmt::format("the {} is empty", arg.name));
          spec.path = x.text;
          return true;
        });
    if (!ok)
      return false;
    // Two would write the same backup state over each other.
    if (spec.kind == ir::CallbackKind::BackupAndRestore)
      for (const ir::CallbackSpec &other : out)
        if (other.kind == spec.kind)
          return fail(c.loc, "only one backup_and_restore callback may be "
                             "given");
    out.push_back(std::move(spec));
  }
  return true;
}

// classes=[5, 6, 7]: distinct class indexes, kept in the order given (the
// order renumbers them); whether the data has them is known only when it
// is loaded.
bool Binder::readClasses(const RawArg &a, std::vector<int64_t> &out) {
  constexpr size_t kMaxClasses = 1000000;
  const RawValue &v = a.value;
  if (v.kind != Kind::List)
    return fail(v.loc, fmt::format("classes expects a list of class indexes "
                                   "such as [5, 6, 7], got {}",
                                   describe(v)));
  if (v.elements.empty())
    return fail(v.loc, "classes expects at least one class index, got an "
                       "empty list");
  if (v.elements.size() > kMaxClasses)
    return fail(v.loc, fmt::format("classes takes at most {} class indexes, "
                                   "got {}",
                                   kMaxClasses, v.elements.size()));
  std::set<int64_t> seen;
  out.clear();
  for (const RawValue &c : v.elements) {
    if (c.kind != Kind::Int)
      return fail(c.loc, fmt::format("classes expects integer class indexes, "
                                     "got {}",
                                     describe(c)));
    if (c.intValue < 0)
      return fail(c.loc, fmt::format("a class index must be at least 0, got "
                                     "{}",
                                     c.text));
    if (!seen.insert(c.intValue).second)
      return fail(c.loc, fmt::format("class {} is listed twice in classes",
                                     c.intValue));
    out.push_back(c.intValue);
  }
  return true;
}

bool Binder::bindFit(const RawStatement &s, FitStmt &f) {
  f.loc = s.loc;
  // validation=image_folder(...) starts from the training folder's
  // settings, so it is read once the dataset is known.
  std::optional<RawArg> validation, skipMismatch;
  bool ok = forEachArg(
      s.args, "fit", s.loc,
      {"dataset", "epochs", "batch_size", "validation", "shuffle", "seed",
       "callbacks", "initial_weights", "skip_mismatch", "classes"},
      {}, [&](const RawArg &a) {
        if (a.name == "dataset") {
          f.datasetLoc = a.value.loc;
          return readDataset(a, f.fit);
        }
        if (a.name == "classes")
          return readClasses(a, f.fit.classes);
        if (a.name == "callbacks") {
          f.callbacksLoc = a.value.loc;
          return readCallbacks(a, f.fit.callbacks);
        }
        if (a.name == "epochs")
          return readInt(a, f.fit.epochs, 1, kMaxSize);
        if (a.name == "batch_size")
          return readInt(a, f.fit.batchSize, 1, kMaxSize);
        if (a.name == "validation") {
          validation = a;
          return true;
        }
        if (a.name == "shuffle")
          return readBool(a, f.fit.shuffle);
        if (a.name == "initial_weights") {
          if (a.value.kind != Kind::String)
            return fail(a.value.loc,
                        fmt::format("initial_weights expects a file name in "
                                    "quotes, got {}",
                                    describe(a.value)));
          if (a.value.text.empty())
            return fail(a.value.loc, "the initial_weights file name is empty");
          f.fit.initialWeights = a.value.text;
          return true;
        }
        if (a.name == "skip_mismatch") {
          skipMismatch = a;
          return readBool(a, f.fit.skipMismatch);
        }
        int64_t seed = 0;
        if (!readInt(a, seed, 0, std::numeric_limits<int64_t>::max()))
          return false;
        f.fit.seed = static_cast<uint64_t>(seed);
        return true;
      });
  if (!ok)
    return false;
  if (skipMismatch && f.fit.initialWeights.empty())
    return fail(skipMismatch->loc, "skip_mismatch applies to initial_weights, "
                                   "which the fit statement does not give");
  return readValidation(validation ? &*validation : nullptr, f);
}

std::optional<std::string> recipeConflict(const ir::OptimizerSpec &optimizer,
                                          const ir::FitSpec &fit) {
  for (const ir::CallbackSpec &c : fit.callbacks) {
    // Keras raises the same TypeError when the callback first acts.
    if (c.kind == ir::CallbackKind::ReduceLrOnPlateau && optimizer.schedule)
      return fmt::format("reduce_lr_on_plateau cannot change the learning "
                         "rate of a {} schedule; give the optimizer a number "
                         "as learning_rate",
                         ir::scheduleName(optimizer.schedule->kind));
    // A val_ metric that no epoch will have: Keras only warns, and the
    // callback then never acts.
    bool usesMonitor =
        c.kind == ir::CallbackKind::EarlyStopping ||
        c.kind == ir::CallbackKind::ReduceLrOnPlateau ||
        (c.kind == ir::CallbackKind::ModelCheckpoint && c.saveBestOnly);
    if (fit.validation == ir::ValidationKind::None && usesMonitor &&
        (c.monitor == ir::Monitor::ValLoss ||
         c.monitor == ir::Monitor::ValAccuracy))
      return fmt::format("{} monitors {}, but the fit statement has no "
                         "validation data; monitor loss or accuracy, or give "
                         "validation data",
                         ir::callbackName(c.kind), ir::monitorName(c.monitor));
  }
  return std::nullopt;
}

// validation=test|none|split|image_folder(...), checked against the
// dataset; when not given, the dataset's own validation data (MNIST's test
// split, an image folder's validation_split subset) or none.
bool Binder::readValidation(const RawArg *a, FitStmt &f) {
  ir::FitSpec &fit = f.fit;
  bool folder = fit.dataset == ir::DatasetKind::ImageFolder;
  if (!a) {
    if (folder)
      fit.validation = fit.images.validationSplit > 0
                           ? ir::ValidationKind::Split
                           : ir::ValidationKind::None;
    return true;
  }
  f.validationLoc = a->value.loc;
  const RawValue &v = a->value;
  if (v.kind == Kind::Call && v.text == "image_folder") {
    if (!folder)
      return fail(v.loc, fmt::format("validation=image_folder(...) needs "
                                     "dataset=image_folder(...), not {}",
                                     ir::datasetName(fit.dataset)));
    fit.validationImages = fit.images;
    fit.validationImages.directory.clear();
    fit.validationImages.validationSplit = 0;
    if (!readImageFolder(v, fit.validationImages, /*allowSplit=*/false))
      return false;
    if (fit.images.validationSplit > 0)
      return fail(v.loc, "validation=image_folder(...) and the dataset's "
                         "validation_split both give validation data; drop "
                         "one");
    fit.validation = ir::ValidationKind::Folder;
    return true;
  }
  if (v.text == "image_folder")
    return fail(v.loc, "validation=image_folder needs a directory, as in "
                       "image_folder(\"test/\")");
  size_t index = 0;
  if (!readChoice(*a, "validation",
                  {"test", "none", "split", "image_folder(...)"}, index))
    return false;
  if (index == 0) {
    if (folder)
      return fail(v.loc, "an image folder has no test split; use "
                         "validation=split (with validation_split=...) or "
                         "validation=image_folder(\"test/\")");
    fit.validation = ir::ValidationKind::Test;
    return true;
  }
  if (index == 1) {
    fit.validation = ir::ValidationKind::None;
    return true;
  }
  if (!folder)
    return fail(v.loc, fmt::format("validation=split needs "
                                   "dataset=image_folder(..., "
                                   "validation_split=...), not {}",
                                   ir::datasetName(fit.dataset)));
  if (fit.images.validationSplit <= 0)
    return fail(v.loc, "validation=split needs validation_split=... in "
                       "the dataset's image_folder(...)");
  fit.validation = ir::ValidationKind::Split;
  return true;
}

} // namespace cnnc::frontend
