#include "bench/FmaPeak.h"

#include <fmt/format.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/TargetSelect.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace cnnc::bench {

namespace {

using PeakFn = float (*)(int64_t iters, float a);
constexpr int kChains = 12; // > FMA latency x pipes (4 x 2) on recent cores

absl::Status llvmError(llvm::Error e, const char *what) {
  std::string msg = what;
  msg.append(": ").append(llvm::toString(std::move(e)));
  return absl::InternalError(msg);
}

int hostVectorBits(const llvm::SubtargetFeatures &features) {
  int bits = 128;
  for (const std::string &f : features.getFeatures()) {
    if (f == "+avx512f")
      bits = std::max(bits, 512);
    else if (f == "+avx")
      bits = std::max(bits, 256);
  }
  return bits;
}

// float fma_peak(i64 iters, float a): kChains independent accumulators, each
// acc = fmuladd(acc, a, a) once per iteration; returns their sum so that
// nothing is dead.
void buildKernel(llvm::Module &m, int lanes) {
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type *f32 = b.getFloatTy(), *i64 = b.getInt64Ty();
  auto *vecTy = llvm::FixedVectorType::get(f32, lanes);
  auto *fnTy = llvm::FunctionType::get(f32, {i64, f32}, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage,
                                    "fma_peak", m);
  auto *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto *loop = llvm::BasicBlock::Create(ctx, "loop", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  llvm::Value *iters = fn->getArg(0);

  b.SetInsertPoint(entry);
  llvm::Value *va = b.CreateVectorSplat(lanes, fn->getArg(1));
  b.CreateBr(loop);

  b.SetInsertPoint(loop);
  llvm::PHINode *i = b.CreatePHI(i64, 2);
  i->addIncoming(b.getInt64(0), entry);
  std::vector<llvm::PHINode *> accs;
  std::vector<llvm::Value *> next;
  llvm::Function *fma =
      llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::fmuladd, {vecTy});
  for (int c = 0; c < kChains; ++c) {
    llvm::PHINode *acc = b.CreatePHI(vecTy, 2);
    acc->addIncoming(llvm::ConstantVector::getSplat(
                         llvm::ElementCount::getFixed(lanes),
                         llvm::ConstantFP::get(f32, 0.01 * (c + 1))),
                     entry);
    accs.push_back(acc);
  }
  for (int c = 0; c < kChains; ++c)
    next.push_back(b.CreateCall(fma, {accs[c], va, va}));
  for (int c = 0; c < kChains; ++c)
    accs[c]->addIncoming(next[c], loop);
  llvm::Value *iNext = b.CreateAdd(i, b.getInt64(1));
  i->addIncoming(iNext, loop);
  b.CreateCondBr(b.CreateICmpULT(iNext, iters), loop, exit);

  b.SetInsertPoint(exit);
  llvm::Value *sum = next[0];
  for (int c = 1; c < kChains; ++c)
    sum = b.CreateFAdd(sum, next[c]);
  b.CreateRet(b.CreateFAddReduce(llvm::ConstantFP::get(f32, 0.0), sum));
}

// Seconds for `threads` threads each running fn(iters) at once.
double timeRun(PeakFn fn, int64_t iters, int threads) {
  std::atomic<bool> go{false};
  std::atomic<float> sink{0};
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t)
    workers.emplace_back([&] {
      while (!go.load(std::memory_order_acquire)) {
      }
      sink.store(fn(iters, 0.5f), std::memory_order_relaxed);
    });
  auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  sink.store(fn(iters, 0.5f), std::memory_order_relaxed);
  for (std::thread &w : workers)
    w.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// The best of 7 runs: other processes on a shared machine can only slow the
// kernel down, and the peak is what the cores can do.
double bestGflops(PeakFn fn, int lanes, int threads, double seconds) {
  int64_t iters = 1 << 20;
  double t = timeRun(fn, iters, 1);
  iters = std::max<int64_t>(1024, static_cast<int64_t>(iters * seconds / t));
  std::vector<double> rates;
  for (int r = 0; r < 7; ++r) {
    double s = timeRun(fn, iters, threads);
    rates.push_back(2.0 * lanes * kChains * static_cast<double>(iters) *
                    threads / s / 1e9);
  }
  return *std::max_element(rates.begin(), rates.end());
}

} // namespace

absl::StatusOr<FmaPeak> measureFmaPeak(int threads, double seconds) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return llvmError(jtmb.takeError(), "fma peak: cannot detect the host");
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  FmaPeak out;
  out.cpu = jtmb->getCPU();
  out.vectorBits = hostVectorBits(jtmb->getFeatures());
  out.chains = kChains;
  out.threads = threads;
  int lanes = out.vectorBits / 32;

  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto m = std::make_unique<llvm::Module>("fma_peak", *ctx);
  buildKernel(*m, lanes);
  if (llvm::verifyModule(*m, nullptr))
    return absl::InternalError("fma peak: generated LLVM IR is invalid");
  for (llvm::Function &f : *m) {
    f.addFnAttr("target-cpu", jtmb->getCPU());
    f.addFnAttr("target-features", jtmb->getFeatures().getString());
    f.addFnAttr("min-legal-vector-width", std::to_string(out.vectorBits));
    f.addFnAttr("prefer-vector-width", std::to_string(out.vectorBits));
  }
  auto jit =
      llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!jit)
    return llvmError(jit.takeError(), "fma peak: cannot create the JIT");
  if (auto e = (*jit)->addIRModule(
          llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
    return llvmError(std::move(e), "fma peak: cannot add the module");
  auto sym = (*jit)->lookup("fma_peak");
  if (!sym)
    return llvmError(sym.takeError(), "fma peak: cannot compile");
  auto fn = sym->toPtr<PeakFn>();
  out.gflops1 = bestGflops(fn, lanes, 1, seconds);
  out.gflopsN =
      threads > 1 ? bestGflops(fn, lanes, threads, seconds) : out.gflops1;
  return out;
}

} // namespace cnnc::bench
