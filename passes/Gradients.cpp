#include "passes/Gradients.h"

#include "ir/Activations.h"

#include "absl/status/status.h"
#include <fmt/format.h>

#include <iterator>

namespace cnnc::passes {

using ir::Attrs;
using ir::Graph;
using ir::Op;
using ir::OpKind;
using ir::ValueId;

namespace {

// Emits the ops of one VJP; errors stay in the builder until the end so that
// each rule reads as a list of ops.
class VjpBuilder {
public:
  VjpBuilder(Graph &g, const Op &op, const std::vector<bool> &wanted)
      : g_(g), op_(op), wanted_(wanted), grads_(op.operands.size(), kNoGrad) {}

  bool wants(size_t operand) const { return wanted_[operand]; }
  ValueId operand(size_t i) const { return op_.operands[i]; }
  ValueId result(size_t i) const { return op_.results[i]; }
  const ir::TensorType &type(ValueId v) const { return g_.type(v); }

  // Emits `kind(operands) {attrs}` as the gradient of operand `i`.
  void emit(size_t i, OpKind kind, std::vector<ValueId> operands,
            Attrs attrs = {}) {
    if (!status_.ok())
      return;
    auto r = g_.create1(kind, std::move(operands), std::move(attrs), op_.loc,
                        g_.value(op_.operands[i]).name + ".grad");
    if (!r.ok()) {
      status_ = r.status();
      return;
    }
    grads_[i] = *r;
  }
  // Operand `i`'s gradient is `v` itself.
  void passThrough(size_t i, ValueId v) { grads_[i] = v; }

  // Emits one op whose results are the gradients of several operands:
  // result r is the gradient of operand gradientOf[r], or, for -1, of no
  // operand (named "<first forward result>.<unusedName[r]>").
  void emitMulti(OpKind kind, std::vector<ValueId> operands, Attrs attrs,
                 const std::vector<int> &gradientOf,
                 const std::vector<std::string> &unusedName) {
    if (!status_.ok())
      return;
    std::vector<std::string> names;
    for (size_t r = 0; r < gradientOf.size(); ++r)
      names.push_back(gradientOf[r] >= 0
                          ? g_.value(op_.operands[gradientOf[r]]).name + ".grad"
                          : g_.value(op_.results[0]).name + "." +
                                unusedName[r]);
    auto rs = g_.create(kind, std::move(operands), std::move(attrs), op_.loc,
                        std::move(names));
    if (!rs.ok()) {
      status_ = rs.status();
      return;
    }
    for (size_t r = 0; r < gradientOf.size() && r < rs->size(); ++r)
      if (gradientOf[r] >= 0 && wants(gradientOf[r]))
        grads_[gradientOf[r]] = (*rs)[r];
  }

  absl::StatusOr<std::vector<ValueId>> finish() {
    if (!status_.ok())
      return status_;
    return grads_;
  }

private:
  Graph &g_;
  const Op &op_;
  const std::vector<bool> &wanted_;
  std::vector<ValueId> grads_;
  absl::Status status_;
};

absl::Status notDifferentiable(const Op &op, const char *why) {
  return absl::UnimplementedError(
      fmt::format("{} has no gradient: {}", opName(op.kind), why));
}

// The window attributes shared by a conv/pool op and its backward ops.
Attrs windowAttrs(const Attrs &a, std::initializer_list<ir::AttrName> names) {
  Attrs out;
  for (ir::AttrName n : names)
    if (a.has(n))
      out.set(n, a.all().at(n));
  return out;
}

using Grads = std::vector<ValueId>;

absl::Status conv2dVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (op.attrs.has(ir::AttrName::Dilations))
    return notDifferentiable(op, "its gradients take no dilations");
  ValueId dy = dys[0];
  const ir::TensorType &x = b.type(op.operands[0]);
  const ir::TensorType &w = b.type(op.operands[1]);
  if (b.wants(0)) {
    Attrs attrs =
        windowAttrs(op.attrs, {ir::AttrName::Strides, ir::AttrName::Padding});
    attrs.set(ir::AttrName::InputShape, x.shape);
    b.emit(0, OpKind::Conv2DBackwardData, {dy, op.operands[1]}, attrs);
  }
  if (b.wants(1)) {
    Attrs attrs =
        windowAttrs(op.attrs, {ir::AttrName::Strides, ir::AttrName::Padding});
    attrs.set(ir::AttrName::KernelSize,
              std::vector<int64_t>{w.shape[0], w.shape[1]});
    b.emit(1, OpKind::Conv2DBackwardFilter, {op.operands[0], dy}, attrs);
  }
  return absl::OkStatus();
}

absl::Status biasAddVjp(VjpBuilder &b, const Op &, const Grads &dys) {
  if (b.wants(0))
    b.passThrough(0, dys[0]);
  if (b.wants(1))
    b.emit(1, OpKind::BiasGrad, {dys[0]});
  return absl::OkStatus();
}

absl::Status maxPool2DVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (b.wants(0))
    b.emit(0, OpKind::MaxPool2DGrad, {op.operands[0], op.results[0], dys[0]},
           windowAttrs(op.attrs, {ir::AttrName::PoolSize, ir::AttrName::Strides,
                                  ir::AttrName::Padding}));
  return absl::OkStatus();
}

absl::Status avgPool2DVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (b.wants(0)) {
    Attrs attrs =
        windowAttrs(op.attrs, {ir::AttrName::PoolSize, ir::AttrName::Strides,
                               ir::AttrName::Padding});
    attrs.set(ir::AttrName::InputShape, b.type(op.operands[0]).shape);
    b.emit(0, OpKind::AvgPool2DGrad, {dys[0]}, attrs);
  }
  return absl::OkStatus();
}

// C = op(A) op(B) with op(X) = X or X^T. Gradients, derived from
// d op(A) = dC op(B)^T and d op(B) = op(A)^T dC:
//   ta tb | dA                 | dB
//   0  0  | dC B^T             | A^T dC
//   0  1  | dC B               | dC^T A
//   1  0  | B dC^T             | A dC
//   1  1  | B^T dC^T           | dC^T A^T
absl::Status matmulVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  // The k-groups pass runs after autodiff; a partial product has no rule.
  if (op.attrs.has(ir::AttrName::KGroups))
    return notDifferentiable(op, "its k_groups partial products are made "
                                 "after autodiff (passes/KGroups.h)");
  ValueId dc = dys[0];
  bool ta = op.attrs.getInt(ir::AttrName::TransposeA) != 0;
  bool tb = op.attrs.getInt(ir::AttrName::TransposeB) != 0;
  ValueId a = b.operand(0), bv = b.operand(1);
  auto mm = [](int64_t transA, int64_t transB) {
    return Attrs{{ir::AttrName::TransposeA, transA},
                 {ir::AttrName::TransposeB, transB}};
  };
  if (b.wants(0)) {
    if (!ta)
      b.emit(0, OpKind::MatMul, {dc, bv}, mm(0, tb ? 0 : 1));
    else
      b.emit(0, OpKind::MatMul, {bv, dc}, mm(tb ? 1 : 0, 1));
  }
  if (b.wants(1)) {
    if (!tb)
      b.emit(1, OpKind::MatMul, {a, dc}, mm(ta ? 0 : 1, 0));
    else
      b.emit(1, OpKind::MatMul, {dc, a}, mm(1, ta ? 1 : 0));
  }
  return absl::OkStatus();
}

absl::Status reshapeVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (b.wants(0))
    b.emit(0, OpKind::Reshape, {dys[0]},
           {{ir::AttrName::Shape, b.type(op.operands[0]).shape}});
  return absl::OkStatus();
}

// activation_grad(v, dy) {kind, parameter} reads as v the forward output
// or input, as ir/Activations.def says: relu, sigmoid, tanh, leaky_relu and
// elu are written in terms of the output (relu' = y > 0, sigmoid' = y(1-y),
// ...), so the input need not stay alive; gelu and swish need the input.
absl::Status activationVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  bool fromInput =
      ir::activationInfo(ir::activationKindOf(op.attrs)).gradFrom ==
      ir::ActivationGradFrom::Input;
  if (b.wants(0))
    b.emit(0, OpKind::ActivationGrad,
           {fromInput ? op.operands[0] : op.results[0], dys[0]}, op.attrs);
  return absl::OkStatus();
}

// y = x * mask; the mask already holds the 1/(1-rate) scale.
absl::Status dropoutVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (dys[0] != kNoGrad && b.wants(0))
    b.emit(0, OpKind::Mul, {dys[0], op.results[1]});
  return absl::OkStatus();
}

absl::Status mulVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (b.wants(0))
    b.emit(0, OpKind::Mul, {dys[0], op.operands[1]});
  if (b.wants(1))
    b.emit(1, OpKind::Mul, {dys[0], op.operands[0]});
  return absl::OkStatus();
}

absl::Status addVjp(VjpBuilder &b, const Op &, const Grads &dys) {
  for (size_t i = 0; i < 2; ++i)
    if (b.wants(i))
      b.passThrough(i, dys[0]);
  return absl::OkStatus();
}

// Only the loss itself carries a gradient (the seed); the probs result is
// not differentiated through.
absl::Status softmaxCrossEntropyVjp(VjpBuilder &b, const Op &op,
                                    const Grads &dys) {
  if (dys[0] != kLossSeed || dys[1] != kNoGrad)
    return notDifferentiable(op, "it is only supported as the loss");
  if (b.wants(0))
    b.emit(0, OpKind::SoftmaxCrossEntropyGrad, {op.results[1], op.operands[1]});
  return absl::OkStatus();
}

absl::Status softmaxVjp(VjpBuilder &, const Op &op, const Grads &) {
  return notDifferentiable(
      op, "only a final softmax is supported (it becomes part of the loss)");
}

// ---- Global pooling and batch normalization ----

// Each input cell of a channel gets dy / (H * W).
absl::Status globalAvgPool2DVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (b.wants(0))
    b.emit(0, OpKind::GlobalAvgPool2DGrad, {dys[0]},
           {{ir::AttrName::InputShape, b.type(op.operands[0]).shape}});
  return absl::OkStatus();
}

// batch_norm(x, [gamma], [beta]) -> (y, mean, variance): one fused op gives
// the gradients of x (through the batch statistics too), gamma and beta.
// The statistics themselves only feed the moving averages, which are not
// differentiated.
absl::Status batchNormVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (op.attrs.has(ir::AttrName::Epilogue))
    return notDifferentiable(
        op, "its fused activation is made after the gradients (fusion)");
  if (dys[1] != kNoGrad || dys[2] != kNoGrad)
    return notDifferentiable(
        op, "gradients through its batch mean and variance results are not "
            "supported");
  if (dys[0] == kNoGrad)
    return absl::OkStatus();
  bool scale = op.attrs.getInt(ir::AttrName::Scale, 1) != 0;
  bool center = op.attrs.getInt(ir::AttrName::Center, 1) != 0;
  std::vector<ValueId> operands{op.operands[0], op.results[1], op.results[2],
                                dys[0]};
  if (scale)
    operands.push_back(op.operands[1]);
  Attrs attrs{{ir::AttrName::Epsilon, op.attrs.getFloat(ir::AttrName::Epsilon)},
              {ir::AttrName::Scale, int64_t{scale ? 1 : 0}}};
  int gammaAt = scale ? 1 : -1, betaAt = center ? (scale ? 2 : 1) : -1;
  b.emitMulti(OpKind::BatchNormGrad, std::move(operands), std::move(attrs),
              {0, gammaAt, betaAt}, {"", "dgamma", "dbeta"});
  return absl::OkStatus();
}

// A frozen batch normalization (trainable=false) in a training graph: its
// statistics, gamma and beta are constants, so only dx = dy * gamma /
// sqrt(variance + epsilon) flows on.
absl::Status batchNormInferenceVjp(VjpBuilder &b, const Op &op,
                                   const Grads &dys) {
  for (size_t k = 1; k < op.operands.size(); ++k)
    if (b.wants(k))
      return notDifferentiable(op, "its statistics, gamma and beta are "
                                   "constants (a frozen batch "
                                   "normalization); mark them trainable = 0");
  if (!b.wants(0))
    return absl::OkStatus();
  bool scale = op.attrs.getInt(ir::AttrName::Scale, 1) != 0;
  std::vector<ValueId> operands{dys[0], op.operands[2]};
  if (scale)
    operands.push_back(op.operands[3]);
  b.emit(0, OpKind::BatchNormInferenceGrad, std::move(operands),
         {{ir::AttrName::Epsilon, op.attrs.getFloat(ir::AttrName::Epsilon)},
          {ir::AttrName::Scale, int64_t{scale ? 1 : 0}}});
  return absl::OkStatus();
}

// pad2d's gradient: dy cropped back to the input (pad2d_grad).
absl::Status pad2dVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (b.wants(0))
    b.emit(0, OpKind::Pad2DGrad, {dys[0]}, op.attrs);
  return absl::OkStatus();
}

// The random augmentations stand only before every layer with weights
// (frontend/Lowering.cpp), where nothing needs their gradient.
absl::Status augmentVjp(VjpBuilder &, const Op &op, const Grads &) {
  return notDifferentiable(op, "a random augmentation must come before every "
                               "layer with weights");
}

// d(x * scale + offset)/dx = scale.
absl::Status rescaleVjp(VjpBuilder &b, const Op &op, const Grads &dys) {
  if (b.wants(0))
    b.emit(0, OpKind::Rescale, {dys[0]},
           {{ir::AttrName::Scale, op.attrs.getFloat(ir::AttrName::Scale)},
            {ir::AttrName::Offset, 0.0}});
  return absl::OkStatus();
}

// The markers of ops without a gradient rule (see ir/Ops.def).
absl::Status noVjp(VjpBuilder &, const Op &op, const Grads &) {
  return notDifferentiable(op, "second derivatives are not supported");
}
absl::Status noVjpMetric(VjpBuilder &, const Op &op, const Grads &) {
  return notDifferentiable(op, "it is a metric (piecewise constant)");
}
absl::Status noVjpUpdate(VjpBuilder &, const Op &op, const Grads &) {
  return notDifferentiable(op, "it is an optimizer update");
}

// ---- The table: one VJP rule per op, from ir/Ops.def ----

using VjpFn = absl::Status (*)(VjpBuilder &, const Op &, const Grads &);
constexpr VjpFn kVjpRules[] = {
#define OP(Enum, Name, NumOperands, NumResults, Flags, Shape, Vjp, Cost, Emit) \
  Vjp,
#include "ir/Ops.def"
#undef OP
};
static_assert(std::size(kVjpRules) == ir::kNumOpKinds);

} // namespace

absl::StatusOr<std::vector<ValueId>>
emitVjp(Graph &g, const Op &op, const std::vector<ValueId> &resultGrads,
        const std::vector<bool> &wanted) {
  if (resultGrads.size() != op.results.size() ||
      wanted.size() != op.operands.size())
    return absl::InternalError(
        fmt::format("{}: gradient bookkeeping does not match the op's arity",
                    opName(op.kind)));
  if (op.kind != OpKind::SoftmaxCrossEntropy)
    for (ValueId dy : resultGrads)
      if (dy == kLossSeed)
        return absl::InternalError(
            fmt::format("{} cannot be the loss: only softmax_cross_entropy can",
                        opName(op.kind)));
  VjpBuilder b(g, op, wanted);
  absl::Status s = kVjpRules[static_cast<int>(op.kind)](b, op, resultGrads);
  if (!s.ok())
    return s;
  return b.finish();
}

} // namespace cnnc::passes
