#include "passes/Autodiff.h"

#include "passes/Gradients.h"
#include "passes/GraphCopy.h"

#include "ir/Verifier.h"

#include "absl/status/status.h"
#include <fmt/format.h>

namespace cnnc::passes {

using ir::Graph;
using ir::Op;
using ir::OpKind;
using ir::ValueId;
using ir::ValueKind;

namespace {

// A param the optimizer trains: every param but those marked trainable = 0
// (batch normalization's moving statistics, which their own ops update).
bool isTrainable(const ir::Value &v) {
  return v.kind == ValueKind::Param &&
         v.attrs.getInt(ir::AttrName::Trainable, 1) != 0;
}

// Values that depend on a trainable param: only these need gradients.
std::vector<bool> dependsOnParam(const Graph &g) {
  std::vector<bool> dep(g.values().size(), false);
  for (size_t i = 0; i < g.values().size(); ++i)
    dep[i] = isTrainable(g.values()[i]);
  for (const Op &op : g.ops()) {
    bool any = false;
    for (ValueId v : op.operands)
      any = any || dep[v];
    for (ValueId r : op.results)
      dep[r] = any;
  }
  return dep;
}

// Adds `contribution` to the gradient of `v`, summing with `add` when `v`
// already has one (it is used by several ops, or twice by one).
absl::Status accumulate(Graph &g, std::vector<ValueId> &grads, ValueId v,
                        ValueId contribution, const ir::Location &loc) {
  if (grads[v] == kNoGrad) {
    grads[v] = contribution;
    return absl::OkStatus();
  }
  auto sum = g.create1(OpKind::Add, {grads[v], contribution}, {}, loc,
                       g.value(v).name + ".grad");
  if (!sum.ok())
    return sum.status();
  grads[v] = *sum;
  return absl::OkStatus();
}

// Appends the backward pass of all ops now in `g`, seeded at `loss`; returns
// the gradient of every value that existed before (kNoGrad for most).
absl::StatusOr<std::vector<ValueId>> emitBackward(Graph &g, ValueId loss) {
  std::vector<bool> needed = dependsOnParam(g);
  size_t numValues = g.values().size();
  std::vector<ValueId> grads(numValues, kNoGrad);
  grads[loss] = kLossSeed;
  for (size_t i = g.ops().size(); i-- > 0;) {
    // A copy: emitting ops reallocates the op list. All uses of the op's
    // results come later, so their gradients are complete here.
    Op op = g.ops()[i];
    std::vector<ValueId> resultGrads;
    bool anyResultGrad = false;
    for (ValueId r : op.results) {
      resultGrads.push_back(grads[r]);
      anyResultGrad = anyResultGrad || grads[r] != kNoGrad;
    }
    std::vector<bool> wanted;
    bool anyWanted = false;
    for (ValueId v : op.operands) {
      bool w = needed[v] && g.type(v).dtype == ir::DType::F32;
      wanted.push_back(w);
      anyWanted = anyWanted || w;
    }
    if (!anyResultGrad || !anyWanted)
      continue;
    auto operandGrads = emitVjp(g, op, resultGrads, wanted);
    if (!operandGrads.ok())
      return operandGrads.status();
    for (size_t k = 0; k < op.operands.size(); ++k)
      if ((*operandGrads)[k] != kNoGrad)
        if (absl::Status s = accumulate(g, grads, op.operands[k],
                                        (*operandGrads)[k], op.loc);
            !s.ok())
          return s;
  }
  return grads;
}

// The step counter Adam's bias correction reads: the forward graph's %step
// input, or a new one.
ValueId stepInput(Graph &g) {
  ValueId step = g.findValue("step");
  if (step >= 0 && g.value(step).kind == ValueKind::Input &&
      g.type(step) == ir::i32({}))
    return step;
  return g.addInput("step", ir::i32({}));
}

// The learning rate every update reads: an input of the step, so that a
// schedule or reduce_lr_on_plateau changes it without recompiling. Its
// `initial` attribute records the recipe's rate for readers of the IR.
ValueId learningRateInput(Graph &g, double initial) {
  ValueId lr = g.findValue("learning_rate");
  if (lr >= 0 && g.value(lr).kind == ValueKind::Input &&
      g.type(lr) == ir::f32({}))
    return lr;
  lr = g.addInput("learning_rate", ir::f32({}));
  g.setAttrs(lr, ir::Attrs({{ir::AttrName::Initial, initial}}));
  return lr;
}

// One update per param, after the whole backward pass (Keras applies all
// gradients at once, and in-place updates must not precede reads of the old
// weights). Params without a gradient (unused by the loss) are left alone.
absl::Status emitUpdates(Graph &g, const std::vector<ValueId> &grads,
                         const ir::OptimizerSpec &opt) {
  const ValueId lr = learningRateInput(g, opt.learningRate);
  for (ValueId p : g.valuesOfKind(ValueKind::Param)) {
    ValueId dp = grads[p];
    if (dp == kNoGrad || !isTrainable(g.value(p)))
      continue;
    const std::string name = g.value(p).name;
    const ir::TensorType type = g.type(p);
    absl::StatusOr<std::vector<ValueId>> r;
    switch (opt.kind) {
    case ir::OptimizerKind::SGD: {
      std::vector<ValueId> operands{p, dp, lr};
      if (opt.momentum > 0)
        operands.push_back(g.addState(name + ".velocity", type));
      r = g.create(OpKind::SgdUpdate, std::move(operands),
                   {{ir::AttrName::Momentum, opt.momentum},
                    {ir::AttrName::Nesterov, int64_t{opt.nesterov ? 1 : 0}}});
      break;
    }
    case ir::OptimizerKind::Adam: {
      ValueId m = g.addState(name + ".m", type);
      ValueId v = g.addState(name + ".v", type);
      r = g.create(OpKind::AdamUpdate, {p, dp, lr, m, v, stepInput(g)},
                   {{ir::AttrName::Beta1, opt.beta1},
                    {ir::AttrName::Beta2, opt.beta2},
                    {ir::AttrName::Epsilon, opt.epsilon}});
      break;
    }
    case ir::OptimizerKind::RMSprop: {
      ValueId ms = g.addState(name + ".ms", type);
      r = g.create(
          OpKind::RmspropUpdate, {p, dp, lr, ms},
          {{ir::AttrName::Rho, opt.rho}, {ir::AttrName::Epsilon, opt.epsilon}});
      break;
    }
    }
    if (!r.ok())
      return r.status();
  }
  return absl::OkStatus();
}

// A trainable param that a forward op writes in place would be updated
// twice per step (by that op and by the optimizer), and the backward ops
// would read the already-updated value.
absl::Status checkNoInPlaceWritesOfTrainable(const Graph &g) {
  for (size_t i = 0; i < g.ops().size(); ++i) {
    const Op &op = g.ops()[i];
    for (size_t k = 0; k < op.operands.size(); ++k) {
      ValueId v = op.operands[k];
      if (ir::writesOperand(op.kind, k) && v >= 0 &&
          v < static_cast<ValueId>(g.values().size()) &&
          isTrainable(g.value(v)))
        return absl::InvalidArgumentError(fmt::format(
            "param %{} is trainable but op #{} '{}' of the forward graph "
            "updates it in place; give it attribute trainable = 0",
            g.value(v).name, i, opName(op.kind)));
    }
  }
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<Graph> buildTrainingGraph(const Graph &forward,
                                         const ir::TrainingSpec &spec) {
  if (absl::Status s = checkNoInPlaceWritesOfTrainable(forward); !s.ok())
    return s;
  auto copied = copyForward(forward, forward.name() + "_train",
                            {.dropDropout = false, .addLossHead = true});
  if (!copied.ok())
    return copied.status();
  Graph &g = copied->graph;
  auto grads = emitBackward(g, g.output("loss"));
  if (!grads.ok())
    return grads.status();
  if (absl::Status s = emitUpdates(g, *grads, spec.optimizer); !s.ok())
    return s;
  if (absl::Status s = ir::verifyGraph(g); !s.ok())
    return absl::InternalError(fmt::format(
        "autodiff built an invalid graph: {}", std::string(s.message())));
  return std::move(copied->graph);
}

} // namespace cnnc::passes
