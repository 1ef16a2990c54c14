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
// A minimal JSON parser, just enough for safetensors headers: strict RFC 8259
// syntax, duplicate keys rejected, numbers kept as text.
//===----------------------------------------------------------------------===//

struct Json {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  std::string text;              // String: decoded value; Number: literal
  std::vector<Json> items;       // Array elements, or Object values
  std::vector<std::string> keys; // Object keys, parallel to items
};

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

// Length of the valid UTF-8 sequence starting at s[0], or 0 if invalid.
size_t utf8SeqLen(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0; // overlong
    if (c == 0xED)
      hi = 0x9F; // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90; // overlong
    if (c == 0xF4)
      hi = 0x8F; // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len || byte(1) < lo || byte(1) > hi)
    return 0;
  for (size_t i = 2; i < len; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xBF)
      return 0;
  return len;
}

bool isValidUtf8(std::string_view s) {
  while (!s.empty()) {
    size_t n = utf8SeqLen(s);
    if (n == 0)
      return false;
    s.remove_prefix(n);
  }
  return true;
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class JsonParser {
public:
  explicit JsonParser(std::string_view text) : text(text) {}

  // Parses one value surrounded only by whitespace (the padding).
  bool parseDocument(Json &out) {
    skipSpace();
    if (!parseValue(out, 0))
      return false;
    skipSpace();
    if (pos != text.size())
      return fail("unexpected text after the JSON object");
    return true;
  }

  const std::string &error() const { return err; }

private:
  // Deeper nesting has no use in a header and would risk the stack.
  static constexpr int kMaxDepth = 64;
  // A parsed value takes about 100 bytes for every byte of "0,": without a
  // cap, a 100 MB header of them would ask for gigabytes. A million values
  // describe some 100,000 tensors.
  static constexpr size_t kMaxValues = size_t{1} << 20;

  std::string_view text;
  size_t pos = 0;
  size_t values = 0;
  std::string err;

  bool fail(absl::string_view why) {
    err = absl::StrCat("at header byte ", pos, ": ",
                       atEnd() ? "unexpected end of header, " : "", why);
    return false;
  }

  bool atEnd() const { return pos >= text.size(); }

  void skipSpace() {
    while (!atEnd() && (text[pos] == ' ' || text[pos] == '\t' ||
                        text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  bool consume(char c) {
    if (atEnd() || text[pos] != c)
      return false;
    ++pos;
    return true;
  }

  bool isDigit() const {
    return !atEnd() && text[pos] >= '0' && text[pos] <= '9';
  }

  bool parseValue(Json &out, int depth) {
    if (depth > kMaxDepth)
      return fail("nesting too deep");
    if (++values > kMaxValues)
      return fail(absl::StrCat("more than ", kMaxValues, " JSON values"));
    if (atEnd())
      return fail("expected a JSON value");
    switch (text[pos]) {
    case '{':
      return parseObject(out, depth);
    case '[':
      return parseArray(out, depth);
    case '"':
      out.kind = Json::Kind::String;
      return parseString(out.text);
    case 't':
      out.kind = Json::Kind::Bool;
      return parseWord("true");
    case 'f':
      out.kind = Json::Kind::Bool;
      return parseWord("false");
    case 'n':
      out.kind = Json::Kind::Null;
      return parseWord("null");
    default:
      if (text[pos] == '-' || isDigit())
        return parseNumber(out);
      return fail("expected a JSON value");
    }
  }

  bool parseWord(std::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return fail("invalid literal");
    pos += word.size();
    return true;
  }

  bool parseObject(Json &out, int depth) {
    out.kind = Json::Kind::Object;
    ++pos; // '{'
    skipSpace();
    if (consume('}'))
      return true;
    std::set<std::string, std::less<>> seen;
    for (;;) {
      skipSpace();
      if (atEnd() || text[pos] != '"')
        return fail("expected a string key");
      size_t keyPos = pos;
      std::string key;
      if (!parseString(key))
        return false;
      if (!seen.insert(key).second) {
        pos = keyPos;
        return fail(absl::StrCat("duplicate key '", printable(key), "'"));
      }
      skipSpace();
      if (!consume(':'))
        return fail("expected ':'");
      skipSpace();
      Json value;
      if (!parseValue(value, depth + 1))
        return false;
      out.keys.push_back(std::move(key));
      out.items.push_back(std::move(value));
      skipSpace();
      if (consume('}'))
        return true;
      if (!consume(','))
        return fail("expected ',' or '}'");
    }
  }

  bool parseArray(Json &out, int depth) {
    out.kind = Json::Kind::Array;
    ++pos; // '['
    skipSpace();
    if (consume(']'))
      return true;
    for (;;) {
      skipSpace();
      Json value;
      if (!parseValue(value, depth + 1))
        return false;
      out.items.push_back(std::move(value));
      skipSpace();
      if (consume(']'))
        return true;
      if (!consume(','))
        return fail("expected ',' or ']'");
    }
  }

  bool parseHex4(uint32_t &out) {
    if (text.size() - pos < 4)
      return fail("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text[pos++];
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        out |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        out |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return fail("bad hex digit in \\u escape");
    }
    return true;
  }

  bool parseString(std::string &out) {
    ++pos; // '"'
    for (;;) {
      if (atEnd())
        return fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return fail("control character in string");
      if (c != '\\') {
        size_t n = utf8SeqLen(text.substr(pos));
        if (n == 0)
          return fail("invalid UTF-8");
        out.append(text.substr(pos, n));
        pos += n;
        continue;
      }
      ++pos;
      if (atEnd())
        return fail("unterminated string");
      char e = text[pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp = 0;
        if (!parseHex4(cp))
          return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          return fail("lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low = 0;
          if (!consume('\\') || !consume('u') || !parseHex4(low) ||
              low < 0xDC00 || low > 0xDFFF)
            return fail("unpaired surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        --pos;
        return fail("invalid escape");
      }
    }
  }

  bool parseNumber(Json &out) {
    out.kind = Json::Kind::Number;
    size_t start = pos;
    consume('-');
    if (consume('0')) {
      // no leading zeros
    } else if (isDigit()) {
      while (isDigit())
        ++pos;
    } else {
      return fail("invalid number");
    }
    if (consume('.')) {
      if (!isDigit())
        return fail("invalid number");
      while (isDigit())
        ++pos;
    }
    if (consume('e') || consume('E')) {
      if (!consume('+'))
        consume('-');
      if (!isDigit())
        return fail("invalid number");
      while (isDigit())
        ++pos;
    }
    out.text = std::string(text.substr(start, pos - start));
    return true;
  }
};

// A non-negative JSON integer no larger than `max`.
bool asUInt(const Json &v, uint64_t max, uint64_t &out) {
  if (v.kind != Json::Kind::Number || v.text.empty())
    return false;
  out = 0;
  for (char c : v.text) {
    if (c < '0' || c > '9')
      return false; // sign, fraction or exponent
    if (__builtin_mul_overflow(out, 10, &out) ||
        __builtin_add_overflow(out, static_cast<uint64_t>(c - '0'), &out))
      return false;
  }
  return out <= max;
}

void appendJsonString(std::string &out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20)
        absl::StrAppend(&out, "\\u00", static_cast<int>(c) < 0x10 ? "0" : "",
                        absl::Hex(static_cast<unsigned char>(c)));
      else
        out += c;
    }
  }
  out += '"';
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

  std::string header = "{";
  if (!metadata.empty()) {
    appendJsonString(header, kMetadataKey);
    header += ":{";
    bool first = true;
    for (const auto &[key, value] : metadata) {
      if (!first)
        header += ',';
      first = false;
      appendJsonString(header, key);
      header += ':';
      appendJsonString(header, value);
    }
    header += '}';
  }

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
    if (header.size() > 1)
      header += ',';
    appendJsonString(header, t.name);
    absl::StrAppend(&header,
                    ":{\"dtype\":\"F32\",\"shape\":", shapeStr(t.shape),
                    ",\"data_offsets\":[", offset, ",", end, "]}");
    offset = end;
  }
  header += '}';
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
readSafetensors(const std::string &path) {
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
  Json root;
  JsonParser parser(header);
  if (!parser.parseDocument(root))
    return corrupt(absl::StrCat("bad JSON header ", parser.error()));

  uint64_t dataStart = 8 + headerSize;
  absl::StatusOr<std::vector<TensorEntry>> entries =
      HeaderChecker(path, fileSize - dataStart).check(root);
  if (!entries.ok())
    return entries.status();

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
