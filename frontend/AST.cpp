#include "frontend/AST.h"

#include <iterator>

namespace cnnc::frontend {

namespace {

#define CNNC_LIST(...)                                                         \
  { __VA_ARGS__ }
const LayerInfo kLayers[] = {
#define LAYER(Enum, Keyword, ClassName, Positional, NamedOnly, Required, Act,  \
              Param)                                                           \
  {Keyword,                                                                    \
   ClassName,                                                                  \
   CNNC_LIST Positional,                                                       \
   CNNC_LIST NamedOnly,                                                        \
   CNNC_LIST Required,                                                         \
   Activation::Act,                                                            \
   Param},
#include "frontend/Layers.def"
#undef LAYER
};
#undef CNNC_LIST

} // namespace

const LayerInfo &layerInfo(LayerKind k) { return kLayers[static_cast<int>(k)]; }

const char *activationName(Activation a) {
  std::optional<ir::ActivationKind> k = irActivation(a);
  return k ? ir::activationName(*k) : "softmax";
}

std::optional<ir::ActivationKind> irActivation(Activation a) {
  if (a == Activation::Softmax)
    return std::nullopt;
  return static_cast<ir::ActivationKind>(a);
}

const char *paddingName(Padding p) {
  return p == Padding::Same ? "same" : "valid";
}

} // namespace cnnc::frontend
