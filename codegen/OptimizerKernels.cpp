// Optimizer update kernels with Keras 3 semantics. They write the parameter
// (operand 0) and the optimizer state in place, partitioned over elements.
// Each update is written as the same sequence of f32 operations Keras 3
// performs (keras/src/optimizers/{sgd,adam,rmsprop}.py), without fusing
// multiplies and adds; hyperparameters are rounded to f32 as Keras casts
// them. The one deliberate difference: Adam's bias correction is computed in
// f64 (Keras: f32 powers), then rounded to f32.
#include "codegen/Kernels.h"

namespace cnnc::codegen {

namespace {

using llvm::Value;

// body(i, w) over this thread's share of the parameter's elements.
void forEachElement(KernelBuilder &kb,
                    const std::function<void(Value *, int)> &body) {
  auto [begin, end] = kb.partition(kb.operandType(0).numElements());
  kb.vectorLoop(begin, end, body);
}

float attrF32(KernelBuilder &kb, ir::AttrName name, double fallback) {
  return static_cast<float>(kb.attrs().getFloat(name, fallback));
}

// The learning rate, operand 2 of every update: a scalar the runtime sets
// before each step.
Value *learningRate(KernelBuilder &kb) {
  return kb.load(kb.operand(2), kb.i64(0), 1);
}

} // namespace

// Keras SGD (lr: the learning-rate operand): without velocity p -= g * lr. With
// velocity v = v * momentum - g * lr, then p += v, or with nesterov p += v *
// momentum - g * lr.
void emitSgdUpdate(KernelBuilder &kb) {
  auto &b = kb.b();
  Value *lr = learningRate(kb);
  float momentum = attrF32(kb, ir::AttrName::Momentum, 0.0);
  bool nesterov = kb.attrs().getInt(ir::AttrName::Nesterov) != 0;
  bool hasVelocity = kb.op().operands.size() == 4;
  forEachElement(kb, [&](Value *i, int w) {
    Value *p = kb.load(kb.operand(0), i, w);
    Value *g = kb.load(kb.operand(1), i, w);
    Value *step = b.CreateFMul(g, kb.splat(w, lr));
    if (!hasVelocity) {
      kb.store(kb.operand(0), i, b.CreateFSub(p, step));
      return;
    }
    Value *v = kb.load(kb.operand(3), i, w);
    v = b.CreateFSub(b.CreateFMul(v, kb.splat(w, momentum)), step);
    kb.store(kb.operand(3), i, v);
    Value *delta =
        nesterov ? b.CreateFSub(b.CreateFMul(v, kb.splat(w, momentum)), step)
                 : v;
    kb.store(kb.operand(0), i, b.CreateFAdd(p, delta));
  });
}

// Keras Adam, t = the 1-based step operand, lr the f32 learning rate:
//   alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)  (once, in f64)
//   m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
//   p -= m * alpha / (sqrt(v) + epsilon)
// (Keras's m += (g - m)(1 - b1) is b1 m + (1 - b1) g rounded its way.)
void emitAdamUpdate(KernelBuilder &kb) {
  auto &b = kb.b();
  double beta1 = kb.attrs().getFloat(ir::AttrName::Beta1, 0.9);
  double beta2 = kb.attrs().getFloat(ir::AttrName::Beta2, 0.999);
  float epsilon = attrF32(kb, ir::AttrName::Epsilon, 1e-7);
  llvm::Type *f64 = b.getDoubleTy();
  auto c64 = [&](double v) { return llvm::ConstantFP::get(f64, v); };
  Value *t = b.CreateSIToFP(kb.loadI32(kb.operand(5), kb.i64(0)), f64);
  Value *lr = b.CreateFPExt(learningRate(kb), f64);
  auto power = [&](double base) {
    return b.CreateIntrinsic(llvm::Intrinsic::pow, {f64}, {c64(base), t});
  };
  Value *alpha = b.CreateFDiv(
      b.CreateFMul(lr, kb.unary(llvm::Intrinsic::sqrt,
                                b.CreateFSub(c64(1), power(beta2)))),
      b.CreateFSub(c64(1), power(beta1)));
  Value *alpha32 = b.CreateFPTrunc(alpha, b.getFloatTy());
  auto oneMinusB1 = static_cast<float>(1 - beta1);
  auto oneMinusB2 = static_cast<float>(1 - beta2);
  forEachElement(kb, [&](Value *i, int w) {
    Value *p = kb.load(kb.operand(0), i, w);
    Value *g = kb.load(kb.operand(1), i, w);
    Value *m = kb.load(kb.operand(3), i, w);
    Value *v = kb.load(kb.operand(4), i, w);
    m = b.CreateFAdd(m,
                     b.CreateFMul(b.CreateFSub(g, m), kb.splat(w, oneMinusB1)));
    v = b.CreateFAdd(v, b.CreateFMul(b.CreateFSub(b.CreateFMul(g, g), v),
                                     kb.splat(w, oneMinusB2)));
    Value *denom =
        b.CreateFAdd(kb.unary(llvm::Intrinsic::sqrt, v), kb.splat(w, epsilon));
    Value *update = b.CreateFDiv(b.CreateFMul(m, kb.splat(w, alpha32)), denom);
    kb.store(kb.operand(3), i, m);
    kb.store(kb.operand(4), i, v);
    kb.store(kb.operand(0), i, b.CreateFSub(p, update));
  });
}

// Keras 3 RMSprop (no momentum, not centered): epsilon goes inside the root,
//   ms = rho * ms + (1 - rho) * g^2;  p -= lr * g / sqrt(ms + epsilon)
void emitRmspropUpdate(KernelBuilder &kb) {
  auto &b = kb.b();
  double rho = kb.attrs().getFloat(ir::AttrName::Rho, 0.9);
  Value *lr = learningRate(kb);
  float epsilon = attrF32(kb, ir::AttrName::Epsilon, 1e-7);
  auto rho32 = static_cast<float>(rho);
  auto oneMinusRho = static_cast<float>(1 - rho);
  forEachElement(kb, [&](Value *i, int w) {
    Value *p = kb.load(kb.operand(0), i, w);
    Value *g = kb.load(kb.operand(1), i, w);
    Value *ms = kb.load(kb.operand(3), i, w);
    ms = b.CreateFAdd(
        b.CreateFMul(kb.splat(w, rho32), ms),
        b.CreateFMul(kb.splat(w, oneMinusRho), b.CreateFMul(g, g)));
    Value *increment =
        b.CreateFDiv(b.CreateFMul(kb.splat(w, lr), g),
                     kb.unary(llvm::Intrinsic::sqrt,
                              b.CreateFAdd(ms, kb.splat(w, epsilon))));
    kb.store(kb.operand(3), i, ms);
    kb.store(kb.operand(0), i, b.CreateFSub(p, increment));
  });
}

} // namespace cnnc::codegen
