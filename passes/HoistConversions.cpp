#include "passes/HoistConversions.h"

#include <algorithm>

namespace cnnc::passes {

namespace {

constexpr int64_t kMinMergedRow = 16;

bool isConversion(const ir::Op &op) {
  return (ir::opInfo(op.kind).flags & ir::kConversion) != 0;
}

// Whether `op` writes `v`: as a result, or as an operand it updates in place.
bool writes(const ir::Op &op, ir::ValueId v) {
  if (std::find(op.results.begin(), op.results.end(), v) != op.results.end())
    return true;
  if (!(ir::opInfo(op.kind).flags & ir::kWritesOperands))
    return false;
  for (size_t k = 0; k < op.operands.size(); ++k)
    if (op.operands[k] == v && ir::writesOperand(op.kind, k))
      return true;
  return false;
}

// Merges into ops[i] (a packing along one axis) a packing of the same value
// along the other end axis among the conversions that follow it: one kernel
// then reads the value once for both.
bool mergePackings(const ir::Graph &g, std::vector<ir::Op> &ops, size_t i) {
  ir::Op &first = ops[i];
  if (first.kind != ir::OpKind::PackBfloat16Pairs || first.results.size() != 1)
    return false;
  const ir::TensorType &t = g.type(first.operands[0]);
  int64_t last = t.rank() - 1;
  int64_t a = first.attrs.getInts(ir::AttrName::Axes).at(0);
  // The merged kernel packs rows of the last axis one at a time: short rows
  // (an image's single channel) pack faster apart, in long vectors.
  if (last < 1 || (a != 0 && a != last) || t.shape[last] < kMinMergedRow)
    return false;
  for (size_t j = i + 1; j < ops.size() && isConversion(ops[j]); ++j) {
    const ir::Op &other = ops[j];
    if (other.kind != ir::OpKind::PackBfloat16Pairs ||
        other.operands[0] != first.operands[0] || other.results.size() != 1 ||
        other.attrs.getInts(ir::AttrName::Axes).at(0) != last - a)
      continue;
    first.attrs.set(ir::AttrName::Axes, std::vector<int64_t>{a, last - a});
    first.results.push_back(other.results[0]);
    ops.erase(ops.begin() + static_cast<std::ptrdiff_t>(j));
    return true;
  }
  return false;
}

} // namespace

void hoistConversions(ir::Graph &g) {
  std::vector<ir::Op> ops;
  ops.reserve(g.ops().size());
  bool moved = false;
  for (const ir::Op &op : g.ops()) {
    if (!isConversion(op)) {
      ops.push_back(op);
      continue;
    }
    // After the last writer of the operand and after the conversions
    // already hoisted there, so that copies keep their relative order.
    size_t at = ops.size();
    while (at > 0 && !writes(ops[at - 1], op.operands[0]))
      --at;
    while (at < ops.size() && isConversion(ops[at]))
      ++at;
    moved = moved || at != ops.size();
    ops.insert(ops.begin() + static_cast<std::ptrdiff_t>(at), op);
  }
  for (size_t i = 0; i < ops.size(); ++i)
    moved = mergePackings(g, ops, i) || moved;
  if (moved)
    g.setOps(std::move(ops));
}

} // namespace cnnc::passes
