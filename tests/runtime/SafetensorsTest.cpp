#include "runtime/Safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <optional>
#include <random>

namespace cnnc::runtime {
namespace {

namespace fs = std::filesystem;

::testing::AssertionResult hasSubstr(absl::string_view text,
                                     absl::string_view part) {
  if (text.find(part) != absl::string_view::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "'" << text << "' does not contain '" << part << "'";
}

std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string floatBytes(const std::vector<float> &v) {
  return std::string(reinterpret_cast<const char *>(v.data()), 4 * v.size());
}

std::string le64(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

class SafetensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cnnc-st-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string &name) const {
    return (fs::path(dir) / name).string();
  }

  // Writes a file with the given header (length field derived from it unless
  // given) and data buffer.
  std::string writeFile(const std::string &header, const std::string &data,
                        std::optional<uint64_t> length = std::nullopt) {
    std::string p = path("m.safetensors");
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << le64(length.value_or(header.size())) << header << data;
    return p;
  }

  // Expects reading `p` to fail with a one-line message containing `part`.
  void expectRejected(const std::string &p, const std::string &part) {
    absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
    ASSERT_FALSE(got.ok()) << "accepted; expected: " << part;
    std::string msg(got.status().message());
    EXPECT_TRUE(hasSubstr(msg, p + ": ")) << msg;
    EXPECT_TRUE(hasSubstr(msg, part));
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }

  std::vector<std::string> listDir() const {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(dir))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir;
};

// One 2-float tensor "a" at [0,8).
const std::string kTinyHeader =
    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

TEST_F(SafetensorsTest, RoundTripsOddShapes) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<std::vector<int64_t>> shapes = {
      {3, 3, 1, 7}, {}, {0}, {1}, {5, 0, 2}, {13}, {2, 1, 1, 3}, {1, 17}};
  std::vector<NamedTensor> tensors;
  for (size_t i = 0; i < shapes.size(); ++i) {
    NamedTensor t;
    t.name = "layer" + std::to_string(shapes.size() - i) + ".w\"q\\\x01ü";
    t.shape = shapes[i];
    int64_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    for (int64_t j = 0; j < n; ++j)
      t.data.push_back(dist(rng));
    tensors.push_back(std::move(t));
  }
  // Values that only survive a bit-exact path.
  tensors[0].data[0] = -0.0f;
  tensors[0].data[1] = std::nanf("");
  tensors[0].data[2] = INFINITY;
  tensors[0].data[3] = 1e-45f; // denormal

  std::string p = path("model.safetensors");
  ASSERT_TRUE(writeSafetensors(p, tensors,
                               {{"format", "pt"}, {"note", "a \"quoted\"\n"}})
                  .ok());
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*got)[i].name, tensors[i].name);
    EXPECT_EQ((*got)[i].shape, tensors[i].shape);
    EXPECT_EQ(floatBytes((*got)[i].data), floatBytes(tensors[i].data));
  }
  std::string bytes = readBytes(p);
  uint64_t headerLen = 0;
  std::memcpy(&headerLen, bytes.data(), 8);
  EXPECT_EQ(headerLen % 8, 0u) << "the spec pads the header to 8 bytes";
}

TEST_F(SafetensorsTest, WritesSpecBytesExactly) {
  std::string p = path("tiny.safetensors");
  ASSERT_TRUE(writeSafetensors(p, {{"a", {2}, {1.0f, -2.0f}}}).ok());
  // 54 bytes of JSON padded with 2 spaces to 56 = 0x38.
  std::string expected = std::string("\x38\0\0\0\0\0\0\0", 8) + kTinyHeader +
                         "  " + std::string("\0\0\x80\x3f\0\0\0\xc0", 8);
  EXPECT_EQ(readBytes(p), expected);

  ASSERT_TRUE(
      writeSafetensors(p, {{"a", {2}, {1.0f, -2.0f}}}, {{"format", "pt"}})
          .ok());
  std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expected = std::string("\x58\0\0\0\0\0\0\0", 8) + header + "   " +
             std::string("\0\0\x80\x3f\0\0\0\xc0", 8);
  EXPECT_EQ(readBytes(p), expected);
}

TEST_F(SafetensorsTest, WritesEmptyFile) {
  std::string p = path("empty.safetensors");
  ASSERT_TRUE(writeSafetensors(p, {}).ok());
  EXPECT_EQ(readBytes(p), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
}

// A file as another writer may lay it out: whitespace, keys in any order,
// header order different from data order, escapes, unpadded header.
TEST_F(SafetensorsTest, ReadsForeignLayoutInOffsetOrder) {
  std::string header =
      "{ \"b\" : {\"shape\": [1, 2], \"data_offsets\": [4, 12], "
      "\"dtype\": \"F32\"},\n\t\"__metadata__\": {\"k\": \"v\\u00e9\"},"
      "\r\n\"\\u0061\\ud83d\\ude00\": {\"dtype\":\"F32\",\"shape\":[],"
      "\"data_offsets\":[0,4]}}";
  std::string p = writeFile(header, floatBytes({7.0f, 1.5f, 2.5f}));
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].name, "a\xF0\x9F\x98\x80");
  EXPECT_EQ((*got)[0].shape, std::vector<int64_t>{});
  EXPECT_EQ((*got)[0].data, std::vector<float>{7.0f});
  EXPECT_EQ((*got)[1].name, "b");
  EXPECT_EQ((*got)[1].shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*got)[1].data, (std::vector<float>{1.5f, 2.5f}));
}

TEST_F(SafetensorsTest, RejectsShortFiles) {
  std::string p = path("short.safetensors");
  std::ofstream(p, std::ios::binary) << std::string("\x08\0\0", 3);
  expectRejected(p, "too short for safetensors: 3 bytes, need at least 8");
  expectRejected(writeFile("", ""), "header does not start with '{'");
}

TEST_F(SafetensorsTest, RejectsBadHeaderLength) {
  std::string data = floatBytes({1, 2});
  expectRejected(writeFile(kTinyHeader, data, 1000),
                 "header length 1000 exceeds the 62 bytes after the length "
                 "field");
  expectRejected(writeFile(kTinyHeader, data, uint64_t(1) << 62),
                 "header length 4611686018427387904 exceeds the limit of "
                 "100000000 bytes");
  // Too short a length cuts the JSON.
  expectRejected(writeFile(kTinyHeader, data, 20), "bad JSON header");
}

TEST_F(SafetensorsTest, RejectsBadJson) {
  std::string data = floatBytes({1, 2});
  const std::pair<std::string, std::string> cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},})",
       "at header byte 54: syntax error while parsing object key"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)",
       "at header byte 55: syntax error while parsing value - invalid literal; "
       "expected end of input"},
      {R"({"a" {"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "expected ':'"},
      {R"({"a":{"dtype":"F32,"shape":[2],"data_offsets":[0,8]}})",
       "at header byte 20: syntax error while parsing object"},
      {R"({"a":{"dtype":"F32","shape":[2,],"data_offsets":[0,8]}})",
       "unexpected ']'; expected '[', '{', or a literal"},
      {R"({"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})",
       "unexpected number literal; expected ']'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})",
       "at header byte 53: syntax error while parsing object - unexpected end "
       "of input; expected '}'"},
      {R"({"a":{"dtype":"F\q32","shape":[2],"data_offsets":[0,8]}})",
       "forbidden character after backslash"},
      {"{\"a\x01\":1}", "control character U+0001 (SOH) must be escaped"},
      {"{\"a\xff\":1}", "ill-formed UTF-8 byte"},
      {R"({"\udc00":1})",
       "surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF"},
      {R"({"a":tru})", "invalid literal"},
      {R"({"a":-})", "invalid number"},
      {R"({"a":)", "at header byte 5: syntax error while parsing value - "
                   "unexpected end of input"},
      {std::string(100, '['), "header does not start with '{'"},
      {"{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}",
       "nesting too deep"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "duplicate key 'a'"},
      {"[1,2]", "header does not start with '{'"},
  };
  for (const auto &[header, part] : cases) {
    SCOPED_TRACE(header);
    expectRejected(writeFile(header, data), part);
  }
}

// A syntax error's message must not quote the file: a bad string may run for
// megabytes.
TEST_F(SafetensorsTest, SyntaxErrorsDoNotQuoteTheHeader) {
  std::string header = "{\"" + std::string(1 << 20, 'a') + "\xff\":1}";
  std::string p = writeFile(header, "");
  expectRejected(p, "at header byte 1048578: syntax error while parsing "
                    "object key - invalid string: ill-formed UTF-8 byte");
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  EXPECT_LT(got.status().message().size(), p.size() + 300);
}

// Keys are compared after decoding escapes, in every object of the header.
TEST_F(SafetensorsTest, RejectsDuplicateKeys) {
  std::string data = floatBytes({1, 2});
  const std::pair<std::string, std::string> cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("\u0061":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "bad JSON header: duplicate key 'a'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"shape":[2]}})",
       "bad JSON header: duplicate key 'shape'"},
      {R"({"__metadata__":{"k":"1","k":"2"},)"
       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "bad JSON header: duplicate key 'k'"},
      {R"({"a\n":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("a\n":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "bad JSON header: duplicate key 'a\\n'"},
  };
  for (const auto &[header, part] : cases) {
    SCOPED_TRACE(header);
    expectRejected(writeFile(header, data), part);
  }
  // The same key in different objects is no duplicate.
  std::string p =
      writeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                data);
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 2u);
}

// At most 65 arrays and objects may be open at once, the root included.
TEST_F(SafetensorsTest, CapsNestingDepth) {
  auto nested = [](int arrays) {
    return "{\"a\":" + std::string(arrays, '[') + std::string(arrays, ']') +
           "}";
  };
  // 64 arrays inside the root parse; the schema then refuses them.
  expectRejected(writeFile(nested(64), ""),
                 "tensor 'a' is an array, expected an object");
  expectRejected(writeFile(nested(65), ""),
                 "bad JSON header: nesting too deep");
  expectRejected(writeFile(nested(100000), ""),
                 "bad JSON header: nesting too deep");
}

// The header must be a JSON object, starting at its first byte.
TEST_F(SafetensorsTest, RejectsValidJsonThatIsNoObject) {
  for (const std::string header :
       {"[]", "[{}]", "\"{}\"", "null", "1", "true", " {}", "\n{}"}) {
    SCOPED_TRACE(header);
    expectRejected(writeFile(header, ""), "header does not start with '{'");
  }
}

// Only the spec's padding may follow the JSON object: whitespace (we write
// spaces, others may not), nothing else.
TEST_F(SafetensorsTest, RejectsTrailingGarbage) {
  const std::pair<std::string, std::string> cases[] = {
      {"{} x", "at header byte 3: syntax error while parsing value"},
      {"{}}", "at header byte 2: syntax error while parsing value"},
      {"{}{}", "at header byte 2: syntax error while parsing value"},
      {"{},", "at header byte 2: syntax error while parsing value"},
      {"{}  //", "at header byte 4: syntax error while parsing value"},
      // NUL bytes, which nlohmann's lexer alone would take for the end.
      {std::string("{}\0\0\0\0\0\0", 8), "at header byte 2: NUL byte"},
      {std::string("{} \0{\"a\":", 10), "at header byte 3: NUL byte"},
      {std::string("{\"a\0\":1}", 8), "at header byte 3: NUL byte"},
  };
  for (const auto &[header, part] : cases) {
    SCOPED_TRACE(header);
    expectRejected(writeFile(header, ""), "bad JSON header: " + part);
  }
  for (const std::string header : {"{}", "{}      ", "{} \t\r\n"}) {
    SCOPED_TRACE(header);
    absl::StatusOr<std::vector<NamedTensor>> got =
        readSafetensors(writeFile(header, ""));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(got->empty());
  }
}

// Names are UTF-8: written raw except for what JSON must escape, and read
// back the same whether the file escapes them or not.
TEST_F(SafetensorsTest, RoundTripsNonAsciiAndEscapedNames) {
  const std::vector<std::string> names = {"é",
                                          "日本語.kernel",
                                          "\xF0\x9F\x98\x80",
                                          "tab\there\n",
                                          "quote\"back\\slash/",
                                          "\x01\x1f\x7f",
                                          "__metadata__x"};
  std::vector<NamedTensor> tensors;
  for (size_t i = 0; i < names.size(); ++i)
    tensors.push_back({names[i], {1}, {static_cast<float>(i)}});
  std::string p = path("names.safetensors");
  ASSERT_TRUE(writeSafetensors(p, tensors, {{"ключ", "значение\n"}}).ok());
  std::string bytes = readBytes(p);
  EXPECT_TRUE(hasSubstr(bytes, R"({"__metadata__":{"ключ":"значение\n"},)"));
  EXPECT_TRUE(hasSubstr(bytes, R"("é":{"dtype")"));
  EXPECT_TRUE(hasSubstr(bytes, R"("tab\there\n":{)"));
  EXPECT_TRUE(hasSubstr(bytes, R"("quote\"back\\slash/":{)"));
  EXPECT_TRUE(hasSubstr(bytes, "\"\\u0001\\u001f\x7f\":{"));
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ((*got)[i].name, names[i]);
    EXPECT_EQ((*got)[i].data, std::vector<float>{static_cast<float>(i)});
  }

  // The same names as another writer may escape them.
  std::string header =
      R"({"\u00e9":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("\u65e5\u672C\u8a9e.kernel":{"dtype":"F32","shape":[1],)"
      R"("data_offsets":[4,8]},)"
      R"("\ud83d\ude00":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("tab\u0009here\u000a":{"dtype":"F32","shape":[1],)"
      R"("data_offsets":[12,16]},)"
      R"("quote\u0022back\u005cslash\/":{"dtype":"F32","shape":[1],)"
      R"("data_offsets":[16,20]},)"
      R"("\u0001\u001F\u007f":{"dtype":"F32","shape":[1],)"
      R"("data_offsets":[20,24]},)"
      R"("\u005f_metadata__x":{"dtype":"F32","shape":[1],)"
      R"("data_offsets":[24,28]}})";
  got = readSafetensors(writeFile(header, floatBytes({0, 1, 2, 3, 4, 5, 6})));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), names.size());
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_EQ((*got)[i].name, names[i]);
}

// A header of a few megabytes must not make the parser ask for gigabytes:
// the number of JSON values is capped.
TEST_F(SafetensorsTest, RejectsHeadersWithTooManyValues) {
  std::string header = "{\"a\":[0";
  for (int i = 0; i < (1 << 20); ++i)
    header += ",0";
  header += "]}";
  header.append((8 - header.size() % 8) % 8, ' ');
  expectRejected(writeFile(header, ""), "more than 1048576 JSON values");
}

TEST_F(SafetensorsTest, RejectsBadTensorInfo) {
  std::string data = floatBytes({1, 2});
  const std::pair<std::string, std::string> cases[] = {
      {R"({"a":[1]})", "tensor 'a' is an array, expected an object"},
      {R"({"a":{"dtype":"F32","shape":[2]}})",
       "tensor 'a' lacks 'data_offsets'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})",
       "tensor 'a' has unknown field 'x'"},
      {R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})",
       "tensor 'a' has dtype F16; only F32 is supported"},
      {R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})",
       "tensor 'a' has unknown dtype 'F31'"},
      {R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})",
       "tensor 'a' has a 'dtype' that is a number, expected a string"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
       "tensor 'a' has shape entry '-2', expected a non-negative integer"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})",
       "tensor 'a' has shape entry '2.0'"},
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})",
       "tensor 'a' has a 'shape' that is a number, expected an array"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],)"
       R"("data_offsets":[0,8]}})",
       "tensor 'a' has absurd shape [4294967296,4294967296]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})",
       "tensor 'a' has bad 'data_offsets'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})",
       "tensor 'a' has bad 'data_offsets'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e1]}})",
       "tensor 'a' has bad 'data_offsets'"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
       "tensor 'a' has shape [3] (12 bytes of F32) but data_offsets [0,8] "
       "span 8 bytes"},
      {R"({"__metadata__":{"k":1},)"
       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "__metadata__ value 'k' is a number, expected a string"},
      {R"({"__metadata__":"x",)"
       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "__metadata__ is a string, expected an object of strings"},
  };
  for (const auto &[header, part] : cases) {
    SCOPED_TRACE(header);
    expectRejected(writeFile(header, data), part);
  }
}

TEST_F(SafetensorsTest, RejectsBadLayout) {
  std::string data = floatBytes({1, 2, 3, 4});
  const std::pair<std::string, std::string> cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
       "tensor 'b' has data_offsets [8,24] past the end of the 16-byte data "
       "buffer"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
       "tensor 'b' data_offsets [8,16] overlap tensor 'a' [0,12]"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
       R"("b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
       "tensor 'b' data_offsets [0,16] overlap tensor 'a' [0,16]"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
       "data buffer bytes [4,8) belong to no tensor"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "data buffer bytes [8,16) belong to no tensor"},
      {R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
       "data buffer bytes [0,8) belong to no tensor"},
  };
  for (const auto &[header, part] : cases) {
    SCOPED_TRACE(header);
    expectRejected(writeFile(header, data), part);
  }
}

// Every truncation and many byte flips of a valid file must yield a clean
// error (or, for a harmless flip, a valid result), never a crash.
TEST_F(SafetensorsTest, SurvivesDamage) {
  std::string good = path("good.safetensors");
  ASSERT_TRUE(
      writeSafetensors(good, {{"w", {2, 2}, {1, 2, 3, 4}}, {"b", {2}, {5, 6}}},
                       {{"k", "v"}})
          .ok());
  std::string bytes = readBytes(good);
  std::string p = path("bad.safetensors");
  auto check = [&](const std::string &content) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
    if (!got.ok()) {
      EXPECT_EQ(got.status().message().find('\n'), absl::string_view::npos);
    }
  };
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::ofstream(p, std::ios::binary | std::ios::trunc)
        << bytes.substr(0, len);
    EXPECT_FALSE(readSafetensors(p).ok()) << "truncated to " << len;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string damaged = bytes;
    damaged[rng() % damaged.size()] = static_cast<char>(rng());
    check(damaged);
  }
}

TEST_F(SafetensorsTest, MissingFile) {
  std::string p = path("absent.safetensors");
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(),
            p + ": cannot open: No such file or directory");
}

TEST_F(SafetensorsTest, WriterRejectsInconsistentTensors) {
  std::string p = path("w.safetensors");
  absl::Status st = writeSafetensors(p, {{"a", {2, 3}, {1, 2, 3}}});
  EXPECT_EQ(st.message(), p + ": cannot write: tensor 'a' has shape [2,3] (6 "
                              "elements) but 3 values");
  st = writeSafetensors(p, {{"a", {1}, {1}}, {"a", {1}, {2}}});
  EXPECT_EQ(st.message(), p + ": cannot write: tensor 'a' appears twice");
  st = writeSafetensors(p, {{"__metadata__", {1}, {1}}});
  EXPECT_TRUE(hasSubstr(st.message(), "reserved or invalid name"));
  st = writeSafetensors(p, {{"a", {-1}, {}}});
  EXPECT_TRUE(hasSubstr(st.message(), "tensor 'a' has bad shape [-1]"));
  EXPECT_TRUE(listDir().empty());
}

TEST_F(SafetensorsTest, WritesAtomically) {
  std::string p = path("w.safetensors");
  ASSERT_TRUE(writeSafetensors(p, {{"a", {1}, {1}}}).ok());
  ASSERT_TRUE(writeSafetensors(p, {{"b", {2}, {2, 3}}}).ok());
  EXPECT_EQ(listDir(), std::vector<std::string>{"w.safetensors"});
  absl::StatusOr<std::vector<NamedTensor>> got = readSafetensors(p);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].name, "b");

  // A failed write leaves neither a partial file nor a temporary.
  std::string bad = path("no-such-dir/w.safetensors");
  absl::Status st = writeSafetensors(bad, {{"a", {1}, {1}}});
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(hasSubstr(st.message(), "cannot create"));
  EXPECT_EQ(listDir(), std::vector<std::string>{"w.safetensors"});

  // A directory is refused before anything is written.
  fs::create_directory(path("taken"));
  fs::create_directory(path("taken/inner"));
  st = writeSafetensors(path("taken"), {{"a", {1}, {1}}});
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(hasSubstr(st.message(), "is a directory"));
  EXPECT_EQ(listDir(), (std::vector<std::string>{"taken", "w.safetensors"}));
}

TEST(MatchTensors, ReportsFirstDifference) {
  std::vector<NamedTensor> loaded = {
      {"conv2d_1.kernel", {3, 3, 32, 16}, {}},
      {"dense.kernel", {10, 4}, {}},
      {"foo", {1}, {}},
  };
  absl::Status st =
      matchTensors("w.safetensors", loaded,
                   {{"conv2d_1.kernel", {3, 3, 32, 64}}, {"dense.bias", {4}}});
  EXPECT_EQ(st.message(), "w.safetensors: tensor 'conv2d_1.kernel' has shape "
                          "[3,3,32,16] but the model expects [3,3,32,64]");

  st = matchTensors("w.safetensors", loaded,
                    {{"conv2d_1.kernel", {3, 3, 32, 16}}, {"dense.bias", {4}}});
  EXPECT_EQ(st.message(),
            "w.safetensors: model tensor 'dense.bias' is missing");

  st = matchTensors(
      "w.safetensors", loaded,
      {{"conv2d_1.kernel", {3, 3, 32, 16}}, {"dense.kernel", {10, 4}}});
  EXPECT_EQ(st.message(), "w.safetensors: unexpected tensor 'foo'");

  st = matchTensors("w.safetensors", loaded,
                    {{"dense.kernel", {10, 4}},
                     {"foo", {1}},
                     {"conv2d_1.kernel", {3, 3, 32, 16}}});
  EXPECT_TRUE(st.ok()) << st;
}

} // namespace
} // namespace cnnc::runtime
