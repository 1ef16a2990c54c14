// A persistent on-disk cache of compiled kernels: the object files of a
// graph's kernels, keyed by everything their code depends on (the graph's
// text, the host CPU and its features, the build of cnnc, LLVM's version).
// A hit skips IR generation, optimization and code generation.
//
// One file per key, <dir>/<xxh3-128 of the key>.cnnck, holding a header
// (magic, format version, lengths, checksum), the full key (compared on
// load, so a hash collision is a miss) and the objects. Writes go to a
// unique temporary file that is renamed into place, so concurrent writers
// and readers only ever see whole entries; a truncated or corrupt entry is
// detected by its lengths and checksum, ignored, and rewritten by the next
// compile. A cache that cannot be read or written just does not cache.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::codegen {

// The cache directory: $CNNC_CACHE_DIR, else $XDG_CACHE_HOME/cnnc, else
// $HOME/.cache/cnnc; empty (no caching) when $CNNC_NO_CACHE is set to
// anything but "" or "0", or when none of the three is set.
std::string defaultKernelCacheDir();

// A 32-hex-digit digest that identifies this build of cnnc's code generator:
// the GNU build ID of the binary or shared library that holds it (else its
// path, size and modification time). Part of every key, so that a rebuilt
// compiler never loads kernels an older one generated.
const std::string &codegenBuildId();

class KernelCache {
public:
  // Entries are evicted, least recently used first, once the directory
  // holds more than this.
  static constexpr uint64_t kDefaultMaxBytes = uint64_t{256} << 20;

  // An empty dir disables the cache.
  explicit KernelCache(std::string dir, uint64_t maxBytes = kDefaultMaxBytes)
      : dir_(std::move(dir)), maxBytes_(maxBytes) {}

  bool enabled() const { return !dir_.empty(); }
  const std::string &dir() const { return dir_; }
  // Where the entry of `key` lives.
  std::string entryPath(std::string_view key) const;

  // The objects stored under exactly `key`; nullopt when there is no entry
  // or it is unreadable, truncated, corrupt or for another key.
  std::optional<std::vector<std::string>> load(std::string_view key) const;
  // Stores `objects` under `key` atomically (creating the directory), then
  // prunes; false when it could not (the cache is then simply not used).
  bool store(std::string_view key,
             const std::vector<std::string_view> &objects) const;

  // Removes the least recently used entries (a hit marks an entry used)
  // until at most maxBytes remain, and temporary files that crashed
  // writers left behind over an hour ago.
  void prune() const;

private:
  std::string dir_;
  uint64_t maxBytes_;
};

} // namespace cnnc::codegen
