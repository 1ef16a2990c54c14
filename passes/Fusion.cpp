#include "passes/Fusion.h"

#include "passes/DeadCode.h"

#include "ir/Activations.h"
#include "ir/FusedStages.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>

#include <map>
#include <optional>

namespace cnnc::passes {

namespace {

using ir::ActivationKind;
using ir::FusedStage;
using ir::Graph;
using ir::Op;
using ir::OpKind;
using ir::ValueId;

struct Use {
  int op, operand;
};

// Matches chains on the graph as it was before the pass (use lists are not
// updated): every op takes part in at most one rewrite, and each rewrite
// only removes uses it accounts for itself.
class Fuser {
public:
  Fuser(Graph &g, const FusionOptions &options)
      : g_(g), options_(options), uses_(g.values().size()),
        writes_(g.values().size()), output_(g.values().size(), false),
        removed_(g.ops().size(), false), replaced_(g.ops().size()) {
    for (size_t i = 0; i < g.ops().size(); ++i) {
      const Op &op = g.ops()[i];
      for (size_t k = 0; k < op.operands.size(); ++k)
        uses_[op.operands[k]].push_back(
            {static_cast<int>(i), static_cast<int>(k)});
      if (ir::opInfo(op.kind).flags & ir::kWritesOperands)
        for (ValueId v : op.operands)
          writes_[v].push_back(static_cast<int>(i));
    }
    for (const ir::GraphOutput &o : g.outputs())
      if (o.value >= 0 && o.value < static_cast<ValueId>(output_.size()))
        output_[o.value] = true;
  }

  absl::Status run() {
    for (size_t i = 0; i < g_.ops().size(); ++i)
      if (free(i) && g_.ops()[i].kind == OpKind::Conv2D)
        fuseConv(static_cast<int>(i));
    for (size_t i = 0; i < g_.ops().size(); ++i)
      if (free(i) && g_.ops()[i].kind == OpKind::MatMul)
        fuseDense(static_cast<int>(i));
    for (size_t i = 0; i < g_.ops().size(); ++i)
      if (free(i) && g_.ops()[i].kind == OpKind::Conv2DBackwardFilter)
        fuseFilterBias(static_cast<int>(i));
    for (size_t i = 0; i < g_.ops().size(); ++i)
      if (free(i) && g_.ops()[i].kind == OpKind::Conv2DBackwardData)
        transposeKernel(static_cast<int>(i));
    // Before the pool gradients fuse on their own: a normalization's pool
    // takes its gradient along.
    for (size_t i = 0; i < g_.ops().size(); ++i)
      if (free(i) && (g_.ops()[i].kind == OpKind::BatchNorm ||
                      g_.ops()[i].kind == OpKind::BatchNormInference))
        fuseNormActivation(static_cast<int>(i));
    for (size_t i = 0; i < g_.ops().size(); ++i)
      if (free(i) && g_.ops()[i].kind == OpKind::BatchNormGrad)
        fuseNormGradPool(static_cast<int>(i));
    for (size_t i = 0; i < g_.ops().size(); ++i)
      if (free(i) && g_.ops()[i].kind == OpKind::MaxPool2DGrad)
        fusePoolGradActivation(static_cast<int>(i));
    return rebuild();
  }

private:
  const Op &op(int i) const { return g_.ops()[i]; }
  bool free(size_t i) const { return !removed_[i] && !replaced_[i]; }

  // The op that is v's only use, if v is not an output and that op is a
  // free `kind` reading v as operand `operand`; else -1.
  int soleUser(ValueId v, OpKind kind, int operand) const {
    if (output_[v] || uses_[v].size() != 1)
      return -1;
    const Use &u = uses_[v][0];
    if (u.operand != operand || op(u.op).kind != kind || !free(u.op))
      return -1;
    return u.op;
  }

  // The activation that is v's only use, if the fused kernels know its kind
  // (activations with parameters stay separate ops); else -1.
  int fusableActivation(ValueId v) const {
    int k = soleUser(v, OpKind::Activation, 0);
    if (k < 0)
      return -1;
    return ir::activationInfo(ir::activationKindOf(op(k).attrs)).hasParam() ? -1
                                                                            : k;
  }

  // A new temp for a fused op's extra result.
  ValueId addTemp(const std::string &base, ir::TensorType type) {
    return g_.addTemp(base, std::move(type));
  }

  void replace(int at, Op fused) {
    for (ValueId r : fused.results)
      producer_[r] = at;
    replaced_[at] = std::move(fused);
  }

  // The op index that defines v after the rewrites so far.
  int producer(ValueId v) const {
    auto it = producer_.find(v);
    return it != producer_.end() ? it->second : g_.value(v).definingOp;
  }

  // conv2d -> bias_add [-> activation] [-> max_pool2d (+ its gradient)].
  void fuseConv(int i) {
    const Op &conv = op(i);
    int j = soleUser(conv.results[0], OpKind::BiasAdd, 0);
    // The fused op takes the convolution's place, so it can only read a bias
    // that is defined by then and not updated in place after.
    if (j < 0 || !definedBefore(op(j).operands[1], i) ||
        writtenBetween(op(j).operands[1], i, j))
      return;
    ValueId a = op(j).results[0];
    ActivationKind act = ActivationKind::Linear;
    int k = fusableActivation(a);
    if (k >= 0) {
      act = ir::activationKindOf(op(k).attrs);
      a = op(k).results[0];
    }
    ir::Attrs attrs = conv.attrs;
    attrs.set(ir::AttrName::Activation, std::string(ir::activationName(act)));
    std::vector<ValueId> operands{conv.operands[0], conv.operands[1],
                                  op(j).operands[1]};
    removed_[j] = true;
    if (k >= 0)
      removed_[k] = true;
    // The activation stage even when linear: bit for bit the same, and the
    // printed IR says what the layer had.
    ir::FusedStageSet stages{FusedStage::BiasAdd, FusedStage::Activation};
    Op fused{OpKind::Conv2DFused, operands, {a}, attrs, conv.loc};
    if (!fusePool(i, a, act, fused, stages)) {
      ir::setFusedStages(fused.attrs, stages);
      replace(i, std::move(fused));
    }
  }

  // The max pool reading the activation a, fused into `fused` (a
  // conv2d_fused or a batch_norm whose result 0 is a), which replaces op i,
  // when its windows do not overlap. Without other users of a (evaluation,
  // prediction) the pool simply moves into the anchor; in training a must
  // otherwise be read only by the pool's gradient and the activation's
  // gradient, which become one max_pool2d_argmax_grad, and the anchor adds
  // the argmax as its last result.
  bool fusePool(int i, ValueId a, ActivationKind act, Op fused,
                ir::FusedStageSet stages) {
    if (output_[a])
      return false;
    int pool = -1, poolGrad = -1, actGrad = -1;
    for (const Use &u : uses_[a]) {
      if (!free(u.op) || u.operand != 0)
        return false;
      int *slot = nullptr;
      switch (op(u.op).kind) {
      case OpKind::MaxPool2D:
        slot = &pool;
        break;
      case OpKind::MaxPool2DGrad:
        slot = &poolGrad;
        break;
      case OpKind::ActivationGrad:
        slot = &actGrad;
        break;
      default:
        return false;
      }
      if (*slot >= 0)
        return false; // two users of one kind
      *slot = u.op;
    }
    bool conv = fused.kind == OpKind::Conv2DFused;
    if (pool < 0 || !poolFits(op(pool), g_.type(a), conv))
      return false;
    ValueId p = op(pool).results[0];
    fused.attrs.set(ir::AttrName::PoolSize,
                    op(pool).attrs.getInts(ir::AttrName::PoolSize));
    fused.results[0] = p;
    stages.add(FusedStage::MaxPool2D);
    if (poolGrad < 0 && actGrad < 0) {
      removed_[pool] = true;
      ir::setFusedStages(fused.attrs, stages);
      replace(i, std::move(fused));
      return true;
    }
    // Training: the pool's gradient needs the argmax, which not every
    // anchor writes (batch_norm_inference does not: its pool stays an op).
    if (!ir::stageTakenBy(FusedStage::Argmax, fused.kind))
      return false;
    // max_pool2d_grad(a, p, g) [-> activation_grad(a, .) relu].
    bool relu = act == ActivationKind::Relu;
    if (poolGrad < 0 || (!relu && act != ActivationKind::Linear) ||
        relu != (actGrad >= 0))
      return false;
    const Op &pg = op(poolGrad);
    if (pg.operands[1] != p || !(pg.attrs == op(pool).attrs))
      return false;
    ValueId dx = pg.results[0];
    if (actGrad >= 0) {
      const Op &ag = op(actGrad);
      if (ir::activationKindOf(ag.attrs) != ActivationKind::Relu ||
          soleUser(dx, OpKind::ActivationGrad, 1) != actGrad)
        return false;
      dx = ag.results[0];
    }
    ValueId argmax =
        addTemp(g_.value(p).name + ".argmax", ir::i32(g_.type(p).shape));
    removed_[pool] = true;
    // The gradient dy, or the two factors of a mul producing it (dropout's
    // backward multiplies by its mask).
    std::vector<ValueId> gradOperands{argmax, pg.operands[2]};
    ValueId dy = pg.operands[2];
    int mul = g_.value(dy).definingOp;
    if (mul >= 0 && op(mul).kind == OpKind::Mul &&
        soleUser(dy, OpKind::MaxPool2DGrad, 2) == poolGrad && free(mul)) {
      gradOperands = {argmax, op(mul).operands[0], op(mul).operands[1]};
      removed_[mul] = true;
    }
    ir::Attrs gradAttrs;
    gradAttrs.set(ir::AttrName::PoolSize,
                  op(pool).attrs.getInts(ir::AttrName::PoolSize));
    gradAttrs.set(ir::AttrName::InputShape, g_.type(a).shape);
    stages.add(FusedStage::Argmax);
    fused.results.push_back(argmax);
    int d = conv ? droppedAfterPool(p, poolGrad, gradOperands) : -1;
    if (d >= 0) {
      // dropout(p) moves into the epilogue; its mask is never stored: the
      // argmax is -1 where it drops and the gradient scales by 1/(1-rate).
      const Op &dr = op(d);
      double rate = dr.attrs.getFloat(ir::AttrName::Rate);
      stages.add(FusedStage::Dropout);
      fused.operands.push_back(dr.operands[1]);
      for (ir::AttrName name :
           {ir::AttrName::Rate, ir::AttrName::Seed, ir::AttrName::Salt})
        fused.attrs.set(name, dr.attrs.all().at(name));
      fused.results[0] = dr.results[0];
      ValueId mask = dr.results[1];
      gradOperands = {argmax, gradOperands[1] == mask ? gradOperands[2]
                                                      : gradOperands[1]};
      gradAttrs.set(ir::AttrName::Scale, 1.0 / (1.0 - rate));
      removed_[d] = true;
    }
    ir::setFusedStages(fused.attrs, stages);
    replace(i, std::move(fused));
    if (actGrad >= 0)
      removed_[actGrad] = true;
    replace(
        poolGrad,
        Op{OpKind::MaxPool2DArgmaxGrad, gradOperands, {dx}, gradAttrs, pg.loc});
    return true;
  }

  // The dropout op reading the pooled p, when p's only other user is the
  // pool's gradient and dropout's mask is read only by the mul folded into
  // that gradient (gradOperands = argmax, dy, mask); else -1.
  int droppedAfterPool(ValueId p, int poolGrad,
                       const std::vector<ValueId> &gradOperands) const {
    if (output_[p] || uses_[p].size() != 2 || gradOperands.size() != 3)
      return -1;
    for (const Use &u : uses_[p]) {
      if (u.op == poolGrad)
        continue;
      const Op &d = op(u.op);
      if (d.kind != OpKind::Dropout || u.operand != 0 || !free(u.op) ||
          !(d.attrs.getFloat(ir::AttrName::Rate) > 0) ||
          !d.attrs.has(ir::AttrName::Seed) || !d.attrs.has(ir::AttrName::Salt))
        return -1;
      ValueId mask = d.results[1];
      bool maskFolded = gradOperands[1] == mask || gradOperands[2] == mask;
      if (!maskFolded || output_[mask] || uses_[mask].size() != 1 ||
          gradOperands[1] == gradOperands[2])
        return -1;
      return u.op;
    }
    return -1;
  }

  // Non-overlapping, unpadded windows; for a convolution, whose rows fit
  // the per-thread buffer (a normalization reads its rows in place).
  bool poolFits(const Op &pool, const ir::TensorType &a, bool conv) const {
    std::vector<int64_t> ps = pool.attrs.getInts(ir::AttrName::PoolSize);
    std::vector<int64_t> pad = pool.attrs.getInts(ir::AttrName::Padding);
    if (ps.size() != 2 || pool.attrs.getInts(ir::AttrName::Strides) != ps ||
        pad != std::vector<int64_t>{0, 0, 0, 0} || a.rank() != 4)
      return false;
    return !conv ||
           ps[0] * a.shape[2] * a.shape[3] * 4 <= options_.maxPoolRowBytes;
  }

  // matmul -> bias_add [-> activation].
  void fuseDense(int i) {
    const Op &mm = op(i);
    int j = soleUser(mm.results[0], OpKind::BiasAdd, 0);
    if (j < 0 || !definedBefore(op(j).operands[1], i) ||
        writtenBetween(op(j).operands[1], i, j))
      return;
    ValueId y = op(j).results[0];
    ActivationKind act = ActivationKind::Linear;
    int k = fusableActivation(y);
    if (k >= 0) {
      act = ir::activationKindOf(op(k).attrs);
      y = op(k).results[0];
      removed_[k] = true;
    }
    removed_[j] = true;
    ir::Attrs attrs = mm.attrs;
    attrs.set(ir::AttrName::Activation, std::string(ir::activationName(act)));
    ir::setFusedStages(attrs, {FusedStage::BiasAdd, FusedStage::Activation});
    replace(i, Op{OpKind::MatMulFused,
                  {mm.operands[0], mm.operands[1], op(j).operands[1]},
                  {y},
                  attrs,
                  mm.loc});
  }

  bool definedBefore(ValueId v, int at) const {
    return g_.value(v).definingOp < at;
  }

  // Whether an op in [from, to) may update v in place: a read of v cannot
  // move across it.
  bool writtenBetween(ValueId v, int from, int to) const {
    for (int w : writes_[v])
      if (w >= from && w < to)
        return true;
    return false;
  }

  // conv2d_backward_filter(x, dy) and bias_grad(dy): one pass over dy.
  void fuseFilterBias(int i) {
    const Op &bf = op(i);
    ValueId dy = bf.operands[1];
    int j = -1;
    for (const Use &u : uses_[dy])
      if (op(u.op).kind == OpKind::BiasGrad && free(u.op)) {
        j = u.op;
        break;
      }
    if (j < 0)
      return;
    int at = std::min(i, j);
    if (!definedBefore(bf.operands[0], at) || !definedBefore(dy, at))
      return;
    removed_[i == at ? j : i] = true;
    Op fused{OpKind::Conv2DBackwardFilterFused,
             bf.operands,
             {bf.results[0], op(j).results[0]},
             bf.attrs,
             bf.loc};
    ir::FusedStageSet stages{FusedStage::BiasGrad};
    // dy from a fused pool's gradient that nothing else reads (the first
    // layer has no backward data): the kernel reads the pooled gradient and
    // the argmax instead, and the full-size dy is never written.
    int m = producer(dy);
    if (m >= 0 && replaced_[m] &&
        replaced_[m]->kind == OpKind::MaxPool2DArgmaxGrad && !output_[dy] &&
        uses_[dy].size() == 2) {
      stages.add(FusedStage::MaxPool2DArgmaxGrad);
      fused.operands = {bf.operands[0]};
      for (ValueId v : replaced_[m]->operands)
        fused.operands.push_back(v);
      for (const auto &[name, value] : replaced_[m]->attrs.all())
        if (name != ir::AttrName::InputShape)
          fused.attrs.set(name, value);
      replaced_[m].reset();
      removed_[m] = true;
    }
    ir::setFusedStages(fused.attrs, stages);
    replace(at, std::move(fused));
  }

  // max_pool2d_grad(x, y, dy) -> activation_grad(x, .) where x, the pool's
  // input, is the activation's output (a pool that did not fuse into its
  // convolution: batch normalization in between): one pass over dx.
  void fusePoolGradActivation(int i) {
    const Op &pg = op(i);
    int k = soleUser(pg.results[0], OpKind::ActivationGrad, 1);
    if (k < 0 || op(k).operands[0] != pg.operands[0])
      return;
    ActivationKind kind = ir::activationKindOf(op(k).attrs);
    if (ir::activationInfo(kind).hasParam())
      return;
    ir::Attrs attrs = pg.attrs;
    attrs.set(ir::AttrName::Activation,
              op(k).attrs.all().at(ir::AttrName::Kind));
    ir::setFusedStages(attrs, {FusedStage::ActivationGrad});
    removed_[k] = true;
    replace(i, Op{OpKind::MaxPool2DGradFused,
                  pg.operands,
                  {op(k).results[0]},
                  std::move(attrs),
                  pg.loc});
  }

  // batch_norm -> activation [-> max_pool2d (+ its gradient)]: y written
  // activated (or pooled), one pass over it fewer. Only where the
  // activation is y's one use: in training, where the activation's gradient
  // reads its output (relu), not y. A batch_norm that already has its
  // activation keeps it. batch_norm_inference (evaluation and prediction
  // graphs; a frozen normalization in training) likewise, its pool only
  // where nothing takes the pool's gradient.
  void fuseNormActivation(int i) {
    const Op &bn = op(i);
    if (bn.attrs.has(ir::AttrName::Epilogue))
      return;
    int k = fusableActivation(bn.results[0]);
    if (k < 0)
      return;
    ActivationKind act = ir::activationKindOf(op(k).attrs);
    Op fused{bn.kind, bn.operands, bn.results, bn.attrs, bn.loc};
    fused.attrs.set(ir::AttrName::Activation,
                    std::string(ir::activationName(act)));
    ValueId a = op(k).results[0];
    fused.results[0] = a;
    removed_[k] = true;
    if (!fusePool(i, a, act, fused, {FusedStage::Activation})) {
      ir::setFusedStages(fused.attrs, {FusedStage::Activation});
      replace(i, std::move(fused));
    }
  }

  // batch_norm_grad(x, mean, variance, dy, ...) with dy from the
  // max_pool2d_argmax_grad of a pool fused into the batch_norm, read by
  // nothing else: the kernel reads the pooled (argmax, g) instead, and the
  // full-size dy is never written. Only a plain g (a mask or scale comes
  // with dropout, which fuses into convolutions only).
  void fuseNormGradPool(int i) {
    const Op &bg = op(i);
    ValueId dy = bg.operands[3];
    int m = producer(dy);
    if (m < 0 || !replaced_[m] ||
        replaced_[m]->kind != OpKind::MaxPool2DArgmaxGrad ||
        replaced_[m]->operands.size() != 2 ||
        replaced_[m]->attrs.has(ir::AttrName::Scale) ||
        soleUser(dy, OpKind::BatchNormGrad, 3) != i)
      return;
    const Op &pg = *replaced_[m];
    Op fused = bg;
    fused.operands.erase(fused.operands.begin() + 3);
    fused.operands.insert(fused.operands.begin() + 3, pg.operands.begin(),
                          pg.operands.end());
    fused.attrs.set(ir::AttrName::PoolSize,
                    pg.attrs.getInts(ir::AttrName::PoolSize));
    ir::setFusedStages(fused.attrs, {FusedStage::MaxPool2DArgmaxGrad});
    replaced_[m].reset();
    removed_[m] = true;
    replace(i, std::move(fused));
  }

  // conv2d_backward_data(dy, w) with w a param: the kernel is transposed
  // once, at the start of the step, instead of by every thread of the call
  // (unless an update before the call changes w).
  void transposeKernel(int i) {
    const Op &bd = op(i);
    ValueId w = bd.operands[1];
    if (g_.value(w).kind == ir::ValueKind::Temp || writtenBetween(w, 0, i))
      return;
    auto it = transposed_.find(w);
    if (it == transposed_.end()) {
      const std::vector<int64_t> &s = g_.type(w).shape;
      ValueId wt = addTemp(g_.value(w).name + ".transposed",
                           ir::f32({s[0], s[1], s[3], s[2]}));
      prologue_.push_back(
          Op{OpKind::Conv2DKernelTranspose, {w}, {wt}, {}, bd.loc});
      it = transposed_.emplace(w, wt).first;
    }
    replace(i, Op{OpKind::Conv2DBackwardDataTransposed,
                  {bd.operands[0], it->second},
                  bd.results,
                  bd.attrs,
                  bd.loc});
  }

  absl::Status rebuild() {
    std::vector<Op> ops = prologue_;
    for (size_t i = 0; i < g_.ops().size(); ++i) {
      if (replaced_[i])
        ops.push_back(std::move(*replaced_[i]));
      else if (!removed_[i])
        ops.push_back(std::move(g_.ops()[i]));
    }
    // The rewrites only build ops whose shape rules hold and whose operands
    // are defined before them; check anyway, so that a wrong match fails
    // here and not in a kernel (or in dead-code elimination, which would
    // drop a definition that comes after its use).
    std::vector<bool> defined(g_.values().size());
    for (size_t v = 0; v < defined.size(); ++v)
      defined[v] =
          g_.value(static_cast<ValueId>(v)).kind != ir::ValueKind::Temp;
    for (const Op &o : ops) {
      std::vector<ir::TensorType> in;
      for (ValueId v : o.operands) {
        if (!defined[v])
          return absl::InternalError(
              fmt::format("fusion built '{}' before the definition of its "
                          "operand %{}",
                          ir::opName(o.kind), g_.value(v).name));
        in.push_back(g_.type(v));
      }
      for (ValueId r : o.results)
        defined[r] = true;
      auto types = ir::inferResultTypes(o.kind, in, o.attrs);
      bool same = types.ok() && types->size() == o.results.size();
      for (size_t r = 0; same && r < o.results.size(); ++r)
        same = (*types)[r] == g_.type(o.results[r]);
      if (!same)
        return absl::InternalError(
            fmt::format("fusion built an invalid '{}': {}", ir::opName(o.kind),
                        types.ok() ? "result types differ"
                                   : std::string(types.status().message())));
    }
    g_.setOps(std::move(ops));
    eliminateDeadCode(g_);
    return absl::OkStatus();
  }

  Graph &g_;
  FusionOptions options_;
  std::vector<std::vector<Use>> uses_;
  // Per value, the ops that may update it in place (any operand of a
  // kWritesOperands op), in order.
  std::vector<std::vector<int>> writes_;
  std::vector<bool> output_;
  std::vector<bool> removed_;
  std::vector<std::optional<Op>> replaced_;
  std::vector<Op> prologue_;
  std::map<ValueId, ValueId> transposed_;
  std::map<ValueId, int> producer_; // results of rewritten ops
};

} // namespace

absl::Status fuseOps(ir::Graph &g, const FusionOptions &options) {
  return Fuser(g, options).run();
}

} // namespace cnnc::passes
