#include "codegen/Compiler.h"

#include "codegen/KernelBuilder.h"
#include "codegen/KernelCache.h"
#include "codegen/Kernels.h"
#include "codegen/PerfMap.h"
#include "codegen/ShareState.h"
#include "ir/Printer.h"

#include <fmt/format.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <malloc.h>
#include <mutex>
#include <thread>

namespace cnnc::codegen {

struct CompiledGraph::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

CompiledGraph::~CompiledGraph() = default;

std::string kernelName(const ir::Graph &g, size_t opIndex) {
  return fmt::format("k{}_{}", opIndex, ir::opName(g.ops()[opIndex].kind));
}

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

bool hasFeature(const llvm::SubtargetFeatures &features, const char *f) {
  const std::vector<std::string> &all = features.getFeatures();
  return std::find(all.begin(), all.end(), f) != all.end();
}

// What kernels are specialized to besides the graph.
struct Host {
  llvm::orc::JITTargetMachineBuilder jtmb;
  std::string cpu, features;
  int width = 4;
  bool bfloat16Dot = false; // AVX512_BF16
};

// The host, or with `cpu` another x86-64 CPU of that name (--emit only).
absl::StatusOr<Host> detectHost(const std::string &cpu = "") {
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return llvmError(jtmb.takeError(), "cannot detect the host CPU");
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  if (!cpu.empty()) {
    // That CPU's own features, not the host's: ask its subtarget.
    const llvm::Triple &triple = jtmb->getTargetTriple();
    std::string error;
    const llvm::Target *target =
        llvm::TargetRegistry::lookupTarget(triple.str(), error);
    // Checked on the generic subtarget first: creating one for an unknown
    // name prints a warning of its own.
    std::unique_ptr<llvm::MCSubtargetInfo> generic(
        target ? target->createMCSubtargetInfo(triple.str(), "", "") : nullptr);
    if (!generic || !generic->isCPUStringValid(cpu))
      return absl::InvalidArgumentError(fmt::format(
          "unknown target CPU '{}' for {} (llc -mcpu=help lists them)", cpu,
          triple.str()));
    std::unique_ptr<llvm::MCSubtargetInfo> sti(
        target->createMCSubtargetInfo(triple.str(), cpu, ""));
    llvm::SubtargetFeatures features;
    for (const llvm::SubtargetFeatureKV &kv : sti->getAllProcessorFeatures())
      if (sti->getFeatureBits().test(kv.Value))
        features.AddFeature(kv.Key);
    jtmb->setCPU(cpu);
    jtmb->getFeatures() = features;
  }
  Host h{*jtmb, jtmb->getCPU(), jtmb->getFeatures().getString(),
         hostVectorWidth(jtmb->getFeatures()),
         hasFeature(jtmb->getFeatures(), "+avx512bf16")};
  return h;
}

// Declares the kernel of op i in m and emits its body.
void emitKernel(llvm::Module &m, const ir::Graph &g, size_t i,
                const Host &host) {
  llvm::LLVMContext &ctx = m.getContext();
  llvm::Type *ptrTy = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i64Ty = llvm::Type::getInt64Ty(ctx);
  auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx),
                                       {ptrTy, i64Ty, i64Ty}, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage,
                                    kernelName(g, i), &m);
  fn->addFnAttr("target-cpu", host.cpu);
  fn->addFnAttr("target-features", host.features);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  if (host.width == 16) {
    // Zen 4 and recent Intel parts default to 256-bit vectors; the hot
    // loops here are FMA-bound, where 512 bits pay.
    fn->addFnAttr("prefer-vector-width", "512");
    fn->addFnAttr("min-legal-vector-width", "512");
  }
  KernelBuilder kb(m, fn, g, g.ops()[i], host.width, host.bfloat16Dot);
  kernelEmitter(g.ops()[i].kind)(kb);
  kb.b().CreateRetVoid();
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

absl::StatusOr<std::string> emitFile(llvm::Module &m, llvm::TargetMachine &tm,
                                     llvm::CodeGenFileType type) {
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, type))
    return absl::InternalError("the host target cannot emit this file type");
  pm.run(m);
  return std::string(buffer.str());
}

absl::Status verify(const llvm::Module &m) {
  std::string message;
  llvm::raw_string_ostream os(message);
  if (!llvm::verifyModule(m, &os))
    return absl::OkStatus();
  std::string out = "generated LLVM IR is invalid: ";
  return absl::InternalError(out.append(os.str()));
}

std::unique_ptr<llvm::Module> newModule(llvm::LLVMContext &ctx,
                                        const std::string &name,
                                        llvm::TargetMachine &tm) {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  m->setDataLayout(tm.createDataLayout());
  m->setTargetTriple(tm.getTargetTriple().str());
  return m;
}

// The objects of the kernels `ops`, one module and object each, compiled on
// `threads` threads (each with its own context and target machine: LLVM
// contexts and target machines are not shared across threads).
absl::StatusOr<std::vector<std::string>>
compileObjects(const ir::Graph &g, const std::vector<size_t> &ops,
               const Host &host, int threads, CompileStats &stats) {
  std::vector<std::string> objects(ops.size());
  std::vector<absl::Status> errors(ops.size());
  std::atomic<size_t> next{0};
  std::mutex statsMutex;
  absl::Status setupError;
  auto work = [&] {
    llvm::orc::JITTargetMachineBuilder jtmb = host.jtmb; // not const-callable
    auto tm = jtmb.createTargetMachine();
    if (!tm) {
      absl::Status s =
          llvmError(tm.takeError(), "cannot create a target machine");
      std::lock_guard<std::mutex> lock(statsMutex);
      setupError = s;
      return;
    }
    double generate = 0, opt = 0, codegen = 0;
    for (size_t i; (i = next.fetch_add(1)) < ops.size();) {
      auto t0 = Clock::now();
      llvm::LLVMContext ctx;
      auto m = newModule(ctx, kernelName(g, ops[i]), **tm);
      emitKernel(*m, g, ops[i], host);
      if (absl::Status s = verify(*m); !s.ok()) {
        errors[i] = s;
        continue;
      }
      auto t1 = Clock::now();
      optimize(*m, **tm);
      auto t2 = Clock::now();
      auto obj = emitFile(*m, **tm, llvm::CodeGenFileType::ObjectFile);
      if (obj.ok())
        objects[i] = *std::move(obj);
      else
        errors[i] = obj.status();
      generate += std::chrono::duration<double>(t1 - t0).count();
      opt += std::chrono::duration<double>(t2 - t1).count();
      codegen += since(t2);
    }
    std::lock_guard<std::mutex> lock(statsMutex);
    stats.generateSeconds += generate;
    stats.optimizeSeconds += opt;
    stats.codegenSeconds += codegen;
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t)
    workers.emplace_back(work);
  work();
  for (std::thread &w : workers)
    w.join();
  for (const absl::Status &s : errors)
    if (!s.ok())
      return s;
  // A kernel no thread got to (every target machine failed) has no object.
  for (const std::string &o : objects)
    if (o.empty())
      return setupError.ok()
                 ? absl::InternalError("a kernel produced no object code")
                 : setupError;
  return objects;
}

// All kernels in one module, optimized once: for --emit, where the IR and
// assembly read as one listing.
absl::StatusOr<std::string>
compileOneModule(const ir::Graph &g, const std::vector<size_t> &ops,
                 const Host &host, const CompileOptions &options,
                 std::string &llvmIr, std::string &asmText,
                 CompileStats &stats) {
  llvm::orc::JITTargetMachineBuilder jtmb = host.jtmb;
  auto tm = jtmb.createTargetMachine();
  if (!tm)
    return llvmError(tm.takeError(), "cannot create a target machine");
  auto t0 = Clock::now();
  llvm::LLVMContext ctx;
  auto m = newModule(ctx, g.name(), **tm);
  for (size_t i : ops)
    emitKernel(*m, g, i, host);
  if (absl::Status s = verify(*m); !s.ok())
    return s;
  auto t1 = Clock::now();
  optimize(*m, **tm);
  auto t2 = Clock::now();
  if (options.keepLlvmIr) {
    llvm::raw_string_ostream os(llvmIr);
    m->print(os, nullptr);
  }
  if (options.keepAsm) {
    std::unique_ptr<llvm::Module> clone = llvm::CloneModule(*m);
    auto text = emitFile(*clone, **tm, llvm::CodeGenFileType::AssemblyFile);
    asmText = text.ok() ? *text : "; this target cannot emit assembly\n";
  }
  auto obj = emitFile(*m, **tm, llvm::CodeGenFileType::ObjectFile);
  stats.generateSeconds = std::chrono::duration<double>(t1 - t0).count();
  stats.optimizeSeconds = std::chrono::duration<double>(t2 - t1).count();
  stats.codegenSeconds = since(t2);
  return obj;
}

// A JIT holding `objects` (one per kernel of `ops`, or a single one for all)
// with kernels[op] set to each kernel's address.
absl::StatusOr<std::unique_ptr<llvm::orc::LLJIT>>
link(const ir::Graph &g, const std::vector<size_t> &ops, const Host &host,
     std::vector<std::string> objects, std::vector<KernelFn> &kernels) {
  // No platform support: kernels have no static initializers, and setting
  // it up would compile a module of its own.
  auto jit = llvm::orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(host.jtmb)
                 .setPlatformSetUp(llvm::orc::setUpInactivePlatform)
                 .create();
  if (!jit)
    return llvmError(jit.takeError(), "cannot create the JIT");
  // Kernels may call libm (expf, logf), memset and memcpy.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!gen)
    return llvmError(gen.takeError(), "cannot expose process symbols");
  (*jit)->getMainJITDylib().addGenerator(std::move(*gen));
  // malloc and free go through wrappers that keep a share that another
  // thread redoes from being abandoned inside them (ShareState.h).
  llvm::orc::SymbolMap heap;
  auto callable =
      llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable;
  heap[(*jit)->mangleAndIntern("malloc")] = {
      llvm::orc::ExecutorAddr::fromPtr(&cnnc_share_malloc), callable};
  heap[(*jit)->mangleAndIntern("free")] = {
      llvm::orc::ExecutorAddr::fromPtr(&cnnc_share_free), callable};
  if (auto e = (*jit)->getMainJITDylib().define(
          llvm::orc::absoluteSymbols(std::move(heap))))
    return llvmError(std::move(e), "cannot define the kernels' heap calls");
  std::unordered_map<std::string, uint64_t> sizes;
  for (size_t i = 0; i < objects.size(); ++i) {
    std::string name =
        objects.size() == ops.size() ? kernelName(g, ops[i]) : g.name();
    if (perfMapEnabled())
      sizes.merge(functionSizes(objects[i]));
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(objects[i], name + ".o");
    std::string().swap(objects[i]); // the JIT has its own copy
    if (auto e = (*jit)->addObjectFile(std::move(buffer)))
      return llvmError(std::move(e), "cannot add the kernels to the JIT");
  }

  // One lookup for all kernels: each lookup is a round trip through the
  // session, and this links every object in one go.
  llvm::orc::SymbolLookupSet names;
  std::vector<llvm::orc::SymbolStringPtr> interned;
  for (size_t i : ops) {
    interned.push_back((*jit)->mangleAndIntern(kernelName(g, i)));
    names.add(interned.back());
  }
  auto symbols = (*jit)->getExecutionSession().lookup(
      llvm::orc::makeJITDylibSearchOrder(&(*jit)->getMainJITDylib()),
      std::move(names));
  if (!symbols)
    return llvmError(symbols.takeError(), "cannot link the kernels");
  kernels.assign(g.ops().size(), nullptr);
  for (size_t k = 0; k < ops.size(); ++k) {
    auto it = symbols->find(interned[k]);
    if (it == symbols->end())
      return absl::InternalError(fmt::format(
          "cannot link the kernels: {} is missing", kernelName(g, ops[k])));
    kernels[ops[k]] = it->second.getAddress().toPtr<KernelFn>();
    if (auto size = sizes.find(kernelName(g, ops[k])); size != sizes.end())
      addToPerfMap(it->second.getAddress().getValue(), size->second,
                   fmt::format("{}:{}", g.name(), kernelName(g, ops[k])));
  }
  return std::move(*jit);
}

int compileThreads(int requested, size_t kernels) {
  int n = requested > 0 ? requested
                        : static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(n, 1, std::max(1, static_cast<int>(kernels)));
}

} // namespace

std::string kernelCacheKey(const ir::Graph &graph, const std::string &cpu,
                           const std::string &features) {
  // The code depends on neither source locations nor the graph's name: a
  // model edited elsewhere, or renamed, still hits.
  ir::Graph g = graph;
  g.setName("kernels");
  for (ir::Op &op : g.ops())
    op.loc = {};
  // Layout "per-kernel": one object per kernel, in op order.
  std::string key = "cnnc kernel cache key 1; per-kernel objects\nbuild ";
  key.append(codegenBuildId())
      .append("\nllvm " LLVM_VERSION_STRING "\ncpu ")
      .append(cpu)
      .append("\nfeatures ")
      .append(features)
      .append("\n")
      .append(ir::printGraph(g));
  return key;
}

absl::StatusOr<bool> targetHasBfloat16Dot(const std::string &cpu) {
  initializeLlvm();
  absl::StatusOr<Host> host = detectHost(cpu);
  if (!host.ok())
    return host.status();
  return host->bfloat16Dot;
}

bool hostHasBfloat16Dot() {
  static const bool has = [] {
    initializeLlvm();
    absl::StatusOr<Host> host = detectHost();
    return host.ok() && host->bfloat16Dot;
  }();
  return has;
}

absl::StatusOr<std::unique_ptr<CompiledGraph>>
compileGraph(const ir::Graph &g, const CompileOptions &options) {
  auto start = Clock::now();
  initializeLlvm();
  bool emitText = options.keepLlvmIr || options.keepAsm;
  if (!options.targetCpu.empty() && !emitText)
    return absl::InvalidArgumentError(
        "a target CPU other than the host's is only for emitting text");
  auto host = detectHost(options.targetCpu);
  if (!host.ok())
    return host.status();

  auto out = std::unique_ptr<CompiledGraph>(new CompiledGraph());
  CompileStats &stats = out->stats_;
  out->cpu_ = host->cpu;
  std::vector<size_t> ops; // the ops that have kernels
  for (size_t i = 0; i < g.ops().size(); ++i)
    if (kernelEmitter(g.ops()[i].kind))
      ops.push_back(i);
  stats.kernels = static_cast<int>(ops.size());

  KernelCache cache(!options.useCache || emitText ? ""
                    : options.cacheDir.empty()    ? defaultKernelCacheDir()
                                                  : options.cacheDir);
  std::string key;
  if (cache.enabled())
    key = kernelCacheKey(g, host->cpu, host->features);
  stats.keySeconds = since(start);

  std::vector<std::string> objects;
  if (emitText) {
    auto obj = compileOneModule(g, ops, *host, options, out->llvmIr_, out->asm_,
                                stats);
    if (!obj.ok())
      return obj.status();
    objects.push_back(*std::move(obj));
  } else if (auto hit = cache.load(key); hit && hit->size() == ops.size()) {
    objects = *std::move(hit);
    stats.cacheHit = true;
  } else {
    stats.threads = compileThreads(options.threads, ops.size());
    auto compiled = compileObjects(g, ops, *host, stats.threads, stats);
    if (!compiled.ok())
      return compiled.status();
    objects = *std::move(compiled);
    if (cache.enabled())
      cache.store(
          key, std::vector<std::string_view>(objects.begin(), objects.end()));
    // LLVM's contexts are gone; hand their heap back to the system rather
    // than carry it through training (it is most of a compile's memory).
    malloc_trim(0);
  }

  auto linkStart = Clock::now();
  for (const std::string &o : objects)
    stats.objectBytes += o.size();
  auto jit = link(g, ops, *host, std::move(objects), out->kernels_);
  if (!jit.ok() && stats.cacheHit) {
    // An entry that passed its checks but does not link (a cache written by
    // a broken build): compile afresh, and replace it.
    stats.cacheHit = false;
    stats.threads = compileThreads(options.threads, ops.size());
    auto compiled = compileObjects(g, ops, *host, stats.threads, stats);
    if (!compiled.ok())
      return compiled.status();
    cache.store(
        key, std::vector<std::string_view>(compiled->begin(), compiled->end()));
    jit = link(g, ops, *host, *std::move(compiled), out->kernels_);
  }
  if (!jit.ok())
    return jit.status();
  out->impl_ = std::make_unique<CompiledGraph::Impl>();
  out->impl_->jit = *std::move(jit);
  stats.linkSeconds = since(linkStart);
  stats.totalSeconds = since(start);
  return out;
}

namespace {

// The memo of compileGraphShared: most recently used first.
struct Memo {
  std::mutex mutex;
  std::list<std::pair<std::string, std::shared_ptr<const CompiledGraph>>>
      entries;
};

Memo &memo() {
  static Memo *m = new Memo(); // never destroyed: kernels may outlive main
  return *m;
}

} // namespace

absl::StatusOr<std::shared_ptr<const CompiledGraph>>
compileGraphShared(const ir::Graph &g, const CompileOptions &options) {
  if (options.keepLlvmIr || options.keepAsm) {
    auto compiled = compileGraph(g, options);
    if (!compiled.ok())
      return compiled.status();
    return std::shared_ptr<const CompiledGraph>(*std::move(compiled));
  }
  initializeLlvm();
  auto host = detectHost();
  if (!host.ok())
    return host.status();
  std::string key = kernelCacheKey(g, host->cpu, host->features);
  Memo &m = memo();
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    for (auto it = m.entries.begin(); it != m.entries.end(); ++it)
      if (it->first == key) {
        m.entries.splice(m.entries.begin(), m.entries, it);
        return m.entries.front().second;
      }
  }
  // Compiled unlocked: another thread may compile another graph meanwhile
  // (or this one: then both link it and the memo keeps one).
  auto compiled = compileGraph(g, options);
  if (!compiled.ok())
    return compiled.status();
  std::shared_ptr<const CompiledGraph> shared = *std::move(compiled);
  std::lock_guard<std::mutex> lock(m.mutex);
  m.entries.emplace_front(std::move(key), shared);
  while (m.entries.size() > kCompiledGraphMemo)
    m.entries.pop_back();
  return shared;
}

} // namespace cnnc::codegen
