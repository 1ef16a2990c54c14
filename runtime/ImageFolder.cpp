#include "runtime/ImageFolder.h"

#include "codegen/KernelCache.h"
#include "runtime/Image.h"
#include "runtime/MemoryBudget.h"
#include "runtime/Safetensors.h"
#include "runtime/ThreadPool.h"
#include "support/AtomicFile.h"
#include "support/Random.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <sys/mman.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace cnnc::runtime {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxClasses = 256; // labels are u8
constexpr int64_t kMaxFiles = (int64_t{1} << 31) - 1;

// Keras's ALLOWLIST_FORMATS.
constexpr const char *kExtensions[] = {".bmp", ".gif", ".jpeg", ".jpg", ".png"};

std::string extensionList() {
  std::string s;
  for (const char *e : kExtensions)
    s += (s.empty() ? "" : ", ") + std::string(e);
  return s;
}

std::string errnoText(const std::error_code &ec) { return ec.message(); }

// A file found under a class directory: its directory (as Keras sorts
// os.walk's roots), name and stamp.
struct Found {
  std::string root, name;
  FileStamp stamp;
  bool operator<(const Found &o) const {
    return root != o.root ? root < o.root : name < o.name;
  }
};

// One directory level of the walk: POSIX calls rather than
// std::filesystem, so that one fstatat relative to the open directory
// gives each entry's type (links followed) and its stamp for the cache key,
// and the listing of 60,000 files costs one system call per file.
absl::Status walkDirectory(const std::string &dir, std::vector<Found> &found,
                           int64_t &skipped, int depth) {
  // Deeper than any real folder; bounds the recursion.
  constexpr int kMaxDepth = 64;
  if (depth > kMaxDepth)
    return absl::InvalidArgumentError(
        fmt::format("{}: directories nested deeper than {}", dir, kMaxDepth));
  DIR *d = ::opendir(dir.c_str());
  if (!d) {
    int err = errno;
    return absl::InvalidArgumentError(fmt::format(
        "{}: cannot read the directory: {}", dir, std::strerror(err)));
  }
  std::vector<std::string> subdirs;
  int fd = ::dirfd(d);
  errno = 0;
  while (struct dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    struct stat st;
    bool known = ::fstatat(fd, name.c_str(), &st, 0) == 0;
    if (known && S_ISDIR(st.st_mode)) {
      // Links to directories are not followed (Keras's
      // follow_links=False), and are not files either.
      bool link = e->d_type == DT_LNK;
      struct stat lst;
      if (e->d_type == DT_UNKNOWN &&
          ::fstatat(fd, name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0)
        link = S_ISLNK(lst.st_mode);
      if (!link)
        subdirs.push_back(dir + "/" + name);
      continue;
    }
    if (!hasImageExtension(name)) {
      ++skipped;
      continue;
    }
    // A dangling link or a link loop is still a file the user meant;
    // reading it reports why it cannot be.
    FileStamp stamp;
    if (known)
      stamp = {uint64_t(st.st_size), uint64_t(st.st_mtim.tv_sec),
               uint64_t(st.st_mtim.tv_nsec), uint64_t(st.st_ino)};
    found.push_back({dir, std::move(name), stamp});
    if (static_cast<int64_t>(found.size()) > kMaxFiles) {
      ::closedir(d);
      return absl::InvalidArgumentError(
          fmt::format("{}: more than {} image files", dir, kMaxFiles));
    }
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0)
    return absl::InvalidArgumentError(fmt::format(
        "{}: cannot read the directory: {}", dir, std::strerror(err)));
  for (const std::string &sub : subdirs)
    if (absl::Status s = walkDirectory(sub, found, skipped, depth + 1); !s.ok())
      return s;
  return absl::OkStatus();
}

absl::Status walkForImages(const fs::path &dir, std::vector<Found> &found,
                           int64_t &skipped) {
  std::string root = dir.string();
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  return walkDirectory(root, found, skipped, 0);
}

// FNV-1a, finished with SplitMix64's mixer: a stable 64-bit key (std::hash
// and absl::Hash may change between runs).
class KeyHash {
public:
  void add(const void *data, size_t n) {
    auto *p = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < n; ++i)
      h_ = (h_ ^ p[i]) * 0x100000001B3ull;
  }
  void add(const std::string &s) {
    add(s.data(), s.size());
    add(uint64_t{s.size()});
  }
  void add(uint64_t v) { add(&v, sizeof v); }
  uint64_t value() const { return support::mix64(h_); }

private:
  uint64_t h_ = 0xCBF29CE484222325ull;
};

void addSpec(KeyHash &h, const ir::ImageFolderSpec &spec) {
  h.add(uint64_t(spec.height));
  h.add(uint64_t(spec.width));
  h.add(uint64_t(spec.colorMode));
  h.add(uint64_t(spec.interpolation));
  h.add(uint64_t(spec.cropToAspectRatio));
}

// The cache file (docs/formats.md, "Decoded-image cache"): a 56-byte header
// of magic, version, key and sizes, then the pixels.
constexpr char kCacheMagic[8] = {'C', 'N', 'N', 'C', 'I', 'M', 'G', 'C'};
constexpr uint64_t kCacheVersion = 1;
constexpr size_t kCacheHeader = 8 + 6 * 8;

struct CacheHeader {
  uint64_t version, key, count, height, width, channels;
};

std::string encodeHeader(const CacheHeader &h) {
  std::string out(kCacheMagic, 8);
  for (uint64_t v : {h.version, h.key, h.count, h.height, h.width, h.channels})
    for (int i = 0; i < 8; ++i)
      out.push_back(static_cast<char>(v >> (8 * i) & 0xFF));
  return out;
}

bool readAll(int fd, void *buf, size_t n) {
  auto *p = static_cast<char *>(buf);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Reads the cached pixels into `pixels` (already sized) if `path` holds
// exactly the expected header and size; any mismatch is a miss.
bool readCache(const std::string &path, const CacheHeader &want,
               std::vector<uint8_t> &pixels) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  struct stat st;
  std::string header(kCacheHeader, '\0');
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<uint64_t>(st.st_size) == kCacheHeader + pixels.size() &&
            readAll(fd, header.data(), kCacheHeader) &&
            header == encodeHeader(want) &&
            readAll(fd, pixels.data(), pixels.size());
  ::close(fd);
  return ok;
}

// Decodes files[i] into out + i * imageSize on all threads. The error
// reported is the one of the first failing file in order, whatever the
// thread count.
absl::Status decodeAll(const std::vector<std::string> &files,
                       const ir::ImageFolderSpec &spec, ThreadPool &pool,
                       uint8_t *out) {
  int64_t imageSize = spec.height * spec.width * ir::channelsOf(spec.colorMode);
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> firstBad{static_cast<int64_t>(files.size())};
  std::vector<absl::Status> errors(static_cast<size_t>(pool.size()));
  std::vector<int64_t> errorAt(static_cast<size_t>(pool.size()), -1);
  pool.run([&](int tid) {
    constexpr int64_t kChunk = 16;
    while (true) {
      int64_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
      if (begin >= static_cast<int64_t>(files.size()) ||
          begin > firstBad.load(std::memory_order_relaxed))
        return;
      int64_t end = std::min<int64_t>(begin + kChunk, files.size());
      for (int64_t i = begin; i < end; ++i) {
        auto image = readImageFile(files[i], spec.colorMode);
        if (!image.ok()) {
          if (errorAt[tid] < 0) {
            errors[tid] = image.status();
            errorAt[tid] = i;
          }
          int64_t cur = firstBad.load();
          while (i < cur && !firstBad.compare_exchange_weak(cur, i)) {
          }
          return;
        }
        resizeImage(*image, spec.height, spec.width, spec.interpolation,
                    spec.cropToAspectRatio, out + i * imageSize);
      }
    }
  });
  int64_t bad = firstBad.load();
  if (bad == static_cast<int64_t>(files.size()))
    return absl::OkStatus();
  // Every file before `bad` was decoded by someone, or its thread stopped
  // at an earlier error; so the earliest recorded error is file `bad`.
  for (size_t t = 0; t < errors.size(); ++t)
    if (errorAt[t] == bad)
      return errors[t];
  return absl::InternalError("image decoding failed");
}

// Sizes `pixels` to n bytes, asking for transparent huge pages first: tens
// of megabytes in 4 KiB pages cost thousands of page faults, which in a
// virtual machine take longer than reading the cache file.
void allocatePixels(std::vector<uint8_t> &pixels, size_t n) {
  constexpr size_t kHuge = size_t{2} << 20;
  pixels.clear();
  pixels.reserve(n);
  auto begin = reinterpret_cast<uintptr_t>(pixels.data());
  uintptr_t aligned = (begin + kHuge - 1) & ~(kHuge - 1);
  if (n >= 2 * kHuge && aligned < begin + n)
    ::madvise(reinterpret_cast<void *>(aligned),
              (begin + n - aligned) & ~(kHuge - 1), MADV_HUGEPAGE);
  pixels.resize(n);
}

absl::Status checkPixelMemory(int64_t count, const ir::ImageFolderSpec &spec,
                              const std::string &what) {
  int64_t imageSize = spec.height * spec.width * ir::channelsOf(spec.colorMode);
  if (count > 0 && imageSize > INT64_MAX / count)
    return absl::ResourceExhaustedError(
        fmt::format("{}: {} images of {}x{} pixels do not fit in memory", what,
                    count, spec.height, spec.width));
  return checkAllocation(count * imageSize,
                         fmt::format("the decoded images of {}", what));
}

} // namespace

bool hasImageExtension(const std::string &name) {
  std::string lower = name;
  for (char &c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char *e : kExtensions) {
    size_t n = std::strlen(e);
    if (lower.size() >= n && lower.compare(lower.size() - n, n, e) == 0)
      return true;
  }
  return false;
}

absl::StatusOr<ImageFolderListing> listImageFolder(const std::string &directory,
                                                   ThreadPool *pool) {
  std::error_code ec;
  fs::file_status st = fs::status(directory, ec);
  if (ec || !fs::exists(st))
    return absl::NotFoundError(
        fmt::format("{}: no such directory{}", directory,
                    ec && ec != std::errc::no_such_file_or_directory
                        ? " (" + errnoText(ec) + ")"
                        : ""));
  if (!fs::is_directory(st))
    return absl::InvalidArgumentError(
        fmt::format("{}: not a directory", directory));

  ImageFolderListing out;
  fs::directory_iterator it(directory, ec);
  if (ec)
    return absl::InvalidArgumentError(fmt::format(
        "{}: cannot read the directory: {}", directory, errnoText(ec)));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code typeEc;
    if (name.empty() || name[0] == '.' || !it->is_directory(typeEc)) {
      if (!typeEc && !it->is_directory(typeEc) && hasImageExtension(name))
        ++out.skipped; // an image outside any class directory
      continue;
    }
    // Class names go into the weights' JSON metadata.
    if (!isValidUtf8(name))
      return absl::InvalidArgumentError(fmt::format(
          "{}: class directory name is not valid UTF-8", it->path().string()));
    out.classNames.push_back(name);
  }
  if (ec)
    return absl::InvalidArgumentError(fmt::format(
        "{}: cannot read the directory: {}", directory, errnoText(ec)));
  std::sort(out.classNames.begin(), out.classNames.end());
  if (out.classNames.empty())
    return absl::InvalidArgumentError(
        fmt::format("{}: no class directories (put each class's images in a "
                    "subdirectory named for the class)",
                    directory));
  if (out.classNames.size() == 1)
    return absl::InvalidArgumentError(fmt::format(
        "{}: only one class directory ('{}'); a classifier needs at least "
        "two",
        directory, out.classNames[0]));
  if (static_cast<int64_t>(out.classNames.size()) > kMaxClasses)
    return absl::InvalidArgumentError(
        fmt::format("{}: {} class directories; at most {} are supported",
                    directory, out.classNames.size(), kMaxClasses));

  // Class directories are walked in parallel (one system call per file
  // dominates), each into its own list; results and the error reported are
  // in class order whatever the thread count.
  size_t classes = out.classNames.size();
  std::vector<std::vector<Found>> found(classes);
  std::vector<int64_t> skipped(classes, 0);
  std::vector<absl::Status> errors(classes);
  std::atomic<size_t> next{0};
  auto walkClasses = [&](int) {
    for (size_t c; (c = next.fetch_add(1)) < classes;)
      errors[c] = walkForImages(fs::path(directory) / out.classNames[c],
                                found[c], skipped[c]);
  };
  if (pool)
    pool->run([&](int tid) { walkClasses(tid); });
  else
    walkClasses(0);
  for (size_t c = 0; c < classes; ++c) {
    if (!errors[c].ok())
      return errors[c];
    out.skipped += skipped[c];
    if (found[c].empty())
      return absl::InvalidArgumentError(
          fmt::format("{}: class '{}' has no images ({})",
                      (fs::path(directory) / out.classNames[c]).string(),
                      out.classNames[c], extensionList()));
    std::sort(found[c].begin(), found[c].end());
    for (const Found &f : found[c]) {
      out.files.push_back(f.root + "/" + f.name);
      out.labels.push_back(static_cast<uint8_t>(c));
      out.stamps.push_back(f.stamp);
    }
    if (static_cast<int64_t>(out.files.size()) > kMaxFiles)
      return absl::InvalidArgumentError(
          fmt::format("{}: more than {} image files", directory, kMaxFiles));
    found[c] = {};
  }
  return out;
}

absl::StatusOr<std::vector<std::string>>
listImageFiles(const std::vector<std::string> &paths) {
  std::vector<std::string> files;
  for (const std::string &p : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st))
      return absl::NotFoundError(
          fmt::format("{}: no such file or directory", p));
    if (!fs::is_directory(st)) {
      files.push_back(p);
      continue;
    }
    std::vector<Found> found;
    int64_t skipped = 0;
    if (absl::Status s = walkForImages(p, found, skipped); !s.ok())
      return s;
    if (found.empty())
      return absl::InvalidArgumentError(
          fmt::format("{}: no images ({})", p, extensionList()));
    std::sort(found.begin(), found.end());
    for (const Found &f : found)
      files.push_back(f.root + "/" + f.name);
  }
  return files;
}

std::string cacheDirectory() {
  std::string dir = codegen::defaultKernelCacheDir();
  return dir.empty() ? dir : dir + "/images";
}

absl::StatusOr<LabeledImages> loadImageFolder(const ir::ImageFolderSpec &spec,
                                              ThreadPool &pool,
                                              ImageLoadInfo *info) {
  ImageLoadInfo localInfo;
  ImageLoadInfo &meta = info ? *info : localInfo;
  meta = ImageLoadInfo();
  auto listing = listImageFolder(spec.directory, &pool);
  if (!listing.ok())
    return listing.status();
  meta.skipped = listing->skipped;
  int64_t count = static_cast<int64_t>(listing->files.size());
  if (absl::Status s = checkPixelMemory(count, spec, spec.directory); !s.ok())
    return s;

  LabeledImages out;
  out.images.count = count;
  out.images.rows = spec.height;
  out.images.cols = spec.width;
  out.images.channels = ir::channelsOf(spec.colorMode);
  out.labels = listing->labels;
  out.classNames = listing->classNames;
  allocatePixels(out.images.pixels,
                 static_cast<size_t>(count * out.images.imageSize()));

  // The cache is named for the folder and options, and keyed by what the
  // pixels depend on: a changed, added or removed file gives a new key, and
  // the stale file is overwritten.
  std::string cacheDir = cacheDirectory();
  CacheHeader header{kCacheVersion,        0,
                     uint64_t(count),      uint64_t(spec.height),
                     uint64_t(spec.width), uint64_t(out.images.channels)};
  std::string cachePath;
  if (!cacheDir.empty()) {
    std::error_code ec;
    fs::path absolute = fs::absolute(spec.directory, ec);
    KeyHash name, key;
    name.add(absolute.lexically_normal().string());
    addSpec(name, spec);
    addSpec(key, spec);
    for (size_t i = 0; i < listing->files.size(); ++i) {
      const FileStamp &st = listing->stamps[i];
      key.add(listing->files[i]);
      key.add(uint64_t(listing->labels[i]));
      key.add(st.size);
      key.add(st.mtimeSec);
      key.add(st.mtimeNsec);
      key.add(st.inode);
    }
    for (const std::string &c : listing->classNames)
      key.add(c);
    header.key = key.value();
    cachePath = fmt::format("{}/images-{:016x}.cache", cacheDir, name.value());
    if (readCache(cachePath, header, out.images.pixels)) {
      meta.fromCache = true;
      meta.cachePath = cachePath;
      return out;
    }
  }

  if (absl::Status s =
          decodeAll(listing->files, spec, pool, out.images.pixels.data());
      !s.ok())
    return s;

  if (!cachePath.empty()) {
    // A cache that cannot be written only costs the next run its speed.
    std::error_code ec;
    fs::create_directories(cacheDir, ec);
    std::string head = encodeHeader(header);
    std::string_view body(
        reinterpret_cast<const char *>(out.images.pixels.data()),
        out.images.pixels.size());
    if (!ec && support::writeFileAtomically(cachePath, {head, body}).ok())
      meta.cachePath = cachePath;
  }
  return out;
}

absl::StatusOr<IdxImages> loadImageFiles(const std::vector<std::string> &files,
                                         const ir::ImageFolderSpec &spec,
                                         ThreadPool &pool) {
  int64_t count = static_cast<int64_t>(files.size());
  if (absl::Status s = checkPixelMemory(count, spec, "the images to predict");
      !s.ok())
    return s;
  IdxImages out;
  out.count = count;
  out.rows = spec.height;
  out.cols = spec.width;
  out.channels = ir::channelsOf(spec.colorMode);
  allocatePixels(out.pixels, static_cast<size_t>(count * out.imageSize()));
  if (absl::Status s = decodeAll(files, spec, pool, out.pixels.data()); !s.ok())
    return s;
  return out;
}

absl::StatusOr<LabeledImages> splitImageFolder(const LabeledImages &all,
                                               double validationSplit,
                                               uint64_t seed, bool validation) {
  int64_t count = all.images.count;
  auto numVal =
      static_cast<int64_t>(validationSplit * static_cast<double>(count));
  if (numVal < 1 || numVal >= count)
    return absl::InvalidArgumentError(fmt::format(
        "validation_split={} of {} images leaves {} for validation and {} for "
        "training; each needs at least one",
        validationSplit, count, numVal, count - numVal));
  // A stream of its own, so that the split does not move when the shuffle
  // or weight streams change.
  std::vector<int64_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    order[i] = i;
  support::SplitMix64 rng(support::mix64(seed ^ 0x5350'4C49'5421'0001ull));
  for (size_t i = order.size(); i > 1; --i)
    std::swap(order[i - 1], order[rng.below(i)]);
  int64_t begin = validation ? count - numVal : 0;
  int64_t end = validation ? count : count - numVal;

  LabeledImages out;
  out.classNames = all.classNames;
  out.images.rows = all.images.rows;
  out.images.cols = all.images.cols;
  out.images.channels = all.images.channels;
  out.images.count = end - begin;
  int64_t size = all.images.imageSize();
  out.images.pixels.resize(static_cast<size_t>(out.images.count * size));
  out.labels.resize(static_cast<size_t>(out.images.count));
  for (int64_t i = begin; i < end; ++i) {
    int64_t src = order[i];
    std::memcpy(out.images.pixels.data() + (i - begin) * size,
                all.images.pixels.data() + src * size,
                static_cast<size_t>(size));
    out.labels[i - begin] = all.labels[src];
  }
  return out;
}

} // namespace cnnc::runtime
