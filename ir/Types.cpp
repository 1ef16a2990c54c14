#include "ir/Types.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cnnc::ir {

namespace {

struct DTypeInfo {
  DType dtype;
  const char *name;
  int64_t bytes;
  bool fed;
};

constexpr DTypeInfo kDTypes[] = {
#define DTYPE(Enum, Name, Bytes, Fed) {DType::Enum, Name, Bytes, Fed != 0},
#include "ir/DTypes.def"
#undef DTYPE
};

const DTypeInfo &info(DType t) { return kDTypes[static_cast<size_t>(t)]; }

} // namespace

const char *dtypeName(DType t) { return info(t).name; }

int64_t dtypeSize(DType t) { return info(t).bytes; }

bool dtypeFed(DType t) { return info(t).fed; }

bool dtypeNamed(std::string_view name, DType &out) {
  for (const DTypeInfo &d : kDTypes)
    if (name == d.name) {
      out = d.dtype;
      return true;
    }
  return false;
}

TensorType packedBfloat16Pairs(const TensorType &x, int64_t axis) {
  std::vector<int64_t> s = x.shape;
  s[axis] = (s[axis] + 1) / 2;
  s.push_back(2);
  return bf16(std::move(s));
}

std::optional<TensorType> unpackedBfloat16Pairs(const TensorType &packed,
                                                int64_t axis) {
  if (packed.dtype != DType::BF16 || packed.rank() < 2 ||
      packed.shape.back() != 2 || axis < 0 || axis >= packed.rank() - 1)
    return std::nullopt;
  std::vector<int64_t> s(packed.shape.begin(), packed.shape.end() - 1);
  s[axis] *= 2;
  return f32(std::move(s));
}

int64_t TensorType::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

bool TensorType::isValid() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 1 || d > kMaxElements / n)
      return false;
    n *= d;
  }
  return true;
}

std::string shapeStr(const std::vector<int64_t> &shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

std::string TensorType::str() const {
  return std::string(dtypeName(dtype)) + shapeStr(shape);
}

} // namespace cnnc::ir
