#include "runtime/Safetensors.h"

#include "support/AtomicFile.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <nlohmann/json.hpp>

namespace cnnc::runtime {

using support::writeFileAtomically;

// Tensor bytes are copied straight to and from float memory.
static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this host needs byte swaps");

namespace {

// The reference implementation refuses larger headers; so do we, which also
// bounds what a corrupt length field can make us allocate.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr std::string_view kMetadataKey = "__metadata__";

std::string shapeStr(const std::vector<int64_t> &shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// A string from the file, for an error message: decoded JSON may hold any
// control character ("\n" in a name), and an error must stay one line.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (u < 0x20 || u == 0x7f)
      absl::StrAppend(&out, "\\u00", absl::Hex(u, absl::kZeroPad2));
    else
      out += c;
  }
  return out;
}

//===----------------------------------------------------------------------===//
// The JSON header, parsed by nlohmann::json's SAX parser (strict RFC 8259,
// UTF-8 checked) into a small tree that keeps the file's key order and each
// number's literal. Our handler adds what a header needs: no duplicate keys,
// bounded nesting and a bounded number of values.
//===----------------------------------------------------------------------===//

struct Json {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  std::string text;              // String: decoded value; Number: literal
  bool isUInt = false;           // Number: a plain non-negative integer...
  uint64_t uint = 0;             // ...that fits in 64 bits, this one
  std::vector<Json> items;       // Array elements, or Object values
  std::vector<std::string> keys; // Object keys, parallel to items
};

Json jsonOfKind(Json::Kind kind) {
  Json j;
  j.kind = kind;
  return j;
}

const char *kindName(Json::Kind kind) {
  switch (kind) {
  case Json::Kind::Null:
    return "null";
  case Json::Kind::Bool:
    return "a boolean";
  case Json::Kind::Number:
    return "a number";
  case Json::Kind::String:
    return "a string";
  case Json::Kind::Array:
    return "an array";
  case Json::Kind::Object:
    return "an object";
  }
  return "?";
}

// nlohmann's message without its "[json.exception...] parse error at line
// L, column C: " prefix (we give the byte offset instead) and without the
// "last read: '...'" token, which may be megabytes of the file.
std::string jsonSyntaxError(std::string_view what) {
  if (size_t colon = what.find(": "); colon != std::string_view::npos)
    what.remove_prefix(colon + 2);
  std::string out(what);
  constexpr std::string_view kLastRead = "; last read: '";
  if (size_t begin = out.find(kLastRead); begin != std::string::npos) {
    size_t end = out.rfind("'; expected ");
    out.erase(begin, end != std::string::npos && end > begin
                         ? end + 1 - begin
                         : std::string::npos);
  }
  if (out.size() > 200)
    out.resize(200);
  return out;
}

class HeaderSax final : public nlohmann::json_sax<nlohmann::json> {
public:
  Json root;
  std::string error; // set when parsing stops

  bool null() override { return add(Json{}); }
  bool boolean(bool) override { return add(jsonOfKind(Json::Kind::Bool)); }
  // Called only for a literal with a leading '-', so 0 was "-0": keep the
  // sign for error messages.
  bool number_integer(number_integer_t v) override {
    return add(number(v == 0 ? std::string("-0") : absl::StrCat(v)));
  }
  bool number_unsigned(number_unsigned_t v) override {
    Json j = number(absl::StrCat(v));
    j.isUInt = true;
    j.uint = v;
    return add(std::move(j));
  }
  // Also integers too large for 64 bits; `literal` is the file's text.
  bool number_float(number_float_t, const string_t &literal) override {
    return add(number(literal));
  }
  bool string(string_t &s) override {
    Json j = jsonOfKind(Json::Kind::String);
    j.text = std::move(s);
    return add(std::move(j));
  }
  bool binary(binary_t &) override { return fail("binary value"); }
  bool start_object(std::size_t) override { return open(Json::Kind::Object); }
  bool key(string_t &k) override {
    Frame &top = stack.back();
    if (!top.seen.insert(k).second)
      return fail(absl::StrCat("duplicate key '", printable(k), "'"));
    top.value.keys.push_back(std::move(k));
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Json::Kind::Array); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t pos, const std::string &,
                   const nlohmann::detail::exception &e) override {
    // `pos` counts the characters read, the offending one included.
    return fail(absl::StrCat("at header byte ", pos > 0 ? pos - 1 : 0, ": ",
                             printable(jsonSyntaxError(e.what()))));
  }

private:
  // Arrays and objects open at once, the root included; deeper nesting has
  // no use in a header.
  static constexpr size_t kMaxDepth = 65;
  // A parsed value takes about 100 bytes for every byte of "0,": without a
  // cap, a 100 MB header of them would ask for gigabytes. A million values
  // describe some 100,000 tensors.
  static constexpr size_t kMaxValues = size_t{1} << 20;

  struct Frame {
    Json value;
    std::set<std::string, std::less<>> seen; // Object keys so far
  };
  std::vector<Frame> stack; // open arrays and objects, innermost last
  size_t values = 0;

  bool fail(absl::string_view why) {
    error = std::string(why);
    return false;
  }

  static Json number(std::string literal) {
    Json j = jsonOfKind(Json::Kind::Number);
    j.text = std::move(literal);
    return j;
  }

  bool count() {
    if (++values > kMaxValues)
      return fail(absl::StrCat("more than ", kMaxValues, " JSON values"));
    return true;
  }

  // Puts a finished value into the innermost open container (the parser has
  // already read its key), or makes it the root.
  bool addFinished(Json value) {
    if (stack.empty())
      root = std::move(value);
    else
      stack.back().value.items.push_back(std::move(value));
    return true;
  }

  bool add(Json value) { return count() && addFinished(std::move(value)); }

  bool open(Json::Kind kind) {
    if (!count())
      return false;
    if (stack.size() >= kMaxDepth)
      return fail("nesting too deep");
    stack.push_back(Frame{jsonOfKind(kind), {}});
    return true;
  }

  bool close() {
    Json done = std::move(stack.back().value);
    stack.pop_back();
    return addFinished(std::move(done));
  }
};

// A non-negative JSON integer no larger than `max`.
bool asUInt(const Json &v, uint64_t max, uint64_t &out) {
  if (v.kind != Json::Kind::Number || !v.isUInt)
    return false;
  out = v.uint;
  return out <= max;
}

//===----------------------------------------------------------------------===//
// Header validation
//===----------------------------------------------------------------------===//

struct TensorEntry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t numElements = 1;
  uint64_t begin = 0, end = 0;
};

bool isKnownDtype(std::string_view d) {
  static constexpr std::string_view kDtypes[] = {
      "BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
      "BF16", "I32", "U32", "F32",     "F64",     "I64", "U64"};
  return std::find(std::begin(kDtypes), std::end(kDtypes), d) !=
         std::end(kDtypes);
}

class HeaderChecker {
public:
  HeaderChecker(const std::string &path, uint64_t bufferSize)
      : path(path), bufferSize(bufferSize) {}

  absl::StatusOr<std::vector<TensorEntry>> check(const Json &root) {
    std::vector<TensorEntry> entries;
    for (size_t i = 0; i < root.keys.size(); ++i) {
      const std::string &key = root.keys[i];
      const Json &value = root.items[i];
      if (key == kMetadataKey) {
        if (absl::Status st = checkMetadata(value); !st.ok())
          return st;
        continue;
      }
      absl::StatusOr<TensorEntry> entry = checkTensor(key, value);
      if (!entry.ok())
        return entry.status();
      entries.push_back(std::move(*entry));
    }
    if (absl::Status st = checkLayout(entries); !st.ok())
      return st;
    return entries;
  }

private:
  const std::string &path;
  uint64_t bufferSize;

  absl::Status error(absl::string_view why) const {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  }

  absl::Status checkMetadata(const Json &meta) const {
    if (meta.kind != Json::Kind::Object)
      return error(absl::StrCat("__metadata__ is ", kindName(meta.kind),
                                ", expected an object of strings"));
    for (size_t i = 0; i < meta.keys.size(); ++i)
      if (meta.items[i].kind != Json::Kind::String)
        return error(absl::StrCat(
            "__metadata__ value '", printable(meta.keys[i]), "' is ",
            kindName(meta.items[i].kind), ", expected a string"));
    return absl::OkStatus();
  }

  absl::StatusOr<TensorEntry> checkTensor(const std::string &name,
                                          const Json &info) const {
    std::string where = absl::StrCat("tensor '", printable(name), "'");
    if (info.kind != Json::Kind::Object)
      return error(absl::StrCat(where, " is ", kindName(info.kind),
                                ", expected an object"));
    const Json *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
    for (size_t i = 0; i < info.keys.size(); ++i) {
      const std::string &field = info.keys[i];
      if (field == "dtype")
        dtype = &info.items[i];
      else if (field == "shape")
        shape = &info.items[i];
      else if (field == "data_offsets")
        offsets = &info.items[i];
      else
        return error(
            absl::StrCat(where, " has unknown field '", printable(field), "'"));
    }
    if (!dtype || !shape || !offsets)
      return error(absl::StrCat(where, " lacks '",
                                !dtype   ? "dtype"
                                : !shape ? "shape"
                                         : "data_offsets",
                                "'"));

    if (dtype->kind != Json::Kind::String)
      return error(absl::StrCat(where, " has a 'dtype' that is ",
                                kindName(dtype->kind), ", expected a string"));
    if (!isKnownDtype(dtype->text))
      return error(absl::StrCat(where, " has unknown dtype '",
                                printable(dtype->text), "'"));
    if (dtype->text != "F32")
      return error(absl::StrCat(where, " has dtype ", dtype->text,
                                "; only F32 is supported"));

    TensorEntry entry;
    entry.name = name;
    if (shape->kind != Json::Kind::Array)
      return error(absl::StrCat(where, " has a 'shape' that is ",
                                kindName(shape->kind), ", expected an array"));
    bool overflow = false;
    for (const Json &dim : shape->items) {
      uint64_t d;
      if (!asUInt(dim, INT64_MAX, d))
        return error(absl::StrCat(
            where, " has shape entry '",
            dim.kind == Json::Kind::Number ? dim.text : kindName(dim.kind),
            "', expected a non-negative integer"));
      entry.shape.push_back(static_cast<int64_t>(d));
      overflow |=
          __builtin_mul_overflow(entry.numElements, d, &entry.numElements);
    }
    uint64_t bytes = 0;
    if (overflow || __builtin_mul_overflow(entry.numElements, 4, &bytes))
      return error(
          absl::StrCat(where, " has absurd shape ", shapeStr(entry.shape)));

    if (offsets->kind != Json::Kind::Array || offsets->items.size() != 2 ||
        !asUInt(offsets->items[0], UINT64_MAX, entry.begin) ||
        !asUInt(offsets->items[1], UINT64_MAX, entry.end) ||
        entry.begin > entry.end)
      return error(absl::StrCat(
          where, " has bad 'data_offsets', expected [begin,end] with "
                 "0 <= begin <= end"));
    std::string span = absl::StrCat("[", entry.begin, ",", entry.end, "]");
    if (entry.end > bufferSize)
      return error(absl::StrCat(where, " has data_offsets ", span,
                                " past the end of the ", bufferSize,
                                "-byte data buffer"));
    if (entry.end - entry.begin != bytes)
      return error(absl::StrCat(where, " has shape ", shapeStr(entry.shape),
                                " (", bytes, " bytes of F32) but data_offsets ",
                                span, " span ", entry.end - entry.begin,
                                " bytes"));
    return entry;
  }

  // The spec demands that the tensors tile the data buffer exactly: no
  // overlaps (aliasing) and no holes (room for hidden payloads).
  absl::Status checkLayout(std::vector<TensorEntry> &entries) const {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const TensorEntry &a, const TensorEntry &b) {
                       return std::tie(a.begin, a.end) <
                              std::tie(b.begin, b.end);
                     });
    uint64_t covered = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const TensorEntry &e = entries[i];
      if (e.begin < covered) {
        const TensorEntry &prev = entries[i - 1];
        return error(absl::StrCat("tensor '", printable(e.name),
                                  "' data_offsets [", e.begin, ",", e.end,
                                  "] overlap tensor '", printable(prev.name),
                                  "' [", prev.begin, ",", prev.end, "]"));
      }
      if (e.begin > covered)
        return error(absl::StrCat("data buffer bytes [", covered, ",", e.begin,
                                  ") belong to no tensor"));
      covered = e.end;
    }
    if (covered != bufferSize)
      return error(absl::StrCat("data buffer bytes [", covered, ",", bufferSize,
                                ") belong to no tensor"));
    return absl::OkStatus();
  }
};

class FdCloser {
public:
  explicit FdCloser(int fd) : fd(fd) {}
  FdCloser(const FdCloser &) = delete;
  FdCloser &operator=(const FdCloser &) = delete;
  ~FdCloser() { ::close(fd); }

private:
  int fd;
};

// Reads exactly `len` bytes at `offset`; false with errno (0 at EOF) if not.
bool preadAll(int fd, void *buf, uint64_t len, uint64_t offset) {
  char *p = static_cast<char *>(buf);
  while (len > 0) {
    ssize_t n = ::pread(fd, p, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = 0;
      return false;
    }
    p += n;
    len -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

absl::Status readError(const std::string &path) {
  int err = errno;
  if (err == 0)
    return absl::DataLossError(
        absl::StrCat(path, ": file shrank while being read"));
  return absl::Status(
      absl::ErrnoToStatusCode(err),
      absl::StrCat(path, ": read failed: ", std::strerror(err)));
}

} // namespace

absl::Status
writeSafetensors(const std::string &path,
                 const std::vector<NamedTensor> &tensors,
                 const std::map<std::string, std::string> &metadata) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot write: ", why));
  };
  for (const auto &[key, value] : metadata)
    if (!isValidUtf8(key) || !isValidUtf8(value))
      return invalid(
          absl::StrCat("metadata entry '", key, "' is not valid UTF-8"));

  // Keys in the order __metadata__, then the tensors in data order, as
  // compact JSON (no spaces): files are byte-for-byte reproducible.
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty())
    root[std::string(kMetadataKey)] = metadata;
  nlohmann::ordered_json::object_t &entries =
      root.get_ref<nlohmann::ordered_json::object_t &>();

  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const NamedTensor &t : tensors) {
    std::string where = absl::StrCat("tensor '", t.name, "'");
    if (t.name.empty() || t.name == kMetadataKey || !isValidUtf8(t.name))
      return invalid(absl::StrCat(where, " has a reserved or invalid name"));
    if (!names.insert(t.name).second)
      return invalid(absl::StrCat(where, " appears twice"));
    uint64_t numElements = 1;
    for (int64_t d : t.shape)
      if (d < 0 || __builtin_mul_overflow(numElements, static_cast<uint64_t>(d),
                                          &numElements))
        return invalid(
            absl::StrCat(where, " has bad shape ", shapeStr(t.shape)));
    if (numElements != t.data.size())
      return invalid(absl::StrCat(where, " has shape ", shapeStr(t.shape), " (",
                                  numElements, " elements) but ", t.data.size(),
                                  " values"));

    uint64_t end = offset + 4 * numElements;
    // Names are known unique: append without ordered_map's linear search for
    // an existing key, which would make writing quadratic.
    entries.Container::emplace_back(
        t.name, nlohmann::ordered_json{{"dtype", "F32"},
                                       {"shape", t.shape},
                                       {"data_offsets", {offset, end}}});
    offset = end;
  }
  std::string header = root.dump();
  // The spec pads the header with spaces so the data starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxHeaderSize)
    return invalid(absl::StrCat("header of ", header.size(),
                                " bytes exceeds the format's limit"));

  char lengthField[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    lengthField[i] = static_cast<char>((n >> (8 * i)) & 0xFF);

  std::vector<std::string_view> pieces = {
      std::string_view(lengthField, sizeof lengthField), header};
  for (const NamedTensor &t : tensors)
    pieces.emplace_back(reinterpret_cast<const char *>(t.data.data()),
                        t.data.size() * sizeof(float));
  return writeFileAtomically(path, pieces);
}

absl::StatusOr<std::vector<NamedTensor>>
readSafetensors(const std::string &path,
                std::map<std::string, std::string> *metadata) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return absl::Status(
        absl::ErrnoToStatusCode(err),
        absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };

  if (fileSize < 8)
    return corrupt(absl::StrCat("too short for safetensors: ", fileSize,
                                " bytes, need at least 8"));
  unsigned char lengthField[8];
  if (!preadAll(fd, lengthField, 8, 0))
    return readError(path);
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | lengthField[i];
  if (headerSize > kMaxHeaderSize)
    return corrupt(absl::StrCat("header length ", headerSize,
                                " exceeds the limit of ", kMaxHeaderSize,
                                " bytes"));
  if (headerSize > fileSize - 8)
    return corrupt(absl::StrCat("header length ", headerSize, " exceeds the ",
                                fileSize - 8, " bytes after the length field"));

  std::string header(headerSize, '\0');
  if (!preadAll(fd, header.data(), headerSize, 8))
    return readError(path);
  if (header.empty() || header[0] != '{')
    return corrupt("header does not start with '{'");
  // nlohmann's lexer takes a NUL byte for the end of the input. JSON has no
  // place for one, and we must not ignore what would follow it.
  if (size_t nul = header.find('\0'); nul != std::string::npos)
    return corrupt(
        absl::StrCat("bad JSON header: at header byte ", nul, ": NUL byte"));
  HeaderSax sax;
  if (!nlohmann::json::sax_parse(header, &sax))
    return corrupt(absl::StrCat("bad JSON header: ", sax.error));

  uint64_t dataStart = 8 + headerSize;
  absl::StatusOr<std::vector<TensorEntry>> entries =
      HeaderChecker(path, fileSize - dataStart).check(sax.root);
  if (!entries.ok())
    return entries.status();
  if (metadata) {
    metadata->clear();
    for (size_t i = 0; i < sax.root.keys.size(); ++i)
      if (sax.root.keys[i] == kMetadataKey) {
        const Json &meta = sax.root.items[i];
        for (size_t j = 0; j < meta.keys.size(); ++j)
          (*metadata)[meta.keys[j]] = meta.items[j].text;
      }
  }

  // Sizes are now known to fit in the file, so these allocations are safe.
  std::vector<NamedTensor> out;
  out.reserve(entries->size());
  for (TensorEntry &e : *entries) {
    NamedTensor t;
    t.name = std::move(e.name);
    t.shape = std::move(e.shape);
    t.data.resize(e.numElements);
    if (!preadAll(fd, t.data.data(), e.end - e.begin, dataStart + e.begin))
      return readError(path);
    out.push_back(std::move(t));
  }
  return out;
}

// nlohmann refuses to write invalid UTF-8, so asking it is the exact test.
bool isValidUtf8(const std::string &s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error &) {
    return false;
  }
}

absl::Status matchTensors(
    const std::string &path, const std::vector<NamedTensor> &loaded,
    const std::vector<std::pair<std::string, std::vector<int64_t>>> &expected) {
  std::map<std::string_view, const NamedTensor *> byName;
  for (const NamedTensor &t : loaded)
    byName.emplace(t.name, &t);
  for (const auto &[name, shape] : expected) {
    auto it = byName.find(name);
    if (it == byName.end())
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": model tensor '", name, "' is missing"));
    if (it->second->shape != shape)
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor '", name, "' has shape ", shapeStr(it->second->shape),
          " but the model expects ", shapeStr(shape)));
  }
  std::set<std::string_view> wanted;
  for (const auto &entry : expected)
    wanted.insert(entry.first);
  for (const NamedTensor &t : loaded)
    if (!wanted.count(t.name))
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": unexpected tensor '", printable(t.name), "'"));
  return absl::OkStatus();
}

} // namespace cnnc::runtime
