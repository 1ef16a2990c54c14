// Element types and static tensor types of the tensor IR.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::ir {

enum class DType : uint8_t { F32, I32 };

const char *dtypeName(DType t);
int64_t dtypeSize(DType t);

// The most elements a tensor type may have, so that sizes (elements times 4
// bytes) never overflow int64.
inline constexpr int64_t kMaxElements = int64_t(1) << 48;

// Every IR value has a static shape; a scalar has rank 0. Tensors are dense,
// row-major; images are NHWC.
struct TensorType {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numElements() const;
  int64_t byteSize() const { return numElements() * dtypeSize(dtype); }
  // Every dimension is at least 1 and there are at most kMaxElements.
  bool isValid() const;
  std::string str() const; // "f32[32,28,28,1]", "f32[]"
  bool operator==(const TensorType &) const = default;
};

inline TensorType f32(std::vector<int64_t> shape) {
  return {DType::F32, std::move(shape)};
}
inline TensorType i32(std::vector<int64_t> shape) {
  return {DType::I32, std::move(shape)};
}

std::string shapeStr(const std::vector<int64_t> &shape); // "[3,3,1,32]"

} // namespace cnnc::ir
