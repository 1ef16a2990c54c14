// Static memory planning: one arena holds every tensor of a graph.
#pragma once

#include "ir/Graph.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <cstdint>
#include <vector>

namespace cnnc::passes {

// Bounds that keep every offset and size sum far from int64 overflow: a
// type has at most 2^50 bytes (ir::kMaxElements f32s).
inline constexpr int64_t kMaxArenaBytes = int64_t(1) << 50;
inline constexpr int64_t kMaxAlignment = int64_t(1) << 20;

struct MemoryPlan {
  int64_t arenaBytes = 0;
  // Inputs (and, unless stored outside, params and state) sit at
  // [0, persistentBytes), each in its own slot for the whole program; temps
  // share the rest.
  int64_t persistentBytes = 0;
  // Per ValueId, bytes from the arena start; -1 for temps no op defines and
  // for params and state stored outside the arena.
  std::vector<int64_t> offsets;
  // Whether temps share storage (else each has a slot of its own).
  bool tempsShared = true;
};

// Places every value in one arena. Temps live from their defining op to
// their last use (graph outputs to the end) and share storage when their
// lifetimes are disjoint, so an op's results never overlap its operands or
// each other. A reshape (kAlias) result is its operand's storage, which then
// lives as long as either. Placement is greedy by size with best fit, so it
// is deterministic. Offsets and sizes are multiples of `alignment`.
// With paramsInArena false, params and state get no slot (offset -1): the
// caller keeps them elsewhere, e.g. shared between graphs.
// When all temps together take at most privateTempBytes, each gets a slot
// of its own instead (in value order): see kPrivateTempBytes.
// Fails, naming a value, when the arena would exceed kMaxArenaBytes or the
// alignment exceeds kMaxAlignment.
absl::StatusOr<MemoryPlan> planMemory(const ir::Graph &g,
                                      int64_t alignment = 64,
                                      bool paramsInArena = true,
                                      int64_t privateTempBytes = 0);

// The executor's privateTempBytes. A slot that two temps share is written
// by whichever threads write each of them: where the split of the work
// differs (other sizes, other axes), a thread's writes land on cache lines
// the other core holds, and each such line crosses between the cores every
// step. With a slot of its own, a temp's lines are written by the same
// threads every step. Measured on the tutorial's mixed_bfloat16 step, 2
// threads: 8 % shorter (docs/performance.md); so temps share storage only
// when they would take more than this.
inline constexpr int64_t kPrivateTempBytes = int64_t(16) << 20;

// Checks that every value that needs storage has it inside the arena
// (params and state, and reshapes of them, may be outside: offset -1), that
// alias results share their operand's offset, and that no two values that
// are live at the same time (and not aliases) overlap.
absl::Status verifyMemoryPlan(const ir::Graph &g, const MemoryPlan &plan);

} // namespace cnnc::passes
