#include "ir/FusedStages.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string_view>
#include <vector>

namespace cnnc::ir {

namespace {

struct StageInfo {
  const char *name;
  StagePosition position;
  uint64_t anchors;   // bit per OpKind
  uint32_t requires_; // bit per FusedStage
};

static_assert(kNumOpKinds <= 64, "anchor sets are 64-bit masks");

constexpr uint64_t anchorMask(std::initializer_list<OpKind> kinds) {
  uint64_t m = 0;
  for (OpKind k : kinds)
    m |= uint64_t{1} << static_cast<int>(k);
  return m;
}

constexpr uint32_t stageMask(std::initializer_list<FusedStage> stages) {
  uint32_t m = 0;
  for (FusedStage s : stages)
    m |= uint32_t{1} << static_cast<int>(s);
  return m;
}

#define CNNC_LIST(...) __VA_ARGS__
constexpr StageInfo kStages[] = {
#define STAGE(Enum, Name, Position, Anchors, Requires)                         \
  {Name, StagePosition::Position,                                              \
   [] {                                                                        \
     using enum OpKind;                                                        \
     return anchorMask({CNNC_LIST Anchors});                                   \
   }(),                                                                        \
   [] {                                                                        \
     using enum FusedStage;                                                    \
     return stageMask({CNNC_LIST Requires});                                   \
   }()},
#include "ir/FusedStages.def"
#undef STAGE
};
#undef CNNC_LIST
static_assert(std::size(kStages) <= 32, "stage sets are 32-bit masks");

const StageInfo &info(FusedStage s) { return kStages[static_cast<int>(s)]; }

AttrName attrFor(StagePosition p) {
  return p == StagePosition::Prologue ? AttrName::Prologue : AttrName::Epilogue;
}

} // namespace

const char *fusedStageName(FusedStage s) { return info(s).name; }
StagePosition fusedStagePosition(FusedStage s) { return info(s).position; }

bool stageTakenBy(FusedStage s, OpKind kind) {
  return (info(s).anchors & anchorMask({kind})) != 0;
}

absl::StatusOr<FusedStageSet> fusedStagesOf(OpKind kind, const Attrs &attrs) {
  auto fail = [&](const std::string &msg) {
    return absl::InvalidArgumentError(fmt::format("{}: {}", opName(kind), msg));
  };
  FusedStageSet set;
  for (StagePosition p : {StagePosition::Prologue, StagePosition::Epilogue}) {
    const char *attr = attrName(attrFor(p));
    int last = -1;
    for (const std::string &name : attrs.getStrings(attrFor(p))) {
      int found = -1;
      for (size_t i = 0; i < std::size(kStages); ++i)
        if (name == kStages[i].name)
          found = static_cast<int>(i);
      if (found < 0 || kStages[found].position != p ||
          !(kStages[found].anchors & anchorMask({kind})))
        return fail(fmt::format(
            "'{}' is not a stage of its {} (it takes "
            "{})",
            name, attr, [&] {
              std::vector<std::string> ok;
              for (const StageInfo &s : kStages)
                if (s.position == p && (s.anchors & anchorMask({kind})))
                  ok.push_back(s.name);
              return ok.empty() ? std::string("none")
                                : fmt::format("{}", fmt::join(ok, ", "));
            }()));
      if (found <= last)
        return fail(fmt::format("{} stage '{}' is repeated or out of order",
                                attr, name));
      last = found;
      set.add(static_cast<FusedStage>(found));
    }
  }
  for (size_t i = 0; i < std::size(kStages); ++i) {
    auto s = static_cast<FusedStage>(i);
    if (!set.has(s))
      continue;
    for (size_t r = 0; r < std::size(kStages); ++r)
      if ((kStages[i].requires_ >> r & 1) &&
          !set.has(static_cast<FusedStage>(r)))
        return fail(fmt::format("stage '{}' needs stage '{}'", kStages[i].name,
                                kStages[r].name));
  }
  return set;
}

FusedStageSet checkedFusedStages(OpKind kind, const Attrs &attrs) {
  absl::StatusOr<FusedStageSet> s = fusedStagesOf(kind, attrs);
  if (!s.ok()) {
    std::fprintf(stderr, "internal error: unverified fused op: %s\n",
                 std::string(s.status().message()).c_str());
    std::abort();
  }
  return *s;
}

void setFusedStages(Attrs &attrs, FusedStageSet stages) {
  for (StagePosition p : {StagePosition::Prologue, StagePosition::Epilogue}) {
    std::vector<std::string> names;
    for (size_t i = 0; i < std::size(kStages); ++i)
      if (kStages[i].position == p && stages.has(static_cast<FusedStage>(i)))
        names.push_back(kStages[i].name);
    if (names.empty())
      attrs.erase(attrFor(p));
    else
      attrs.set(attrFor(p), std::move(names));
  }
}

std::string opLabel(const Op &op) {
  std::vector<std::string> stages = op.attrs.getStrings(AttrName::Prologue);
  for (std::string &s : op.attrs.getStrings(AttrName::Epilogue))
    stages.push_back(std::move(s));
  if (stages.empty())
    return opName(op.kind);
  return fmt::format("{}({})", opName(op.kind), fmt::join(stages, ", "));
}

} // namespace cnnc::ir
