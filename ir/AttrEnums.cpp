#include "ir/AttrEnums.h"

namespace cnnc::ir {

const std::vector<std::string> &AttrEnum<FillMode>::names() {
  static const std::vector<std::string> n = {
#define FILL_MODE(Enum, Name) Name,
#include "ir/AttrEnums.def"
  };
  return n;
}

const std::vector<std::string> &AttrEnum<ResampleInterpolation>::names() {
  static const std::vector<std::string> n = {
#define INTERPOLATION(Enum, Name) Name,
#include "ir/AttrEnums.def"
  };
  return n;
}

const std::vector<std::string> &AttrEnum<FlipMode>::names() {
  static const std::vector<std::string> n = {
#define FLIP_MODE(Enum, Name) Name,
#include "ir/AttrEnums.def"
  };
  return n;
}

const std::vector<std::string> &AttrEnum<ComputeDtype>::names() {
  static const std::vector<std::string> n = {
#define COMPUTE_DTYPE(Enum, Name) Name,
#include "ir/AttrEnums.def"
  };
  return n;
}

ComputeDtype computeDtypeOf(const Attrs &attrs) {
  if (!attrs.has(AttrName::ComputeDtype))
    return ComputeDtype::Float32;
  return attrEnumOf<ComputeDtype>(attrs).value_or(ComputeDtype::Float32);
}

} // namespace cnnc::ir
