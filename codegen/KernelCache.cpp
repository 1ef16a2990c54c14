#include "codegen/KernelCache.h"

#include <fmt/format.h>
#include <llvm/Support/xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <link.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace cnnc::codegen {

namespace {

// Entry layout (native byte order; the CPU is part of the key anyway):
//   [0, 8)    magic
//   [8, 12)   u32 format version
//   [12, 16)  u32 object count
//   [16, 24)  u64 key length
//   [24, 32)  u64 payload length (everything after the key)
//   [32, 40)  u64 xxh3-64 of everything after the header
//   key, then u64 length per object, then the objects back to back.
constexpr char kMagic[8] = {'c', 'n', 'n', 'c', 'k', 'c', '\r', '\n'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 40;
// Refuse absurd entries before allocating for them.
constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 30;

template <typename T> void put(std::string &out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T> T get(const std::string &in, size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof(T));
  return v;
}

uint64_t checksum(const char *data, size_t size) {
  return llvm::xxh3_64bits(
      llvm::ArrayRef(reinterpret_cast<const uint8_t *>(data), size));
}

bool readWholeFile(const std::string &path, std::string &out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<uint64_t>(st.st_size) <= kMaxEntryBytes;
  if (ok) {
    out.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += static_cast<size_t>(n);
    }
    ok = done == out.size();
  }
  ::close(fd);
  return ok;
}

bool writeAll(int fd, const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// A name no other thread or process uses at the same time.
std::string uniqueTempName(const std::string &dir) {
  static std::atomic<uint64_t> counter{0};
  uint64_t now = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  return fmt::format("{}/.tmp.{}.{:x}.{}.{:x}", dir, ::getpid(),
                     std::hash<std::thread::id>()(std::this_thread::get_id()),
                     counter++, now);
}

// The GNU build ID of the loaded object that contains `address`.
struct BuildIdSearch {
  uintptr_t address;
  std::string id;
};

int findBuildId(struct dl_phdr_info *info, size_t, void *data) {
  auto *search = static_cast<BuildIdSearch *>(data);
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && search->address >= start &&
        search->address < start + ph.p_memsz)
      contains = true;
  }
  if (!contains)
    return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE)
      continue;
    const char *p =
        reinterpret_cast<const char *>(info->dlpi_addr + ph.p_vaddr);
    const char *end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof note);
      const char *name = p + sizeof note;
      const char *desc = name + ((note.n_namesz + 3) & ~3u);
      if (desc + note.n_descsz > end)
        break;
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        for (uint32_t b = 0; b < note.n_descsz; ++b)
          search->id += fmt::format("{:02x}", static_cast<uint8_t>(desc[b]));
        return 1;
      }
      p = desc + ((note.n_descsz + 3) & ~3u);
    }
  }
  return 1; // found the object, but it has no build ID
}

std::string computeBuildId() {
  BuildIdSearch search{reinterpret_cast<uintptr_t>(&computeBuildId), {}};
  dl_iterate_phdr(findBuildId, &search);
  if (!search.id.empty())
    return search.id;
  // No build ID: the file that holds this code, by path, size and mtime.
  Dl_info info;
  struct stat st;
  if (dladdr(reinterpret_cast<void *>(&computeBuildId), &info) &&
      info.dli_fname && ::stat(info.dli_fname, &st) == 0)
    return fmt::format("{}:{}:{}.{}", info.dli_fname, st.st_size,
                       st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  return "unknown";
}

} // namespace

const std::string &codegenBuildId() {
  static const std::string id = [] {
    std::string raw = computeBuildId();
    llvm::XXH128_hash_t h = llvm::xxh3_128bits(llvm::ArrayRef(
        reinterpret_cast<const uint8_t *>(raw.data()), raw.size()));
    return fmt::format("{:016x}{:016x}", h.high64, h.low64);
  }();
  return id;
}

std::string defaultKernelCacheDir() {
  auto env = [](const char *name) -> std::string {
    const char *v = std::getenv(name);
    return v ? v : "";
  };
  std::string off = env("CNNC_NO_CACHE");
  if (!off.empty() && off != "0")
    return "";
  if (std::string dir = env("CNNC_CACHE_DIR"); !dir.empty())
    return dir;
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty())
    return xdg + "/cnnc";
  if (std::string home = env("HOME"); !home.empty())
    return home + "/.cache/cnnc";
  return "";
}

std::string KernelCache::entryPath(std::string_view key) const {
  llvm::XXH128_hash_t h = llvm::xxh3_128bits(llvm::ArrayRef(
      reinterpret_cast<const uint8_t *>(key.data()), key.size()));
  return fmt::format("{}/{:016x}{:016x}.cnnck", dir_, h.high64, h.low64);
}

std::optional<std::vector<std::string>>
KernelCache::load(std::string_view key) const {
  if (!enabled())
    return std::nullopt;
  std::string data;
  if (!readWholeFile(entryPath(key), data) || data.size() < kHeaderSize)
    return std::nullopt;
  if (std::memcmp(data.data(), kMagic, sizeof kMagic) != 0 ||
      get<uint32_t>(data, 8) != kFormatVersion)
    return std::nullopt;
  uint32_t count = get<uint32_t>(data, 12);
  uint64_t keyLength = get<uint64_t>(data, 16);
  uint64_t payload = get<uint64_t>(data, 24);
  // Lengths first (a truncated file fails here), then the checksum.
  if (keyLength != key.size() || payload > kMaxEntryBytes ||
      kHeaderSize + keyLength + payload != data.size() ||
      uint64_t{count} * 8 > payload)
    return std::nullopt;
  if (checksum(data.data() + kHeaderSize, data.size() - kHeaderSize) !=
      get<uint64_t>(data, 32))
    return std::nullopt;
  if (std::string_view(data.data() + kHeaderSize, keyLength) != key)
    return std::nullopt; // another key with the same hash
  size_t at = kHeaderSize + keyLength;
  size_t objectsAt = at + size_t{count} * 8;
  std::vector<std::string> objects;
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t n = get<uint64_t>(data, at + size_t{i} * 8);
    if (n > data.size() - objectsAt - total)
      return std::nullopt;
    objects.emplace_back(data.data() + objectsAt + total, n);
    total += n;
  }
  if (objectsAt + total != data.size())
    return std::nullopt;
  // Mark the entry used, for pruning (best effort).
  ::utimensat(AT_FDCWD, entryPath(key).c_str(), nullptr, 0);
  return objects;
}

bool KernelCache::store(std::string_view key,
                        const std::vector<std::string_view> &objects) const {
  if (!enabled())
    return false;
  std::string body(key);
  for (std::string_view o : objects)
    put<uint64_t>(body, o.size());
  for (std::string_view o : objects)
    body.append(o);
  std::string data(kMagic, sizeof kMagic);
  put<uint32_t>(data, kFormatVersion);
  put<uint32_t>(data, static_cast<uint32_t>(objects.size()));
  put<uint64_t>(data, key.size());
  put<uint64_t>(data, body.size() - key.size());
  put<uint64_t>(data, checksum(body.data(), body.size()));
  data.append(body);

  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  std::string tmp = uniqueTempName(dir_);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  // No fsync: an entry a crash leaves short or zeroed fails its length or
  // checksum check and is recompiled, which is all a cache owes.
  bool ok = writeAll(fd, data);
  ok = ::close(fd) == 0 && ok;
  ok = ok && ::rename(tmp.c_str(), entryPath(key).c_str()) == 0;
  if (!ok)
    ::unlink(tmp.c_str());
  else
    prune();
  return ok;
}

void KernelCache::prune() const {
  namespace fs = std::filesystem;
  struct Entry {
    fs::path path;
    uint64_t bytes;
    fs::file_time_type used;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path &p = it->path();
    std::string name = p.filename().string();
    std::error_code e;
    auto used = fs::last_write_time(p, e);
    if (e)
      continue;
    if (name.rfind(".tmp.", 0) == 0) {
      if (now - used > std::chrono::hours(1))
        fs::remove(p, e);
    } else if (p.extension() == ".cnnck") {
      uint64_t bytes = fs::file_size(p, e);
      if (!e) {
        entries.push_back({p, bytes, used});
        total += bytes;
      }
    }
  }
  if (total <= maxBytes_)
    return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry &a, const Entry &b) { return a.used < b.used; });
  for (const Entry &e : entries) {
    if (total <= maxBytes_)
      break;
    std::error_code rm;
    if (fs::remove(e.path, rm))
      total -= e.bytes;
  }
}

} // namespace cnnc::codegen
