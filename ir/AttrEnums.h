// Typed views of the enumerated string attributes (ir/AttrEnums.def).
#pragma once

#include "ir/Op.h"
#include "support/Text.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

enum class FillMode : uint8_t {
#define FILL_MODE(Enum, Name) Enum,
#include "ir/AttrEnums.def"
};
enum class ResampleInterpolation : uint8_t {
#define INTERPOLATION(Enum, Name) Enum,
#include "ir/AttrEnums.def"
};
enum class FlipMode : uint8_t {
#define FLIP_MODE(Enum, Name) Enum,
#include "ir/AttrEnums.def"
};
enum class ComputeDtype : uint8_t {
#define COMPUTE_DTYPE(Enum, Name) Enum,
#include "ir/AttrEnums.def"
};

// Each enumerated attribute: the attribute that holds it and its spellings
// in enum order.
template <typename E> struct AttrEnum;
template <> struct AttrEnum<FillMode> {
  static constexpr AttrName attr = AttrName::FillMode;
  static const std::vector<std::string> &names();
};
template <> struct AttrEnum<ResampleInterpolation> {
  static constexpr AttrName attr = AttrName::Interpolation;
  static const std::vector<std::string> &names();
};
template <> struct AttrEnum<FlipMode> {
  static constexpr AttrName attr = AttrName::Mode;
  static const std::vector<std::string> &names();
};

template <> struct AttrEnum<ComputeDtype> {
  static constexpr AttrName attr = AttrName::ComputeDtype;
  static const std::vector<std::string> &names();
};

template <typename E> std::optional<E> attrEnumFromName(std::string_view s) {
  const std::vector<std::string> &names = AttrEnum<E>::names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == s)
      return static_cast<E>(i);
  return std::nullopt;
}

template <typename E> const std::string &attrEnumName(E value) {
  return AttrEnum<E>::names()[static_cast<size_t>(value)];
}

// The attribute's value; nullopt when absent or not one of the names (the
// verifier rejects such an op).
template <typename E> std::optional<E> attrEnumOf(const Attrs &attrs) {
  return attrEnumFromName<E>(attrs.getString(AttrEnum<E>::attr));
}

// "reflect, wrap, constant or nearest", for messages.
template <typename E> std::string attrEnumChoices() {
  return support::orList(AttrEnum<E>::names());
}

// A contraction's compute_dtype: float32 when absent.
ComputeDtype computeDtypeOf(const Attrs &attrs);

} // namespace cnnc::ir
