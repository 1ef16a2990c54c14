// Operations, their attributes and source locations.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cnnc::ir {

enum class OpKind : uint16_t {
#define OP(Enum, Name, NumOperands, NumResults, Flags, Shape, Vjp, Cost, Emit) \
  Enum,
#include "ir/Ops.def"
#undef OP
};

enum OpFlags : unsigned {
  kPure = 0,
  kAlias = 1u << 0,
  kWritesOperands = 1u << 1,
  // A multiply-accumulate contraction (convolutions, matmuls): the ops a
  // dtype policy's compute_dtype applies to (ir/DtypePolicies.def).
  kContracts = 1u << 2,
  // Writes a copy of its one operand in another precision or layout and
  // reads nothing else (passes/HoistConversions.h moves it up to the op
  // that writes that operand).
  kConversion = 1u << 3,
};

struct OpInfo {
  const char *name;
  int numOperands; // -1: variadic
  int numResults;
  unsigned flags;
};

const OpInfo &opInfo(OpKind kind);
std::optional<OpKind> opKindFromName(std::string_view name);
inline const char *opName(OpKind kind) { return opInfo(kind).name; }
inline constexpr int kNumOpKinds = 0
#define OP(Enum, Name, NumOperands, NumResults, Flags, Shape, Vjp, Cost, Emit) \
  +1
#include "ir/Ops.def"
#undef OP
    ;

// Attribute names (ir/Attrs.def).
enum class AttrName : uint8_t {
#define ATTR(Enum, Name, Type) Enum,
#include "ir/Attrs.def"
#undef ATTR
};
enum class AttrType : uint8_t { Int, Float, String, Ints, Strings };

struct AttrInfo {
  const char *name;
  AttrType type;
};
inline constexpr AttrInfo kAttrInfos[] = {
#define ATTR(Enum, Name, Type) {Name, AttrType::Type},
#include "ir/Attrs.def"
#undef ATTR
};
// Whether `name` spells an attribute (usable in static_assert).
constexpr bool isAttrName(std::string_view name) {
  for (const AttrInfo &a : kAttrInfos)
    if (name == a.name)
      return true;
  return false;
}
const AttrInfo &attrInfo(AttrName name);
inline const char *attrName(AttrName name) { return attrInfo(name).name; }
std::optional<AttrName> attrNameFromString(std::string_view name);
const char *attrTypeName(AttrType type); // "an integer", ...

// Attribute values: integers, floats, strings, integer lists, string lists.
using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>,
                          std::vector<std::string>>;

// Whether `value` may be the value of an attribute of `type`.
bool attrHasType(const Attr &value, AttrType type);

class Attrs {
public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const AttrName, Attr>> init)
      : map_(init) {}

  void set(AttrName name, Attr value) { map_[name] = std::move(value); }
  bool has(AttrName name) const { return map_.count(name) != 0; }
  void erase(AttrName name) { map_.erase(name); }
  // In the order of their names (AttrName follows it).
  const std::map<AttrName, Attr> &all() const { return map_; }

  // Typed getters; return the fallback when absent or of another type.
  int64_t getInt(AttrName name, int64_t fallback = 0) const;
  double getFloat(AttrName name, double fallback = 0) const;
  std::string getString(AttrName name, const std::string &fallback = "") const;
  std::vector<int64_t> getInts(AttrName name) const;
  std::vector<std::string> getStrings(AttrName name) const;

  bool operator==(const Attrs &) const = default;

private:
  std::map<AttrName, Attr> map_;
};

struct Location {
  std::string file;
  int line = 0, col = 0;
  bool known() const { return line > 0; }
};

using ValueId = int32_t;

// Whether an in-place update op (kWritesOperands) writes its operand `k`:
// all but the gradient (operand 1) and adam_update's step (operand 4).
bool writesOperand(OpKind kind, size_t k);

struct Op {
  OpKind kind;
  std::vector<ValueId> operands;
  std::vector<ValueId> results;
  Attrs attrs;
  Location loc;
};

} // namespace cnnc::ir
