#include "passes/FoldPoolGrad.h"

#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

namespace cnnc::passes {

namespace {

// Whether `pack` (reading dx [N,H,W,C]) can be the stage: whole pairs along
// the batch or the channels, and groups of whole pairs.
bool packFits(const ir::Graph &g, const ir::Op &pack, const ir::Op *bias) {
  const std::vector<int64_t> &s = g.type(pack.operands[0]).shape;
  if (s.size() != 4 || s[0] % 2 != 0 || s[3] % 2 != 0)
    return false;
  for (int64_t axis : pack.attrs.getInts(ir::AttrName::Axes))
    if (axis != 0 && axis != 3)
      return false;
  return !bias || !bias->attrs.has(ir::AttrName::BatchGroups) ||
         ir::batchGroupSize(s[0],
                            bias->attrs.getInt(ir::AttrName::BatchGroups)) %
                 2 ==
             0;
}

} // namespace

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
    const ir::Op *biasOp = bias >= 0 ? &g.ops()[bias] : nullptr;
    if (pack >= 0 && (others > 0 || !packFits(g, g.ops()[pack], biasOp)))
      pack = -1;
    if (pack < 0 && bias < 0) {
      ops.push_back(grad);
      continue;
    }
    ir::Op fused{ir::OpKind::MaxPool2DArgmaxGradFused, grad.operands,
                 grad.results, grad.attrs, grad.loc};
    ir::FusedStageSet stages;
    if (pack >= 0) {
      const ir::Op &p = g.ops()[pack];
      stages.add(ir::FusedStage::PackBfloat16Pairs);
      fused.attrs.set(ir::AttrName::Axes, p.attrs.getInts(ir::AttrName::Axes));
      fused.results = p.results;
      dropped[pack] = true;
    }
    if (bias >= 0) {
      stages.add(ir::FusedStage::BiasGrad);
      if (biasOp->attrs.has(ir::AttrName::BatchGroups))
        fused.attrs.set(ir::AttrName::BatchGroups,
                        biasOp->attrs.getInt(ir::AttrName::BatchGroups));
      fused.results.push_back(biasOp->results[0]);
      dropped[bias] = true;
    }
    ir::setFusedStages(fused.attrs, stages);
    ops.push_back(std::move(fused));
  }
  g.setOps(std::move(ops));
}

} // namespace cnnc::passes
