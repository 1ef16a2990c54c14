#include "passes/FoldPoolGrad.h"

#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

namespace cnnc::passes {

void foldPoolGrad(ir::Graph &g) {
  size_t numOps = g.ops().size();
  std::vector<std::vector<int>> readers(g.values().size());
  for (size_t i = 0; i < numOps; ++i)
    for (ir::ValueId v : g.ops()[i].operands)
      if (readers[v].empty() || readers[v].back() != static_cast<int>(i))
        readers[v].push_back(static_cast<int>(i));
  std::vector<bool> isOutput(g.values().size(), false);
  for (const ir::GraphOutput &out : g.outputs())
    isOutput[out.value] = true;
  std::vector<bool> dropped(numOps, false);
  std::vector<ir::Op> ops;
  ops.reserve(numOps);
  for (size_t i = 0; i < numOps; ++i) {
    if (dropped[i])
      continue;
    const ir::Op &grad = g.ops()[i];
    ir::ValueId dx =
        grad.kind == ir::OpKind::MaxPool2DArgmaxGrad ? grad.results[0] : -1;
    int pack = -1, bias = -1;
    int others = dx >= 0 && isOutput[dx] ? 1 : 0; // a returned dx is written
    if (dx >= 0)
      for (int r : readers[dx]) {
        const ir::Op &op = g.ops()[r];
        if (op.kind == ir::OpKind::PackBfloat16Pairs && pack < 0)
          pack = r;
        else if (op.kind == ir::OpKind::BiasGrad && bias < 0)
          bias = r;
        else
          ++others;
      }
    if (pack >= 0 && others > 0)
      pack = -1; // dx is written anyway
    if (pack < 0 && bias < 0) {
      ops.push_back(grad);
      continue;
    }
    // The fused op with the packing when `withPack`, and the bias gradient.
    auto fusedOp = [&](bool withPack) {
      ir::Op fused{ir::OpKind::MaxPool2DArgmaxGradFused, grad.operands,
                   grad.results, grad.attrs, grad.loc};
      ir::FusedStageSet stages;
      if (withPack) {
        const ir::Op &p = g.ops()[pack];
        stages.add(ir::FusedStage::PackBfloat16Pairs);
        fused.attrs.set(ir::AttrName::Axes,
                        p.attrs.getInts(ir::AttrName::Axes));
        fused.results = p.results;
      }
      if (bias >= 0) {
        const ir::Op &db = g.ops()[bias];
        stages.add(ir::FusedStage::BiasGrad);
        if (db.attrs.has(ir::AttrName::BatchGroups))
          fused.attrs.set(ir::AttrName::BatchGroups,
                          db.attrs.getInt(ir::AttrName::BatchGroups));
        fused.results.push_back(db.results[0]);
      }
      ir::setFusedStages(fused.attrs, stages);
      return fused;
    };
    ir::Op fused = fusedOp(pack >= 0);
    if (pack >= 0) {
      // The shape rule says where the kernel can write whole pairs.
      std::vector<ir::TensorType> in;
      for (ir::ValueId v : grad.operands)
        in.push_back(g.type(v));
      if (ir::inferResultTypes(fused.kind, in, fused.attrs).ok())
        dropped[pack] = true;
      else if (bias >= 0)
        fused = fusedOp(false);
      else {
        ops.push_back(grad);
        continue;
      }
    }
    if (bias >= 0)
      dropped[bias] = true;
    ops.push_back(std::move(fused));
  }
  g.setOps(std::move(ops));
}

} // namespace cnnc::passes
