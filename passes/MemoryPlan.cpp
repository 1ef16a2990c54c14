#include "passes/MemoryPlan.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace cnnc::passes {

using ir::Graph;
using ir::ValueId;
using ir::ValueKind;

namespace {

// Op indices [start, end] during which a value's storage must hold it.
struct Lifetime {
  int64_t start, end;
  bool overlaps(const Lifetime &o) const {
    return start <= o.end && o.start <= end;
  }
};

bool needsStorage(const ir::Value &v) {
  return v.kind != ValueKind::Temp || v.definingOp >= 0;
}

// Lifetime of each value on its own: persistent values span the program
// (-1 .. numOps), a temp its defining op to its last use, outputs to numOps.
std::vector<Lifetime> valueLifetimes(const Graph &g) {
  int64_t n = static_cast<int64_t>(g.ops().size());
  std::vector<Lifetime> life(g.values().size(), Lifetime{-1, n});
  for (size_t i = 0; i < g.values().size(); ++i) {
    const ir::Value &v = g.values()[i];
    if (v.kind == ValueKind::Temp)
      life[i] = {v.definingOp, v.definingOp};
  }
  for (int64_t i = 0; i < n; ++i)
    for (ValueId v : g.ops()[i].operands)
      life[v].end = std::max(life[v].end, i);
  for (const ir::GraphOutput &o : g.outputs())
    life[o.value].end = n;
  return life;
}

// The value whose storage `v` uses: itself, or for an alias op's result the
// root of its operand.
std::vector<ValueId> aliasRoots(const Graph &g) {
  std::vector<ValueId> root(g.values().size());
  for (size_t i = 0; i < root.size(); ++i)
    root[i] = static_cast<ValueId>(i);
  for (const ir::Op &op : g.ops())
    if (ir::opInfo(op.kind).flags & ir::kAlias)
      root[op.results[0]] = root[op.operands[0]];
  return root;
}

int64_t alignUp(int64_t x, int64_t a) { return (x + a - 1) / a * a; }

absl::Status tooBig(const ir::Value &v) {
  return absl::ResourceExhaustedError(fmt::format(
      "the arena would exceed 2^50 bytes with %{} ({})", v.name, v.type.str()));
}

} // namespace

absl::StatusOr<MemoryPlan> planMemory(const Graph &g, int64_t alignment,
                                      bool paramsInArena,
                                      int64_t privateTempBytes) {
  if (alignment > kMaxAlignment)
    return absl::InvalidArgumentError(
        fmt::format("memory plan alignment {} is above 2^20 bytes", alignment));
  alignment = std::max<int64_t>(alignment, 1);
  const auto &values = g.values();
  MemoryPlan plan;
  plan.offsets.assign(values.size(), -1);
  auto slotSize = [&](ValueId v) {
    return alignUp(std::max<int64_t>(values[v].type.byteSize(), 1), alignment);
  };

  // Persistent values first, in ValueId order.
  int64_t top = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].kind == ValueKind::Input ||
        (paramsInArena && values[i].kind != ValueKind::Temp)) {
      // Slots are at most 2^50 bytes (2^48 elements, aligned to at most
      // 2^20), so checking after each one keeps every sum far from overflow.
      plan.offsets[i] = top;
      top += slotSize(static_cast<ValueId>(i));
      if (top > kMaxArenaBytes)
        return tooBig(values[i]);
    }
  plan.persistentBytes = top;

  // Temps: one block per alias root, living as long as any of its aliases.
  std::vector<ValueId> root = aliasRoots(g);
  std::vector<Lifetime> life = valueLifetimes(g);
  struct Block {
    ValueId root;
    int64_t size;
    Lifetime life;
    int64_t offset = -1;
  };
  std::vector<Block> blocks;
  std::vector<int> blockOf(values.size(), -1);
  for (size_t i = 0; i < values.size(); ++i) {
    ValueId r = root[i];
    if (!needsStorage(values[i]) || values[r].kind != ValueKind::Temp)
      continue;
    if (blockOf[r] < 0) {
      blockOf[r] = static_cast<int>(blocks.size());
      blocks.push_back({r, slotSize(r), life[r]});
    }
    Block &b = blocks[blockOf[r]];
    b.life.start = std::min(b.life.start, life[i].start);
    b.life.end = std::max(b.life.end, life[i].end);
  }

  int64_t allTemps = 0;
  for (const Block &b : blocks)
    allTemps = std::min(allTemps + b.size, kMaxArenaBytes + 1);
  plan.tempsShared = allTemps > privateTempBytes;
  int64_t tempBytes = 0;
  if (!plan.tempsShared) {
    // A slot of its own for every temp, in value order.
    for (Block &b : blocks) {
      b.offset = tempBytes;
      tempBytes += b.size;
      if (plan.persistentBytes + tempBytes > kMaxArenaBytes)
        return tooBig(values[b.root]);
    }
  }

  // Greedy by size: big blocks first, each in the smallest gap between the
  // blocks already placed that overlap it in time, or above them all.
  std::vector<int> order(plan.tempsShared ? blocks.size() : 0);
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::make_tuple(-blocks[a].size, blocks[a].life.start) <
           std::make_tuple(-blocks[b].size, blocks[b].life.start);
  });
  std::vector<int> placed;
  for (int bi : order) {
    Block &b = blocks[bi];
    std::vector<std::pair<int64_t, int64_t>> busy; // [begin, end) bytes
    for (int pi : placed)
      if (blocks[pi].life.overlaps(b.life))
        busy.push_back(
            {blocks[pi].offset, blocks[pi].offset + blocks[pi].size});
    std::sort(busy.begin(), busy.end());
    int64_t best = -1, bestGap = 0, cursor = 0;
    for (const auto &[begin, end] : busy) {
      int64_t gap = begin - cursor;
      if (gap >= b.size && (best < 0 || gap < bestGap)) {
        best = cursor;
        bestGap = gap;
      }
      cursor = std::max(cursor, end);
    }
    b.offset = best >= 0 ? best : cursor;
    if (plan.persistentBytes + b.offset + b.size > kMaxArenaBytes)
      return tooBig(values[b.root]);
    tempBytes = std::max(tempBytes, b.offset + b.size);
    placed.push_back(bi);
  }

  for (size_t i = 0; i < values.size(); ++i) {
    ValueId r = root[i];
    if (!needsStorage(values[i]))
      continue;
    if (values[r].kind != ValueKind::Temp)
      plan.offsets[i] = plan.offsets[r];
    else
      plan.offsets[i] = plan.persistentBytes + blocks[blockOf[r]].offset;
  }
  plan.arenaBytes = plan.persistentBytes + tempBytes;
  return plan;
}

absl::Status verifyMemoryPlan(const Graph &g, const MemoryPlan &plan) {
  const auto &values = g.values();
  if (plan.offsets.size() != values.size())
    return absl::InvalidArgumentError(
        fmt::format("memory plan has {} offsets for {} values",
                    plan.offsets.size(), values.size()));
  std::vector<ValueId> root = aliasRoots(g);
  auto external = [&](size_t i) {
    ValueKind k = values[root[i]].kind;
    return plan.offsets[i] < 0 &&
           (k == ValueKind::Param || k == ValueKind::State);
  };
  for (size_t i = 0; i < values.size(); ++i) {
    int64_t off = plan.offsets[i];
    if (!needsStorage(values[i]) || external(i))
      continue;
    if (off < 0 || off + values[i].type.byteSize() > plan.arenaBytes)
      return absl::InvalidArgumentError(
          fmt::format("value %{} has no storage inside the {}-byte arena",
                      values[i].name, plan.arenaBytes));
  }
  for (const ir::Op &op : g.ops())
    if ((ir::opInfo(op.kind).flags & ir::kAlias) &&
        plan.offsets[op.results[0]] != plan.offsets[op.operands[0]])
      return absl::InvalidArgumentError(fmt::format(
          "{} result %{} does not share the storage of %{}", opName(op.kind),
          values[op.results[0]].name, values[op.operands[0]].name));

  // Each value on its own lifetime: an alias must not be overwritten while
  // it is live even after its root's last use.
  std::vector<Lifetime> life = valueLifetimes(g);
  std::vector<ValueId> stored;
  for (size_t i = 0; i < values.size(); ++i)
    if (needsStorage(values[i]) && plan.offsets[i] >= 0)
      stored.push_back(static_cast<ValueId>(i));
  // Sweep in address order; only pairs that overlap in bytes are compared.
  std::sort(stored.begin(), stored.end(), [&](ValueId a, ValueId b) {
    return plan.offsets[a] < plan.offsets[b];
  });
  for (size_t i = 0; i < stored.size(); ++i) {
    ValueId a = stored[i];
    int64_t endA = plan.offsets[a] + values[a].type.byteSize();
    for (size_t j = i + 1; j < stored.size(); ++j) {
      ValueId b = stored[j];
      if (plan.offsets[b] >= endA)
        break;
      if (root[a] == root[b] || !life[a].overlaps(life[b]))
        continue;
      return absl::InvalidArgumentError(fmt::format(
          "values %{} and %{} are live at the same time (op #{}) but share "
          "arena bytes",
          values[a].name, values[b].name,
          std::max(life[a].start, life[b].start)));
    }
  }
  return absl::OkStatus();
}

} // namespace cnnc::passes
