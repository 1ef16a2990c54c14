#include "ir/Op.h"

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

int64_t Attrs::getInt(const std::string &name, int64_t fallback) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return fallback;
  if (auto *v = std::get_if<int64_t>(&it->second))
    return *v;
  return fallback;
}

double Attrs::getFloat(const std::string &name, double fallback) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return fallback;
  if (auto *v = std::get_if<double>(&it->second))
    return *v;
  if (auto *v = std::get_if<int64_t>(&it->second))
    return static_cast<double>(*v);
  return fallback;
}

std::string Attrs::getString(const std::string &name,
                             const std::string &fallback) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return fallback;
  if (auto *v = std::get_if<std::string>(&it->second))
    return *v;
  return fallback;
}

std::vector<int64_t> Attrs::getInts(const std::string &name) const {
  auto it = map_.find(name);
  if (it == map_.end())
    return {};
  if (auto *v = std::get_if<std::vector<int64_t>>(&it->second))
    return *v;
  return {};
}

} // namespace cnnc::ir
