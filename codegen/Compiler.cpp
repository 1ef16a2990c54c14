#include "codegen/Compiler.h"

#include "codegen/KernelBuilder.h"
#include "codegen/Kernels.h"

#include <fmt/format.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <chrono>
#include <mutex>

namespace cnnc::codegen {

struct CompiledGraph::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

CompiledGraph::~CompiledGraph() = default;

std::string kernelName(const ir::Graph &g, size_t opIndex) {
  return fmt::format("k{}_{}", opIndex, ir::opName(g.ops()[opIndex].kind));
}

namespace {

absl::Status llvmError(llvm::Error e, const char *what) {
  std::string msg = llvm::toString(std::move(e));
  return absl::InternalError(fmt::format("{}: {}", what, msg));
}

void initializeLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

// Floats per vector register of the host: 16 with AVX-512, 8 with AVX.
int hostVectorWidth(const llvm::SubtargetFeatures &features) {
  int width = 4;
  for (const std::string &f : features.getFeatures()) {
    if (f == "+avx512f")
      width = std::max(width, 16);
    else if (f == "+avx" || f == "+avx2")
      width = std::max(width, 8);
  }
  return width;
}

void optimize(llvm::Module &m, llvm::TargetMachine &tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm =
      pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

std::string emitAssembly(const llvm::Module &m, llvm::TargetMachine &tm) {
  std::unique_ptr<llvm::Module> clone = llvm::CloneModule(m);
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr,
                             llvm::CodeGenFileType::AssemblyFile))
    return "; this target cannot emit assembly\n";
  pm.run(*clone);
  return std::string(buffer.str());
}

} // namespace

absl::StatusOr<std::unique_ptr<CompiledGraph>>
compileGraph(const ir::Graph &g, const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  initializeLlvm();

  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return llvmError(jtmb.takeError(), "cannot detect the host CPU");
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto tm = jtmb->createTargetMachine();
  if (!tm)
    return llvmError(tm.takeError(), "cannot create a target machine");
  int width = hostVectorWidth(jtmb->getFeatures());

  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>(g.name(), *ctx);
  module->setDataLayout((*tm)->createDataLayout());
  module->setTargetTriple((*tm)->getTargetTriple().str());

  llvm::Type *ptrTy = llvm::PointerType::getUnqual(*ctx);
  llvm::Type *i64Ty = llvm::Type::getInt64Ty(*ctx);
  auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(*ctx),
                                       {ptrTy, i64Ty, i64Ty}, false);
  std::string features = jtmb->getFeatures().getString();
  std::vector<std::string> names(g.ops().size());
  for (size_t i = 0; i < g.ops().size(); ++i) {
    EmitFn emit = kernelEmitter(g.ops()[i].kind);
    if (!emit)
      continue;
    names[i] = kernelName(g, i);
    auto *fn = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage,
                                      names[i], module.get());
    fn->addFnAttr("target-cpu", jtmb->getCPU());
    fn->addFnAttr("target-features", features);
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    if (width == 16) {
      // Zen 4 and recent Intel parts default to 256-bit vectors; the hot
      // loops here are FMA-bound, where 512 bits pay.
      fn->addFnAttr("prefer-vector-width", "512");
      fn->addFnAttr("min-legal-vector-width", "512");
    }
    KernelBuilder kb(*module, fn, g, g.ops()[i], width);
    emit(kb);
    kb.b().CreateRetVoid();
  }

  std::string verifyMessage;
  llvm::raw_string_ostream verifyStream(verifyMessage);
  if (llvm::verifyModule(*module, &verifyStream))
    return absl::InternalError("generated LLVM IR is invalid: " +
                               verifyStream.str());
  optimize(*module, **tm);

  auto out = std::unique_ptr<CompiledGraph>(new CompiledGraph());
  out->cpu_ = jtmb->getCPU();
  if (options.keepLlvmIr) {
    llvm::raw_string_ostream os(out->llvmIr_);
    module->print(os, nullptr);
  }
  if (options.keepAsm)
    out->asm_ = emitAssembly(*module, **tm);

  auto jit = llvm::orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(std::move(*jtmb))
                 .create();
  if (!jit)
    return llvmError(jit.takeError(), "cannot create the JIT");
  // Kernels may call libm (expf, logf) for scalar tails.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!gen)
    return llvmError(gen.takeError(), "cannot expose process symbols");
  (*jit)->getMainJITDylib().addGenerator(std::move(*gen));
  if (auto e = (*jit)->addIRModule(
          llvm::orc::ThreadSafeModule(std::move(module), std::move(ctx))))
    return llvmError(std::move(e), "cannot add the module to the JIT");

  out->kernels_.assign(g.ops().size(), nullptr);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty())
      continue;
    auto sym = (*jit)->lookup(names[i]);
    if (!sym)
      return llvmError(sym.takeError(), "cannot compile the kernels");
    out->kernels_[i] = sym->toPtr<KernelFn>();
  }
  out->impl_ = std::make_unique<CompiledGraph::Impl>();
  out->impl_->jit = std::move(*jit);
  out->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return out;
}

} // namespace cnnc::codegen
