// The stage sets of the fused ops that passes/Fusion.cpp builds, named for
// tests (ir/FusedStages.def).
#pragma once

#include "ir/FusedStages.h"

namespace cnnc::testing {

using ir::FusedStage;

// conv2d_fused and matmul_fused.
inline constexpr ir::FusedStageSet kBiasAct{FusedStage::BiasAdd,
                                            FusedStage::Activation};
inline constexpr ir::FusedStageSet kBiasActPool{
    FusedStage::BiasAdd, FusedStage::Activation, FusedStage::MaxPool2D};
inline constexpr ir::FusedStageSet kBiasActPoolArgmax{
    FusedStage::BiasAdd, FusedStage::Activation, FusedStage::MaxPool2D,
    FusedStage::Argmax};
inline constexpr ir::FusedStageSet kBiasActPoolArgmaxDropout{
    FusedStage::BiasAdd, FusedStage::Activation, FusedStage::MaxPool2D,
    FusedStage::Argmax, FusedStage::Dropout};
// conv2d_backward_filter_fused.
inline constexpr ir::FusedStageSet kBiasGrad{FusedStage::BiasGrad};
inline constexpr ir::FusedStageSet kArgmaxGradBiasGrad{
    FusedStage::MaxPool2DArgmaxGrad, FusedStage::BiasGrad};
// max_pool2d_grad_fused.
inline constexpr ir::FusedStageSet kActivationGrad{FusedStage::ActivationGrad};
// batch_norm.
inline constexpr ir::FusedStageSet kAct{FusedStage::Activation};
inline constexpr ir::FusedStageSet kActPool{FusedStage::Activation,
                                            FusedStage::MaxPool2D};
inline constexpr ir::FusedStageSet kActPoolArgmax{
    FusedStage::Activation, FusedStage::MaxPool2D, FusedStage::Argmax};
// batch_norm_grad and batch_norm_grad_sums.
inline constexpr ir::FusedStageSet kArgmaxGrad{FusedStage::MaxPool2DArgmaxGrad};

// `attrs` with the prologue and epilogue of `stages`.
inline ir::Attrs withStages(ir::Attrs attrs, ir::FusedStageSet stages) {
  ir::setFusedStages(attrs, stages);
  return attrs;
}

} // namespace cnnc::testing
