#include "runtime/Idx.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace cnnc::runtime {

namespace fs = std::filesystem;

namespace {

constexpr const char *kFetchHint =
    "run scripts/fetch-mnist.sh or pass --data DIR";
constexpr uint32_t kImagesMagic = 0x00000803; // u8, 3 dims
constexpr uint32_t kLabelsMagic = 0x00000801; // u8, 1 dim

// Raw deflate cannot expand input by more than about 1032:1, which bounds
// how much a file can really hold whatever its header claims.
constexpr uint64_t kMaxInflateRatio = 1032;

const char *magicName(uint32_t magic) {
  switch (magic) {
  case kImagesMagic:
    return "u8 images";
  case kLabelsMagic:
    return "u8 labels";
  default:
    return "unknown";
  }
}

struct IdxArray {
  std::vector<uint64_t> dims;
  std::vector<uint8_t> data;
};

// Owns a gzFile; gzread reads non-gzip files transparently, so one code path
// handles both raw and compressed IDX files.
class GzReader {
public:
  explicit GzReader(gzFile f) : f(f) {}
  GzReader(const GzReader &) = delete;
  GzReader &operator=(const GzReader &) = delete;
  ~GzReader() { gzclose(f); }

  // Reads up to `len` bytes; stops early only at end of data. Returns the
  // count read, or -1 on a decompression or I/O error (see error()).
  int64_t read(uint8_t *buf, uint64_t len) {
    uint64_t got = 0;
    while (got < len) {
      unsigned chunk =
          static_cast<unsigned>(std::min<uint64_t>(len - got, 1u << 30));
      int n = gzread(f, buf + got, chunk);
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      got += static_cast<uint64_t>(n);
    }
    return static_cast<int64_t>(got);
  }

  // Non-empty if the stream failed or ended inside compressed data.
  std::string error() const {
    int code = Z_OK;
    const char *msg = gzerror(f, &code);
    if (code == Z_OK)
      return "";
    if (code == Z_ERRNO)
      return std::strerror(errno);
    return msg;
  }

  bool isRaw() const { return gzdirect(f) != 0; }

private:
  gzFile f;
};

absl::Status gzipError(const std::string &path, const GzReader &r) {
  return absl::DataLossError(
      absl::StrCat(path, ": corrupt gzip data: ", r.error()));
}

absl::StatusOr<IdxArray> readIdx(const std::string &path, uint32_t magic,
                                 int ndims) {
  // Open with open(2) first so a missing file is reported from a reliable
  // errno rather than gzopen's.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return absl::NotFoundError(
          absl::StrCat(path, ": no such file; ", kFetchHint));
    return absl::Status(
        absl::ErrnoToStatusCode(err),
        absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    ::close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": cannot start gzip reader"));
  }
  GzReader in(gz);

  uint64_t headerLen = 4 + 4 * static_cast<uint64_t>(ndims);
  std::array<uint8_t, 16> header{};
  int64_t got = in.read(header.data(), headerLen);
  if (got < 0)
    return gzipError(path, in);
  auto be32 = [&](size_t at) {
    return uint32_t(header[at]) << 24 | uint32_t(header[at + 1]) << 16 |
           uint32_t(header[at + 2]) << 8 | uint32_t(header[at + 3]);
  };
  if (got >= 4 && be32(0) != magic)
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: bad magic 0x%08x (%s), expected 0x%08x (%s)", path,
                        be32(0), magicName(be32(0)), magic, magicName(magic)));
  if (static_cast<uint64_t>(got) < headerLen)
    return absl::DataLossError(absl::StrCat(path, ": truncated: expected a ",
                                            headerLen, "-byte header, got ",
                                            got, " bytes"));

  IdxArray out;
  uint64_t payload = 1;
  for (int i = 0; i < ndims; ++i) {
    uint64_t dim = be32(4 + 4 * static_cast<size_t>(i));
    out.dims.push_back(dim);
    // Three u32 dims can overflow u64; no real file is that big anyway.
    if (__builtin_mul_overflow(payload, dim, &payload) ||
        payload > (uint64_t(1) << 48))
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": absurd dimensions [",
                       absl::StrJoin(out.dims, ","), "...] in header"));
  }
  uint64_t expected = headerLen + payload;

  // Allocate no more than the file could possibly decode to, so a corrupt
  // header cannot trigger a huge allocation; grow only as data arrives.
  uint64_t bound = in.isRaw() ? fileSize : fileSize * kMaxInflateRatio;
  out.data.resize(std::min(payload, bound));
  uint64_t have = 0;
  while (have < payload) {
    if (have == out.data.size())
      out.data.resize(
          std::min<uint64_t>(payload, std::max<uint64_t>(2 * have, 1 << 20)));
    int64_t n = in.read(out.data.data() + have, out.data.size() - have);
    if (n < 0)
      return gzipError(path, in);
    if (n == 0)
      break;
    have += static_cast<uint64_t>(n);
  }
  std::string err = in.error();
  if (!err.empty())
    return absl::DataLossError(absl::StrCat(path, ": truncated: gzip stream (",
                                            err, ") after ", headerLen + have,
                                            " of ", expected, " bytes"));
  if (have < payload)
    return absl::DataLossError(absl::StrCat(path, ": truncated: expected ",
                                            expected, " bytes, got ",
                                            headerLen + have));

  // Trailing bytes mean the header does not describe this file.
  uint64_t extra = 0;
  std::array<uint8_t, 1 << 16> sink;
  for (;;) {
    int64_t n = in.read(sink.data(), sink.size());
    if (n < 0)
      return gzipError(path, in);
    if (n == 0)
      break;
    extra += static_cast<uint64_t>(n);
  }
  // A stream cut short after the payload (e.g. missing its CRC trailer) is
  // only noticed here.
  if (std::string err = in.error(); !err.empty())
    return absl::DataLossError(
        absl::StrCat(path, ": truncated: gzip stream (", err, ")"));
  if (extra != 0)
    return absl::DataLossError(absl::StrCat(path, ": too long: expected ",
                                            expected, " bytes, got ",
                                            expected + extra));
  return out;
}

bool fileExists(const std::string &path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// Picks the raw file, else its ".gz" twin.
absl::StatusOr<std::string> pickFile(const std::string &base) {
  if (fileExists(base))
    return base;
  if (fileExists(base + ".gz"))
    return base + ".gz";
  return absl::NotFoundError(
      absl::StrCat(base, "(.gz): no such file; ", kFetchHint));
}

bool holdsMnist(const std::string &dir) {
  std::string images = (fs::path(dir) / "train-images-idx3-ubyte").string();
  return fileExists(images) || fileExists(images + ".gz");
}

} // namespace

absl::StatusOr<IdxImages> readIdxImages(const std::string &path) {
  absl::StatusOr<IdxArray> arr = readIdx(path, kImagesMagic, 3);
  if (!arr.ok())
    return arr.status();
  IdxImages out;
  out.count = static_cast<int64_t>(arr->dims[0]);
  out.rows = static_cast<int64_t>(arr->dims[1]);
  out.cols = static_cast<int64_t>(arr->dims[2]);
  out.pixels = std::move(arr->data);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> readIdxLabels(const std::string &path) {
  absl::StatusOr<IdxArray> arr = readIdx(path, kLabelsMagic, 1);
  if (!arr.ok())
    return arr.status();
  return std::move(arr->data);
}

absl::StatusOr<LabeledImages> loadIdxSplit(const std::string &prefix,
                                           const std::string &split) {
  if (split != "train" && split != "t10k")
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown MNIST split '", split, "' (expected 'train' or 't10k')"));
  absl::StatusOr<std::string> imagesPath =
      pickFile(absl::StrCat(prefix, split, "-images-idx3-ubyte"));
  if (!imagesPath.ok())
    return imagesPath.status();
  absl::StatusOr<std::string> labelsPath =
      pickFile(absl::StrCat(prefix, split, "-labels-idx1-ubyte"));
  if (!labelsPath.ok())
    return labelsPath.status();

  LabeledImages out;
  absl::StatusOr<IdxImages> images = readIdxImages(*imagesPath);
  if (!images.ok())
    return images.status();
  out.images = std::move(*images);
  absl::StatusOr<std::vector<uint8_t>> labels = readIdxLabels(*labelsPath);
  if (!labels.ok())
    return labels.status();
  out.labels = std::move(*labels);
  if (static_cast<int64_t>(out.labels.size()) != out.images.count)
    return absl::InvalidArgumentError(
        absl::StrCat(*labelsPath, ": holds ", out.labels.size(), " labels but ",
                     *imagesPath, " holds ", out.images.count, " images"));
  return out;
}

absl::StatusOr<std::string> findMnistDir(const std::string &explicitDir) {
  // An explicit directory is a promise from the user: never fall back.
  if (!explicitDir.empty()) {
    if (holdsMnist(explicitDir))
      return explicitDir;
    return absl::NotFoundError(absl::StrCat(
        explicitDir, ": no train-images-idx3-ubyte(.gz) in this directory; ",
        kFetchHint));
  }

  std::vector<std::string> candidates;
  if (const char *env = std::getenv("CNNC_DATA_DIR"); env && *env)
    candidates.push_back(env);
  candidates.push_back("data/mnist");
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path exeDir = exe.parent_path();
    candidates.push_back((exeDir / "../data/mnist").lexically_normal());
    candidates.push_back((exeDir / "../../data/mnist").lexically_normal());
  }
  candidates.push_back("../shared/data/mnist");

  for (const std::string &dir : candidates)
    if (holdsMnist(dir))
      return dir;
  return absl::NotFoundError(absl::StrCat("MNIST data not found (searched ",
                                          absl::StrJoin(candidates, ", "),
                                          "); ", kFetchHint));
}

} // namespace cnnc::runtime
