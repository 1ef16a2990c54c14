#include "runtime/Executor.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace cnnc::runtime {

namespace {
constexpr size_t kAlign = 64;

void *alignedZeroed(size_t bytes) {
  size_t rounded = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  void *p = std::aligned_alloc(kAlign, rounded);
  if (p)
    std::memset(p, 0, rounded);
  return p;
}
} // namespace

float *ParamStore::getOrCreate(const std::string &name,
                               const ir::TensorType &type) {
  auto it = entries_.find(name);
  if (it != entries_.end())
    return it->second.data.get();
  Entry e;
  e.type = type;
  e.data = {static_cast<float *>(alignedZeroed(type.byteSize())), std::free};
  float *p = e.data.get();
  entries_.emplace(name, std::move(e));
  return p;
}

float *ParamStore::find(const std::string &name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.data.get();
}

const ir::TensorType *ParamStore::typeOf(const std::string &name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second.type;
}

std::vector<std::string> ParamStore::names() const {
  std::vector<std::string> out;
  for (const auto &[name, e] : entries_)
    out.push_back(name);
  return out;
}

Executor::~Executor() = default;

absl::StatusOr<std::unique_ptr<Executor>>
Executor::create(ir::Graph g, ParamStore &store,
                 const codegen::CompileOptions &options) {
  auto compiled = codegen::compileGraph(g, options);
  if (!compiled.ok())
    return compiled.status();
  auto ex = std::unique_ptr<Executor>(new Executor());
  ex->graph_ = std::move(g);
  ex->compiled_ = *std::move(compiled);
  ex->plan_ = passes::planMemory(ex->graph_, 64, /*paramsInArena=*/false);
  ex->arena_ = {static_cast<char *>(alignedZeroed(ex->plan_.arenaBytes)),
                std::free};
  if (!ex->arena_)
    return absl::ResourceExhaustedError(
        fmt::format("cannot allocate a {} byte arena", ex->plan_.arenaBytes));

  const ir::Graph &graph = ex->graph_;
  ex->pointers_.assign(graph.values().size(), nullptr);
  for (size_t v = 0; v < graph.values().size(); ++v) {
    const ir::Value &val = graph.values()[v];
    if (val.kind == ir::ValueKind::Param || val.kind == ir::ValueKind::State) {
      const ir::TensorType *existing = store.typeOf(val.name);
      if (existing && !(*existing == val.type))
        return absl::InvalidArgumentError(fmt::format(
            "{} '{}' is {} here but {} in another graph of the model",
            ir::valueKindName(val.kind), val.name, val.type.str(),
            existing->str()));
      ex->pointers_[v] = store.getOrCreate(val.name, val.type);
    } else if (ex->plan_.offsets[v] >= 0) {
      ex->pointers_[v] = ex->arena_.get() + ex->plan_.offsets[v];
    }
  }
  for (size_t i = 0; i < graph.ops().size(); ++i) {
    codegen::KernelFn fn = ex->compiled_->kernel(i);
    if (!fn)
      continue; // aliases (reshape) share their operand's storage
    Step step{fn, {}, i};
    const ir::Op &op = graph.ops()[i];
    for (ir::ValueId o : op.operands)
      step.args.push_back(ex->pointers_[o]);
    for (ir::ValueId r : op.results)
      step.args.push_back(ex->pointers_[r]);
    ex->steps_.push_back(std::move(step));
  }
  ex->profile_.assign(graph.ops().size(), {});
  return ex;
}

void *Executor::data(const std::string &name) const {
  ir::ValueId v = graph_.findValue(name);
  return v < 0 ? nullptr : pointers_[v];
}

void Executor::run(ThreadPool &pool) {
  int n = pool.size();
  if (n == 1 && !profiling_) {
    for (const Step &s : steps_)
      s.fn(s.args.data(), 0, 1);
    return;
  }
  SpinBarrier barrier(n);
  pool.run([&](int tid) {
    using Clock = std::chrono::steady_clock;
    for (const Step &s : steps_) {
      Clock::time_point start;
      if (profiling_ && tid == 0)
        start = Clock::now();
      s.fn(s.args.data(), tid, n);
      barrier.wait();
      if (profiling_ && tid == 0) {
        OpProfile &p = profile_[s.opIndex];
        p.seconds +=
            std::chrono::duration<double>(Clock::now() - start).count();
        ++p.calls;
      }
    }
  });
}

} // namespace cnnc::runtime
