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
  case LayerKind::GlobalAveragePooling2D:
    return "global_average_pooling2d";
  case LayerKind::BatchNormalization:
    return "batch_normalization";
  case LayerKind::Activation:
    return "activation";
  case LayerKind::LeakyReLU:
    return "leaky_re_lu";
  case LayerKind::ELU:
    return "elu";
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
  case LayerKind::GlobalAveragePooling2D:
    return "GlobalAveragePooling2D";
  case LayerKind::BatchNormalization:
    return "BatchNormalization";
  case LayerKind::Activation:
    return "Activation";
  case LayerKind::LeakyReLU:
    return "LeakyReLU";
  case LayerKind::ELU:
    return "ELU";
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
  case Activation::LeakyRelu:
    return "leaky_relu";
  case Activation::Elu:
    return "elu";
  }
  return "?";
}

const char *paddingName(Padding p) {
  return p == Padding::Same ? "same" : "valid";
}

} // namespace cnnc::frontend
