// The stages of fused ops (ir/FusedStages.def): a fused op is its anchor op
// (conv2d_fused: conv2d) plus a prologue and an epilogue, each a list of
// stages in table order, held in the op's `prologue` and `epilogue`
// attributes.
#pragma once

#include "ir/Op.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <initializer_list>
#include <string>

namespace cnnc::ir {

enum class FusedStage : uint8_t {
#define STAGE(Enum, Name, Position, Anchors, Requires) Enum,
#include "ir/FusedStages.def"
#undef STAGE
};

enum class StagePosition : uint8_t { Prologue, Epilogue };

// A fused op's stages; the table's order is their order, so a set.
class FusedStageSet {
public:
  constexpr FusedStageSet() = default;
  constexpr FusedStageSet(std::initializer_list<FusedStage> stages) {
    for (FusedStage s : stages)
      add(s);
  }
  constexpr void add(FusedStage s) { bits_ |= bit(s); }
  constexpr bool has(FusedStage s) const { return (bits_ & bit(s)) != 0; }
  // Number of stages present among `stages` (operand and result counts).
  constexpr int count(std::initializer_list<FusedStage> stages) const {
    int n = 0;
    for (FusedStage s : stages)
      n += has(s) ? 1 : 0;
    return n;
  }
  bool operator==(const FusedStageSet &) const = default;

private:
  static constexpr uint32_t bit(FusedStage s) {
    return 1u << static_cast<int>(s);
  }
  uint32_t bits_ = 0;
};

const char *fusedStageName(FusedStage s);
StagePosition fusedStagePosition(FusedStage s);
// Whether ops of `kind` take stage `s` (its row's anchors).
bool stageTakenBy(FusedStage s, OpKind kind);

// Reads and checks a fused op's `prologue` and `epilogue`: known names, each
// in its position, at most once, in table order, taken by `kind`, with what
// it requires. Messages start with the op's name, as shape rules' do.
absl::StatusOr<FusedStageSet> fusedStagesOf(OpKind kind, const Attrs &attrs);
// The same for an op the verifier has checked (an unchecked, invalid one is
// an internal error and aborts).
FusedStageSet checkedFusedStages(OpKind kind, const Attrs &attrs);
// Writes `stages` into the attributes (an empty list is left out).
void setFusedStages(Attrs &attrs, FusedStageSet stages);
// The op's name, with a fused op's stages: "conv2d_fused(bias_add,
// activation)" (profiles list kernels by it).
std::string opLabel(const Op &op);

} // namespace cnnc::ir
