#include "ir/Op.h"

#include <iterator>
#include <string_view>

namespace cnnc::ir {

namespace {
const OpInfo kOpInfos[] = {
#define OP(Enum, Name, NumOperands, NumResults, Flags, Shape, Vjp, Cost, Emit) \
  {Name, NumOperands, NumResults, Flags},
#include "ir/Ops.def"
#undef OP
};
} // namespace

const OpInfo &opInfo(OpKind kind) { return kOpInfos[static_cast<int>(kind)]; }

bool writesOperand(OpKind kind, size_t k) {
  if (!(opInfo(kind).flags & kWritesOperands))
    return false;
  // The updates read operand 1 (the gradient), 2 (the learning rate) and
  // Adam's 5 (the step); moving_average_update reads its operand 1.
  switch (kind) {
  case OpKind::AdamUpdate:
    return k == 0 || k == 3 || k == 4;
  case OpKind::SgdUpdate:
  case OpKind::RmspropUpdate:
    return k == 0 || k == 3;
  default:
    return k != 1;
  }
}

std::optional<OpKind> opKindFromName(std::string_view name) {
  for (int i = 0; i < kNumOpKinds; ++i)
    if (name == kOpInfos[i].name)
      return static_cast<OpKind>(i);
  return std::nullopt;
}

namespace {
constexpr bool attrsSorted() {
  for (size_t i = 1; i < std::size(kAttrInfos); ++i)
    if (!(std::string_view(kAttrInfos[i - 1].name) <
          std::string_view(kAttrInfos[i].name)))
      return false;
  return true;
}
static_assert(attrsSorted(), "ir/Attrs.def: rows must be sorted by name");
} // namespace

const AttrInfo &attrInfo(AttrName name) {
  return kAttrInfos[static_cast<int>(name)];
}

std::optional<AttrName> attrNameFromString(std::string_view name) {
  for (size_t i = 0; i < std::size(kAttrInfos); ++i)
    if (name == kAttrInfos[i].name)
      return static_cast<AttrName>(i);
  return std::nullopt;
}

const char *attrTypeName(AttrType type) {
  switch (type) {
  case AttrType::Int:
    return "an integer";
  case AttrType::Float:
    return "a number";
  case AttrType::String:
    return "a string";
  case AttrType::Ints:
    return "a list of integers";
  case AttrType::Strings:
    return "a list of strings";
  }
  return "";
}

bool attrHasType(const Attr &value, AttrType type) {
  switch (type) {
  case AttrType::Int:
    return std::holds_alternative<int64_t>(value);
  case AttrType::Float:
    return std::holds_alternative<double>(value) ||
           std::holds_alternative<int64_t>(value);
  case AttrType::String:
    return std::holds_alternative<std::string>(value);
  case AttrType::Ints:
    return std::holds_alternative<std::vector<int64_t>>(value);
  case AttrType::Strings:
    return std::holds_alternative<std::vector<std::string>>(value);
  }
  return false;
}

int64_t Attrs::getInt(AttrName name, int64_t fallback) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return fallback;
  if (auto *v = std::get_if<int64_t>(&it->second))
    return *v;
  return fallback;
}

double Attrs::getFloat(AttrName name, double fallback) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return fallback;
  if (auto *v = std::get_if<double>(&it->second))
    return *v;
  if (auto *v = std::get_if<int64_t>(&it->second))
    return static_cast<double>(*v);
  return fallback;
}

std::string Attrs::getString(AttrName name, const std::string &fallback) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return fallback;
  if (auto *v = std::get_if<std::string>(&it->second))
    return *v;
  return fallback;
}

std::vector<int64_t> Attrs::getInts(AttrName name) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return {};
  if (auto *v = std::get_if<std::vector<int64_t>>(&it->second))
    return *v;
  return {};
}

std::vector<std::string> Attrs::getStrings(AttrName name) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return {};
  if (auto *v = std::get_if<std::vector<std::string>>(&it->second))
    return *v;
  return {};
}

} // namespace cnnc::ir
