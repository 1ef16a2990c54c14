// The optimizer's learning_rate as a schedule: cosine_decay(...),
// exponential_decay(...) and piecewise_constant_decay(...) with Keras 3's
// names, positional order and defaults (ir/Schedules.def).
#include "frontend/Binder.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace cnnc::frontend {

namespace {

using Kind = RawValue::Kind;

// Keras counts steps in int64; cnnc keeps them in the step's i32 range.
constexpr int64_t kMaxSteps = std::numeric_limits<int32_t>::max();

} // namespace

bool Binder::readSchedule(const RawValue &call, ir::ScheduleSpec &out) {
  std::optional<ir::ScheduleKind> kind;
  std::vector<std::string> names;
#define SCHEDULE(Enum, name)                                                   \
  names.push_back(name);                                                       \
  if (call.text == name)                                                       \
    kind = ir::ScheduleKind::Enum;
#include "ir/Schedules.def"
  if (!kind) {
    std::string list;
    for (const std::string &n : names)
      list += (list.empty() ? "" : ", ") + n;
    return fail(call.loc,
                fmt::format("unknown learning-rate schedule '{}' (expected "
                            "a number or one of: {})",
                            call.text, list));
  }
  out = ir::ScheduleSpec{};
  out.kind = *kind;
  std::vector<std::string> positional, known, required;
  switch (*kind) {
  case ir::ScheduleKind::CosineDecay:
    positional = {"initial_learning_rate", "decay_steps", "alpha"};
    known = {"initial_learning_rate", "decay_steps", "alpha", "warmup_target",
             "warmup_steps"};
    required = {"initial_learning_rate", "decay_steps"};
    break;
  case ir::ScheduleKind::ExponentialDecay:
    positional = {"initial_learning_rate", "decay_steps", "decay_rate",
                  "staircase"};
    known = positional;
    required = {"initial_learning_rate", "decay_steps", "decay_rate"};
    break;
  case ir::ScheduleKind::PiecewiseConstantDecay:
    positional = {"boundaries", "values"};
    known = positional;
    required = positional;
    break;
  }
  std::vector<RawArg> args = call.args;
  if (!namePositional(args, call.text, positional))
    return false;
  SourceLoc valuesLoc = call.loc;
  bool ok = forEachArg(
      args, call.text, call.loc, known, required, [&](const RawArg &a) {
        if (a.name == "initial_learning_rate")
          return readNumber(a, out.initialLearningRate, Range::NonNegative);
        if (a.name == "decay_steps")
          return readInt(a, out.decaySteps, 1, kMaxSteps);
        if (a.name == "alpha")
          return readNumber(a, out.alpha, Range::UnitClosed);
        if (a.name == "warmup_target") {
          out.hasWarmupTarget = true;
          return readNumber(a, out.warmupTarget, Range::NonNegative);
        }
        if (a.name == "warmup_steps")
          return readInt(a, out.warmupSteps, 0, kMaxSteps);
        if (a.name == "decay_rate")
          return readNumber(a, out.decayRate, Range::Positive);
        if (a.name == "staircase")
          return readBool(a, out.staircase);
        // boundaries, values: lists of numbers.
        const RawValue &v = a.value;
        if (v.kind != Kind::List || v.elements.empty())
          return fail(v.loc, fmt::format("{} expects a non-empty list of "
                                         "numbers, got {}",
                                         a.name, describe(v)));
        for (const RawValue &e : v.elements) {
          bool integral = e.kind == Kind::Int;
          if (!integral && e.kind != Kind::Float)
            return fail(e.loc, fmt::format("{} expects numbers, got {}", a.name,
                                           describe(e)));
          if (a.name == "values") {
            if (!(e.floatValue >= 0) || !std::isfinite(e.floatValue))
              return fail(e.loc, fmt::format("a learning rate must be at "
                                             "least 0, got {}",
                                             e.text));
            out.values.push_back(e.floatValue);
            continue;
          }
          if (!integral || e.intValue < 0 || e.intValue > kMaxSteps)
            return fail(e.loc, fmt::format("boundaries are step counts "
                                           "(integers from 0 to {}), got {}",
                                           kMaxSteps, e.text));
          if (!out.boundaries.empty() && e.intValue <= out.boundaries.back())
            return fail(e.loc, fmt::format("boundaries must increase, got "
                                           "{} after {}",
                                           e.intValue, out.boundaries.back()));
          out.boundaries.push_back(e.intValue);
        }
        if (a.name == "values")
          valuesLoc = v.loc;
        return true;
      });
  if (!ok)
    return false;
  if (out.kind == ir::ScheduleKind::PiecewiseConstantDecay &&
      out.boundaries.size() + 1 != out.values.size())
    return fail(valuesLoc,
                fmt::format("piecewise_constant_decay needs one value more "
                            "than boundaries, got {} boundaries and {} values",
                            out.boundaries.size(), out.values.size()));
  if (out.hasWarmupTarget == false && out.warmupSteps > 0)
    return fail(call.loc, "cosine_decay's warmup_steps needs a warmup_target "
                          "(Keras ignores the warmup without one)");
  return true;
}

} // namespace cnnc::frontend
