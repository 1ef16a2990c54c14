#include "codegen/PerfMap.h"

#include <fmt/format.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Object/SymbolSize.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <unistd.h>

namespace cnnc::codegen {

// Read at every link (once per compiled graph), not once per process, so
// that a program (or a test) can turn it on after its first compile.
bool perfMapEnabled() {
  const char *env = std::getenv("CNNC_PERF_MAP");
  return env && *env && std::string(env) != "0";
}

std::unordered_map<std::string, uint64_t>
functionSizes(std::string_view object) {
  std::unordered_map<std::string, uint64_t> sizes;
  auto file = llvm::object::ObjectFile::createObjectFile(llvm::MemoryBufferRef(
      llvm::StringRef(object.data(), object.size()), "kernel.o"));
  if (!file) {
    llvm::consumeError(file.takeError());
    return sizes;
  }
  for (const auto &[symbol, size] : llvm::object::computeSymbolSizes(**file)) {
    auto type = symbol.getType();
    auto name = symbol.getName();
    if (!type || !name) {
      llvm::consumeError(type.takeError());
      llvm::consumeError(name.takeError());
      continue;
    }
    if (*type == llvm::object::SymbolRef::ST_Function)
      sizes[name->str()] = size;
  }
  return sizes;
}

std::string perfMapPath() { return fmt::format("/tmp/perf-{}.map", getpid()); }

void addToPerfMap(uint64_t start, uint64_t size, const std::string &name) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::string path = perfMapPath();
  if (std::FILE *f = std::fopen(path.c_str(), "a")) {
    fmt::print(f, "{:x} {:x} {}\n", start, size, name);
    std::fclose(f);
  }
}

} // namespace cnnc::codegen
