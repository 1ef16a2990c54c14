#include "codegen/Kernels.h"

namespace cnnc::codegen {

EmitFn kernelEmitter(ir::OpKind kind) {
  using K = ir::OpKind;
  switch (kind) {
  case K::Conv2D:
    return emitConv2D;
  case K::Conv2DBackwardData:
    return emitConv2DBackwardData;
  case K::Conv2DBackwardFilter:
    return emitConv2DBackwardFilter;
  case K::BiasAdd:
    return emitBiasAdd;
  case K::BiasGrad:
    return emitBiasGrad;
  case K::MaxPool2D:
    return emitMaxPool2D;
  case K::MaxPool2DGrad:
    return emitMaxPool2DGrad;
  case K::AvgPool2D:
    return emitAvgPool2D;
  case K::AvgPool2DGrad:
    return emitAvgPool2DGrad;
  case K::MatMul:
    return emitMatMul;
  case K::Reshape:
    return nullptr;
  case K::Activation:
    return emitActivation;
  case K::ActivationGrad:
    return emitActivationGrad;
  case K::Softmax:
    return emitSoftmax;
  case K::SoftmaxCrossEntropy:
    return emitSoftmaxCrossEntropy;
  case K::SoftmaxCrossEntropyGrad:
    return emitSoftmaxCrossEntropyGrad;
  case K::CountCorrect:
    return emitCountCorrect;
  case K::Dropout:
    return emitDropout;
  case K::Mul:
    return emitMul;
  case K::Add:
    return emitAdd;
  case K::SgdUpdate:
    return emitSgdUpdate;
  case K::AdamUpdate:
    return emitAdamUpdate;
  case K::RmspropUpdate:
    return emitRmspropUpdate;
  }
  return nullptr;
}

} // namespace cnnc::codegen
