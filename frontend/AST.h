// The checked form of a DSL program: every argument has been type- and
// range-checked and every default filled in. Shapes are checked later, by
// lowerModel.
#pragma once

#include "frontend/Diagnostics.h"
#include "ir/Activations.h"
#include "ir/TrainingSpec.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cnnc::frontend {

enum class LayerKind {
#define LAYER(Enum, Keyword, ClassName, Positional, NamedOnly, Required, Act,  \
              Param)                                                           \
  Enum,
#include "frontend/Layers.def"
#undef LAYER
};

inline constexpr int kNumLayerKinds = 0
#define LAYER(Enum, Keyword, ClassName, Positional, NamedOnly, Required, Act,  \
              Param)                                                           \
  +1
#include "frontend/Layers.def"
#undef LAYER
    ;

// The activation functions of ir/Activations.def, and softmax, which the
// loss takes over (lowered to the softmax op, never an activation op).
enum class Activation {
#define ACTIVATION(Enum, Name, Param, Default, GradFrom) Enum,
#include "ir/Activations.def"
#undef ACTIVATION
  Softmax,
};
enum class Padding { Valid, Same };

// A layer kind's row of frontend/Layers.def.
struct LayerInfo {
  const char *keyword;   // "max_pooling2d"
  const char *className; // "MaxPooling2D", as Keras prints it
  std::vector<std::string> positional, namedOnly, required;
  Activation activation; // a standalone activation layer's function
  double activationParam;
};
const LayerInfo &layerInfo(LayerKind k);
inline const char *layerKeyword(LayerKind k) { return layerInfo(k).keyword; }
inline const char *layerClassName(LayerKind k) {
  return layerInfo(k).className;
}
const char *activationName(Activation a);
// The IR's activation kind; nullopt for softmax.
std::optional<ir::ActivationKind> irActivation(Activation a);
const char *paddingName(Padding p);

using IntPair = std::array<int64_t, 2>; // (h, w)

// One layer after the input. Fields a kind does not use keep their defaults.
struct Layer {
  LayerKind kind = LayerKind::Dense;
  std::string name;         // name= or the Keras default (conv2d, conv2d_1...)
  SourceLoc loc;            // the layer keyword
  SourceLoc activationLoc;  // the activation= value, or loc when defaulted
  int64_t filters = 0;      // conv2d
  int64_t units = 0;        // dense
  IntPair kernelSize{1, 1}; // conv2d
  IntPair poolSize{2, 2};   // pooling
  IntPair strides{1, 1};    // conv2d; pooling defaults to poolSize
  Padding padding = Padding::Valid;           // conv2d, pooling
  Activation activation = Activation::Linear; // conv2d, dense
  bool useBias = true;                        // conv2d, dense
  double rate = 0;                            // dropout
  // The activation's parameter (leaky_relu's negative_slope, elu's alpha):
  // Keras's defaults come from ir/Activations.def for activation=name and
  // from frontend/Layers.def for the leaky_re_lu and elu layers.
  double alpha = 0;
  // zero_padding2d: rows and columns of zeros (Keras's default 1 each).
  int64_t padTop = 1, padBottom = 1, padLeft = 1, padRight = 1;
  // batch_normalization (Keras's defaults).
  double momentum = 0.99, epsilon = 0.001;
  bool center = true, scale = true;
  // ---- Augmentation layers (docs/dsl.md "Augmentation") ----
  // random_flip's mode.
  std::string flipMode = "horizontal_and_vertical";
  // A factor as (lower, upper) after Keras's reading of a number f as
  // (-|f|, |f|) (random_contrast: (f, f)) and of a pair as sorted:
  // random_rotation, random_contrast, random_brightness.
  std::array<double, 2> factor{0, 0};
  // random_zoom, random_translation; random_zoom's width_factor=None keeps
  // the aspect ratio (widthFactorGiven false).
  std::array<double, 2> heightFactor{0, 0}, widthFactor{0, 0};
  bool widthFactorGiven = false;
  std::string fillMode = "reflect", interpolation = "bilinear";
  double fillValue = 0;
  // random_contrast, random_brightness: cnnc feeds pixels as x / 255, so
  // the default is (0, 1) where Keras's is (0, 255).
  std::array<double, 2> valueRange{0, 1};
  int64_t cropHeight = 0, cropWidth = 0;      // random_crop
  double rescaleScale = 1, rescaleOffset = 0; // rescaling
  std::optional<int64_t> seed;                // seed=, else fit's seed
  // trainable=false (any layer, as Keras's): the layer's weights are
  // frozen; a frozen batch_normalization runs in inference mode.
  bool trainable = true;
};

struct Model {
  std::string name;
  SourceLoc loc;                       // the 'model' keyword
  std::array<int64_t, 3> inputShape{}; // (h, w, c)
  SourceLoc inputLoc;                  // the 'input' keyword
  std::vector<Layer> layers;           // in order, without the input
};

struct CompileStmt {
  SourceLoc loc;
  ir::LossKind loss = ir::LossKind::CategoricalCrossentropy;
  ir::OptimizerSpec optimizer; // the chosen optimizer's defaults filled in
  bool accuracy = true;        // metrics=[accuracy]; true when omitted
  ir::DtypePolicy dtypePolicy = ir::DtypePolicy::Float32; // dtype_policy=
};

struct FitStmt {
  SourceLoc loc;
  SourceLoc datasetLoc;    // line 0 when dataset= is not given
  SourceLoc validationLoc; // line 0 when validation= is not given
  SourceLoc callbacksLoc;  // line 0 when callbacks= is not given
  ir::FitSpec fit;         // defaults filled in
};

struct Program {
  std::string filename;
  std::string source; // kept so that later errors can quote their line
  Model model;
  std::optional<CompileStmt> compile;
  std::optional<FitStmt> fit;

  // A diagnostic at `loc` of this program's file.
  Diagnostic diagnose(SourceLoc loc, std::string message) const {
    return makeDiagnostic(filename, source, loc, std::move(message));
  }
};

} // namespace cnnc::frontend
