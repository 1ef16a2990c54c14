#include "ir/Types.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cnnc::ir {

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  }
  return "?";
}

int64_t dtypeSize(DType) { return 4; }

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
