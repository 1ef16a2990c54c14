#include "passes/Gradients.h"

#include "absl/status/status.h"
#include <fmt/format.h>

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
Attrs windowAttrs(const Attrs &a, std::initializer_list<const char *> names) {
  Attrs out;
  for (const char *n : names)
    if (a.has(n))
      out.set(n, a.all().at(n));
  return out;
}

// C = op(A) op(B) with op(X) = X or X^T. Gradients, derived from
// d op(A) = dC op(B)^T and d op(B) = op(A)^T dC:
//   ta tb | dA                 | dB
//   0  0  | dC B^T             | A^T dC
//   0  1  | dC B               | dC^T A
//   1  0  | B dC^T             | A dC
//   1  1  | B^T dC^T           | dC^T A^T
void matmulVjp(VjpBuilder &b, const Attrs &attrs, ValueId dc) {
  bool ta = attrs.getInt("transpose_a") != 0;
  bool tb = attrs.getInt("transpose_b") != 0;
  ValueId a = b.operand(0), bv = b.operand(1);
  auto mm = [](int64_t transA, int64_t transB) {
    return Attrs{{"transpose_a", transA}, {"transpose_b", transB}};
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
}

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
  ValueId dy = resultGrads[0];
  const Attrs &a = op.attrs;
  switch (op.kind) {
  case OpKind::Conv2D: {
    const ir::TensorType &x = b.type(op.operands[0]);
    const ir::TensorType &w = b.type(op.operands[1]);
    if (b.wants(0)) {
      Attrs attrs = windowAttrs(a, {"strides", "padding"});
      attrs.set("input_shape", x.shape);
      b.emit(0, OpKind::Conv2DBackwardData, {dy, op.operands[1]}, attrs);
    }
    if (b.wants(1)) {
      Attrs attrs = windowAttrs(a, {"strides", "padding"});
      attrs.set("kernel_size", std::vector<int64_t>{w.shape[0], w.shape[1]});
      b.emit(1, OpKind::Conv2DBackwardFilter, {op.operands[0], dy}, attrs);
    }
    break;
  }
  case OpKind::BiasAdd:
    if (b.wants(0))
      b.passThrough(0, dy);
    if (b.wants(1))
      b.emit(1, OpKind::BiasGrad, {dy});
    break;
  case OpKind::MaxPool2D:
    if (b.wants(0))
      b.emit(0, OpKind::MaxPool2DGrad, {op.operands[0], op.results[0], dy},
             windowAttrs(a, {"pool_size", "strides", "padding"}));
    break;
  case OpKind::AvgPool2D:
    if (b.wants(0)) {
      Attrs attrs = windowAttrs(a, {"pool_size", "strides", "padding"});
      attrs.set("input_shape", b.type(op.operands[0]).shape);
      b.emit(0, OpKind::AvgPool2DGrad, {dy}, attrs);
    }
    break;
  case OpKind::MatMul:
    matmulVjp(b, a, dy);
    break;
  case OpKind::Reshape:
    if (b.wants(0))
      b.emit(0, OpKind::Reshape, {dy},
             {{"shape", b.type(op.operands[0]).shape}});
    break;
  case OpKind::Activation:
    // Written in terms of the output: relu' = y > 0, sigmoid' = y(1-y),
    // tanh' = 1-y^2, so the input need not stay alive.
    if (b.wants(0))
      b.emit(0, OpKind::ActivationGrad, {op.results[0], dy},
             {{"kind", a.getString("kind")}});
    break;
  case OpKind::Dropout:
    // y = x * mask; the mask already holds the 1/(1-rate) scale.
    if (dy != kNoGrad && b.wants(0))
      b.emit(0, OpKind::Mul, {dy, op.results[1]});
    break;
  case OpKind::Mul:
    if (b.wants(0))
      b.emit(0, OpKind::Mul, {dy, op.operands[1]});
    if (b.wants(1))
      b.emit(1, OpKind::Mul, {dy, op.operands[0]});
    break;
  case OpKind::Add:
    for (size_t i = 0; i < 2; ++i)
      if (b.wants(i))
        b.passThrough(i, dy);
    break;
  case OpKind::SoftmaxCrossEntropy:
    // Only the loss itself carries a gradient (the seed); the probs result
    // is not differentiated through.
    if (resultGrads[0] != kLossSeed || resultGrads[1] != kNoGrad)
      return notDifferentiable(op, "it is only supported as the loss");
    if (b.wants(0))
      b.emit(0, OpKind::SoftmaxCrossEntropyGrad,
             {op.results[1], op.operands[1]});
    break;
  case OpKind::Softmax:
    return notDifferentiable(
        op, "only a final softmax is supported (it becomes part of the loss)");
  case OpKind::Conv2DBackwardData:
  case OpKind::Conv2DBackwardFilter:
  case OpKind::BiasGrad:
  case OpKind::MaxPool2DGrad:
  case OpKind::AvgPool2DGrad:
  case OpKind::ActivationGrad:
  case OpKind::SoftmaxCrossEntropyGrad:
    return notDifferentiable(op, "second derivatives are not supported");
  case OpKind::CountCorrect:
    return notDifferentiable(op, "it is a metric (piecewise constant)");
  case OpKind::SgdUpdate:
  case OpKind::AdamUpdate:
  case OpKind::RmspropUpdate:
    return notDifferentiable(op, "it is an optimizer update");
  }
  return b.finish();
}

} // namespace cnnc::passes
