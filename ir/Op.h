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

// Attribute values: integers, floats, strings, integer lists.
using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

class Attrs {
public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, Attr>> init)
      : map_(init) {}

  void set(const std::string &name, Attr value) {
    map_[name] = std::move(value);
  }
  bool has(const std::string &name) const { return map_.count(name) != 0; }
  const std::map<std::string, Attr> &all() const { return map_; }

  // Typed getters; return the fallback when absent or of another type.
  int64_t getInt(const std::string &name, int64_t fallback = 0) const;
  double getFloat(const std::string &name, double fallback = 0) const;
  std::string getString(const std::string &name,
                        const std::string &fallback = "") const;
  std::vector<int64_t> getInts(const std::string &name) const;

  bool operator==(const Attrs &) const = default;

private:
  std::map<std::string, Attr> map_;
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
