// Element types and static tensor types of the tensor IR.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

enum class DType : uint8_t {
#define DTYPE(Enum, Name, Bytes, Fed) Enum,
#include "ir/DTypes.def"
#undef DTYPE
};

const char *dtypeName(DType t);
int64_t dtypeSize(DType t);
// Whether values other than op results may have it (ir/DTypes.def).
bool dtypeFed(DType t);
// The element type spelled `name` ("f32"), if any.
bool dtypeNamed(std::string_view name, DType &out);

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
inline TensorType bf16(std::vector<int64_t> shape) {
  return {DType::BF16, std::move(shape)};
}
inline TensorType f64(std::vector<int64_t> shape) {
  return {DType::F64, std::move(shape)};
}

// bfloat16 pairs: x's elements 2i and 2i+1 along `axis`, rounded to
// bfloat16, side by side in the last dimension (odd sizes padded with
// zero): f32[.., n, ..] -> bf16[.., ceil(n/2), .., 2]. Kernels that
// multiply bfloat16 pairs (vdpbf16ps) read each pair as one 32-bit word.
TensorType packedBfloat16Pairs(const TensorType &x, int64_t axis);
// The f32 type whose pairs `packed` holds along `axis` (its size there
// even, counting the padding), or nullopt when `packed` is no such type.
std::optional<TensorType> unpackedBfloat16Pairs(const TensorType &packed,
                                                int64_t axis);

std::string shapeStr(const std::vector<int64_t> &shape); // "[3,3,1,32]"

} // namespace cnnc::ir
