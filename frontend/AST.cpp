#include "frontend/AST.h"

namespace cnnc::frontend {

const char *layerKeyword(LayerKind k) {
  switch (k) {
  case LayerKind::Conv2D:
    return "conv2d";
  case LayerKind::MaxPooling2D:
    return "max_pooling2d";
  case LayerKind::AveragePooling2D:
    return "average_pooling2d";
  case LayerKind::Dropout:
    return "dropout";
  case LayerKind::Flatten:
    return "flatten";
  case LayerKind::Dense:
    return "dense";
  }
  return "?";
}

const char *layerClassName(LayerKind k) {
  switch (k) {
  case LayerKind::Conv2D:
    return "Conv2D";
  case LayerKind::MaxPooling2D:
    return "MaxPooling2D";
  case LayerKind::AveragePooling2D:
    return "AveragePooling2D";
  case LayerKind::Dropout:
    return "Dropout";
  case LayerKind::Flatten:
    return "Flatten";
  case LayerKind::Dense:
    return "Dense";
  }
  return "?";
}

const char *activationName(Activation a) {
  switch (a) {
  case Activation::Linear:
    return "linear";
  case Activation::Relu:
    return "relu";
  case Activation::Sigmoid:
    return "sigmoid";
  case Activation::Tanh:
    return "tanh";
  case Activation::Softmax:
    return "softmax";
  }
  return "?";
}

const char *paddingName(Padding p) {
  return p == Padding::Same ? "same" : "valid";
}

} // namespace cnnc::frontend
