#include "passes/Pipeline.h"

#include "ir/Optimizers.h"

#include "passes/Autodiff.h"
#include "passes/BatchGroups.h"
#include "passes/DeadCode.h"
#include "passes/DtypePolicy.h"
#include "passes/EvalGraph.h"
#include "passes/FoldPacks.h"
#include "passes/FoldPoolGrad.h"
#include "passes/Fusion.h"
#include "passes/HoistConversions.h"
#include "passes/KGroups.h"
#include "passes/MemoryPlan.h"
#include "passes/Rebatch.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace cnnc::passes {

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

bool PassOptions::getBool(const std::string &name, bool fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second == "true";
}

int64_t PassOptions::getInt(const std::string &name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end())
    return fallback;
  int64_t v = fallback;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

double PassOptions::getFloat(const std::string &name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end())
    return fallback;
  double v = fallback;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

std::string PassOptions::getString(const std::string &name,
                                   const std::string &fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string PassInvocation::str() const {
  std::string out = pass ? pass->name : "?";
  if (options.all().empty())
    return out;
  std::vector<std::string> items;
  for (const auto &[k, v] : options.all())
    items.push_back(fmt::format("{}={}", k, v));
  return out + fmt::format("{{{}}}", fmt::join(items, " "));
}

namespace {

// Checks `value` against the option's kind; returns its normal spelling.
absl::StatusOr<std::string> checkValue(const PassInfo &pass,
                                       const PassOption &opt,
                                       std::string_view value) {
  auto bad = [&](const char *what) {
    return absl::InvalidArgumentError(
        fmt::format("pass '{}': option '{}' expects {}, got '{}'", pass.name,
                    opt.name, what, value));
  };
  const char *begin = value.data(), *end = value.data() + value.size();
  switch (opt.kind) {
  case PassOptionKind::Bool:
    if (value == "true" || value == "1")
      return std::string("true");
    if (value == "false" || value == "0")
      return std::string("false");
    return bad("true or false");
  case PassOptionKind::Int: {
    int64_t v;
    auto r = std::from_chars(begin, end, v);
    if (value.empty() || r.ec != std::errc() || r.ptr != end)
      return bad("an integer");
    return std::string(value);
  }
  case PassOptionKind::Float: {
    double v;
    auto r = std::from_chars(begin, end, v);
    if (value.empty() || r.ec != std::errc() || r.ptr != end ||
        !std::isfinite(v))
      return bad("a number");
    return std::string(value);
  }
  case PassOptionKind::Choice:
    for (const std::string &c : opt.choices)
      if (value == c)
        return c;
    return absl::InvalidArgumentError(
        fmt::format("pass '{}': option '{}' expects one of {}, got '{}'",
                    pass.name, opt.name, fmt::join(opt.choices, ", "), value));
  }
  return bad("a value");
}

bool isOptionSeparator(char c) {
  return c == ' ' || c == '\t' || c == ',' || c == '\n';
}

// ---------------------------------------------------------------------------
// autodiff
// ---------------------------------------------------------------------------

// The optimizer the autodiff options describe, with Keras's defaults;
// options that the optimizer does not take are errors, as in the DSL.
absl::StatusOr<ir::OptimizerSpec> optimizerSpec(const PassOptions &o) {
  // The option's Choice kind admits only the table's names.
  ir::OptimizerKind kind =
      ir::optimizerKindFromName(o.getString("optimizer", "adam"))
          .value_or(ir::OptimizerKind::Adam);
  ir::OptimizerSpec spec = ir::defaultOptimizerSpec(kind);
  std::vector<ir::OptimizerArg> args = ir::optimizerArgs(kind);
  std::vector<std::string> takes;
  for (const ir::OptimizerArg &a : args)
    takes.push_back(a.name);
  for (const auto &[name, value] : o.all()) {
    if (name == "optimizer" || name == "learning_rate")
      continue;
    if (std::find(takes.begin(), takes.end(), name) == takes.end())
      return absl::InvalidArgumentError(fmt::format(
          "option '{}' does not apply to "
          "optimizer {} (it takes learning_rate, {})",
          name, ir::optimizerInfo(kind).name, fmt::join(takes, ", ")));
  }
  spec.learningRate = o.getFloat("learning_rate", spec.learningRate);
  // A schedule may start at 0 (cosine_decay's warmup).
  if (!(spec.learningRate >= 0))
    return absl::InvalidArgumentError(fmt::format(
        "option 'learning_rate' must be >= 0, got {}", spec.learningRate));
  for (const ir::OptimizerArg &a : args) {
    if (a.flag) {
      spec.*a.flag = o.getBool(a.name, spec.*a.flag);
      continue;
    }
    double &v = spec.*a.number;
    v = o.getFloat(a.name, v);
    if (!ir::inRange(a.range, v))
      return absl::InvalidArgumentError(fmt::format(
          "option '{}' must be {}, got {}", a.name, ir::rangeText(a.range), v));
  }
  return spec;
}

absl::Status runAutodiff(ir::Graph &g, const PassOptions &o) {
  absl::StatusOr<ir::OptimizerSpec> opt = optimizerSpec(o);
  if (!opt.ok())
    return opt.status();
  ir::TrainingSpec spec;
  spec.optimizer = *opt;
  absl::StatusOr<ir::Graph> train = buildTrainingGraph(g, spec);
  if (!train.ok())
    return train.status();
  g = *std::move(train);
  return absl::OkStatus();
}

std::vector<PassOption> autodiffOptions() {
  using K = PassOptionKind;
  std::vector<PassOption> out = {
      {"optimizer", K::Choice, "adam", "the update rule", ir::optimizerNames()},
      {"learning_rate",
       K::Float,
       "",
       fmt::format("step size (default: {}, sgd {})",
                   ir::optimizerInfo(ir::OptimizerKind::Adam).learningRate,
                   ir::optimizerInfo(ir::OptimizerKind::SGD).learningRate),
       {}},
  };
  // One option per argument name; an argument of several optimizers names
  // them all in its help ("adam, rmsprop: denominator offset").
  ir::OptimizerSpec defaults;
  for (const ir::OptimizerArg &a : ir::optimizerArgs()) {
    auto same = std::find_if(out.begin(), out.end(), [&](const PassOption &p) {
      return p.name == a.name;
    });
    if (same != out.end()) {
      size_t colon = same->description.find(':');
      same->description.insert(
          colon, fmt::format(", {}", ir::optimizerInfo(a.optimizer).name));
      continue;
    }
    std::string def = a.flag ? (defaults.*a.flag ? "true" : "false")
                             : fmt::format("{}", defaults.*a.number);
    out.push_back(
        {a.name,
         a.flag ? K::Bool : K::Float,
         def,
         fmt::format("{}: {}", ir::optimizerInfo(a.optimizer).name, a.help),
         {}});
  }
  return out;
}

// ---------------------------------------------------------------------------
// memory-plan
// ---------------------------------------------------------------------------

absl::StatusOr<MemoryPlan> planAndCheck(const ir::Graph &g,
                                        const PassOptions &o) {
  auto plan = planMemory(g, o.getInt("alignment", 64),
                         o.getBool("params-in-arena", true),
                         o.getInt("private-temp-bytes", 0));
  if (!plan.ok())
    return plan.status();
  if (absl::Status s = verifyMemoryPlan(g, *plan); !s.ok())
    return s;
  return plan;
}

absl::Status checkAlignment(const PassOptions &o) {
  int64_t a = o.getInt("alignment", 64);
  if (a < 1 || a > (int64_t(1) << 20) || (a & (a - 1)) != 0)
    return absl::InvalidArgumentError(fmt::format(
        "option 'alignment' must be a power of two up to 2^20, got {}", a));
  return absl::OkStatus();
}

// One line per value that has storage, in the order the graph prints them
// (non-temps, then op results), so FileCheck can follow the text.
std::vector<std::string>
describePlan(const ir::Graph &g, const MemoryPlan &plan, int64_t alignment) {
  std::vector<std::string> lines;
  lines.push_back(fmt::format(
      "memory-plan: arena {} bytes, persistent {} bytes, alignment {}",
      plan.arenaBytes, plan.persistentBytes, alignment));
  auto describe = [&](ir::ValueId v) {
    std::string line = fmt::format("  {}: ", ir::printValueRef(g, v));
    int64_t offset = plan.offsets[v];
    if (offset < 0)
      line += "outside the arena";
    else
      line += fmt::format("offset {}, {} bytes", offset, g.type(v).byteSize());
    lines.push_back(std::move(line));
  };
  for (size_t v = 0; v < g.values().size(); ++v)
    if (g.values()[v].kind != ir::ValueKind::Temp)
      describe(static_cast<ir::ValueId>(v));
  for (const ir::Op &op : g.ops())
    for (ir::ValueId r : op.results)
      describe(r);
  return lines;
}

std::vector<PassOption> memoryPlanOptions() {
  return {
      {"alignment",
       PassOptionKind::Int,
       "64",
       "bytes every offset and size is a multiple of",
       {}},
      {"params-in-arena",
       PassOptionKind::Bool,
       "true",
       "place params and state in the arena (false: the caller keeps them)",
       {}},
      {"private-temp-bytes",
       PassOptionKind::Int,
       "0",
       "give every temp a slot of its own when all of them take at most "
       "this many bytes (the executor's: 16 MiB)",
       {}},
  };
}

// ---------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------

absl::Status checkBatch(const PassOptions &o) {
  if (!o.has("batch") || o.getInt("batch", 0) < 1)
    return absl::InvalidArgumentError(
        "option 'batch' must be given and positive");
  return absl::OkStatus();
}

// Adapts a graph-building pass to the in-place signature.
template <typename F> absl::Status replaceWith(ir::Graph &g, F build) {
  absl::StatusOr<ir::Graph> out = build(g);
  if (!out.ok())
    return out.status();
  g = *std::move(out);
  return absl::OkStatus();
}

// A pass without options that rewrites the graph and cannot fail.
PassInfo rewritePass(std::string name, std::string description,
                     void (*rewrite)(ir::Graph &)) {
  return {std::move(name),
          std::move(description),
          {},
          [=](ir::Graph &g, const PassOptions &, PassContext &) {
            rewrite(g);
            return absl::OkStatus();
          },
          nullptr};
}

// A pass whose one option, `groups` (2-64), is how many fixed groups it
// cuts sums into (batch-groups, k-groups).
PassInfo groupsPass(std::string name, std::string description, int64_t fallback,
                    std::string help, void (*split)(ir::Graph &, int64_t)) {
  return {std::move(name),
          std::move(description),
          {{"groups",
            PassOptionKind::Int,
            std::to_string(fallback),
            std::move(help),
            {}}},
          [=](ir::Graph &g, const PassOptions &o, PassContext &) {
            split(g, o.getInt("groups", fallback));
            return absl::OkStatus();
          },
          [=](const PassOptions &o) {
            int64_t groups = o.getInt("groups", fallback);
            if (groups < 2 || groups > 64)
              return absl::InvalidArgumentError(fmt::format(
                  "option 'groups' must be between 2 and 64, got {}", groups));
            return absl::OkStatus();
          }};
}

std::vector<PassInfo> makePasses() {
  std::vector<PassInfo> passes = {
      {"autodiff",
       "build the training graph: forward, loss, backward, optimizer updates",
       autodiffOptions(),
       [](ir::Graph &g, const PassOptions &o, PassContext &) {
         return runAutodiff(g, o);
       },
       [](const PassOptions &o) { return optimizerSpec(o).status(); }},
      {"train",
       "autodiff with its defaults (Keras's Adam); an older name",
       {},
       [](ir::Graph &g, const PassOptions &o, PassContext &) {
         return runAutodiff(g, o);
       },
       nullptr},
      {"eval",
       "build the evaluation graph (no dropout; loss and accuracy)",
       {},
       [](ir::Graph &g, const PassOptions &, PassContext &) {
         return replaceWith(g, buildEvalGraph);
       },
       nullptr},
      {"predict",
       "build the prediction graph (no dropout; probs)",
       {},
       [](ir::Graph &g, const PassOptions &, PassContext &) {
         return replaceWith(g, buildPredictGraph);
       },
       nullptr},
      {"dce",
       "remove ops that reach no output or update",
       {},
       [](ir::Graph &g, const PassOptions &, PassContext &) {
         eliminateDeadCode(g);
         return absl::OkStatus();
       },
       nullptr},
      {"rebatch",
       "re-specialize a forward graph to another batch size",
       {{"batch", PassOptionKind::Int, "", "the new batch size", {}}},
       [](ir::Graph &g, const PassOptions &o, PassContext &) {
         int64_t batch = o.getInt("batch", 0);
         return replaceWith(
             g, [batch](const ir::Graph &f) { return rebatch(f, batch); });
       },
       checkBatch},
      {"memory-plan",
       "lay out the arena, check it, and report every value's offset",
       memoryPlanOptions(),
       [](ir::Graph &g, const PassOptions &o, PassContext &ctx) {
         absl::StatusOr<MemoryPlan> plan = planAndCheck(g, o);
         if (!plan.ok())
           return plan.status();
         for (std::string &line :
              describePlan(g, *plan, o.getInt("alignment", 64)))
           ctx.notes.push_back(std::move(line));
         return absl::OkStatus();
       },
       checkAlignment},
      {"check-memory-plan",
       "lay out the arena and check it for overlaps (no report)",
       memoryPlanOptions(),
       [](ir::Graph &g, const PassOptions &o, PassContext &) {
         return planAndCheck(g, o).status();
       },
       checkAlignment},
      {"verify",
       "check the graph's structure and types",
       {},
       [](ir::Graph &g, const PassOptions &, PassContext &) {
         return ir::verifyGraph(g);
       },
       nullptr},
  };
  // ---- Passes of other stages register below (one entry each). ----
  passes.push_back(
      {"fusion",
       "fuse conv/dense + bias + activation (+ max pool), pool and relu "
       "gradients, filter and bias gradients (passes/Fusion.h)",
       {},
       [](ir::Graph &g, const PassOptions &, PassContext &) {
         return fuseOps(g);
       },
       nullptr});
  passes.push_back(
      {"dtype-policy",
       "give every convolution and matmul the policy's compute_dtype "
       "(passes/DtypePolicy.h)",
       {{"policy", PassOptionKind::Choice, "float32", "the Keras dtype policy",
         ir::dtypePolicyNames()},
        {"pairs",
         PassOptionKind::Bool,
         "false",
         "convolutions read bfloat16 pairs (for vdpbf16ps)",
         {}}},
       [](ir::Graph &g, const PassOptions &o, PassContext &) {
         // The option parser admits only the table's names.
         applyDtypePolicy(
             g,
             ir::dtypePolicyFromName(o.getString("policy", "float32"))
                 .value_or(ir::DtypePolicy::Float32),
             o.getBool("pairs", false));
         return absl::OkStatus();
       },
       nullptr});
  passes.push_back(
      rewritePass("hoist-conversions",
                  "move each conversion up to the op that writes its operand "
                  "and merge two packings of a value "
                  "(passes/HoistConversions.h)",
                  hoistConversions));
  passes.push_back(
      rewritePass("fold-packs",
                  "make each packing of a pooled convolution's result into "
                  "bfloat16 pairs the convolution's last stage "
                  "(passes/FoldPacks.h)",
                  foldPacks));
  passes.push_back(rewritePass(
      "fold-pool-grad",
      "make the packing into bfloat16 pairs and the bias gradient of a "
      "max_pool2d_argmax_grad's result stages of it (passes/FoldPoolGrad.h)",
      foldPoolGrad));
  passes.push_back(groupsPass(
      "batch-groups",
      "sum each filter gradient's and batch normalization's batch in fixed "
      "groups, one partial sum each, then add them (passes/BatchGroups.h)",
      kDefaultBatchGroups,
      "how many groups (a group per thread keeps each thread's reads in its "
      "own cache)",
      splitBatchGroups));
  passes.push_back(groupsPass(
      "k-groups",
      "sum each big dense kernel's forward matmul in fixed groups of its "
      "contraction, one partial product each, then add them "
      "(passes/KGroups.h)",
      kDefaultKGroups,
      "how many groups (a group per thread keeps each thread's reads of the "
      "kernel to the rows its optimizer update writes)",
      splitKGroups));
  return passes;
}

} // namespace

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = makePasses();
  return passes;
}

const PassInfo *findPass(const std::string &name) {
  for (const PassInfo &p : allPasses())
    if (p.name == name)
      return &p;
  return nullptr;
}

absl::StatusOr<PassInvocation> parsePassInvocation(std::string_view name,
                                                   std::string_view options) {
  const PassInfo *pass = findPass(std::string(name));
  if (!pass) {
    std::vector<std::string> names;
    for (const PassInfo &p : allPasses())
      names.push_back(p.name);
    return absl::NotFoundError(fmt::format("unknown pass '{}'; passes are {}",
                                           name, fmt::join(names, ", ")));
  }
  PassInvocation inv{pass, {}};
  size_t i = 0;
  while (i < options.size()) {
    if (isOptionSeparator(options[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < options.size() && !isOptionSeparator(options[end]))
      ++end;
    std::string_view item = options.substr(i, end - i);
    i = end;
    size_t eq = item.find('=');
    std::string key(item.substr(0, eq));
    const PassOption *decl = nullptr;
    for (const PassOption &o : pass->options)
      if (o.name == key)
        decl = &o;
    if (!decl) {
      std::vector<std::string> known;
      for (const PassOption &o : pass->options)
        known.push_back(o.name);
      return absl::InvalidArgumentError(fmt::format(
          "pass '{}': unknown option '{}'{}", pass->name, key,
          known.empty()
              ? std::string("; it takes no options")
              : fmt::format("; options are {}", fmt::join(known, ", "))));
    }
    if (inv.options.has(key))
      return absl::InvalidArgumentError(fmt::format(
          "pass '{}': option '{}' is given twice", pass->name, key));
    // A bare boolean option means true.
    std::string_view value =
        eq == std::string_view::npos
            ? (decl->kind == PassOptionKind::Bool ? "true" : "")
            : item.substr(eq + 1);
    absl::StatusOr<std::string> checked = checkValue(*pass, *decl, value);
    if (!checked.ok())
      return checked.status();
    inv.options.set(key, *std::move(checked));
  }
  if (pass->checkOptions)
    if (absl::Status s = pass->checkOptions(inv.options); !s.ok())
      return absl::Status(s.code(), fmt::format("pass '{}': {}", pass->name,
                                                std::string(s.message())));
  return inv;
}

absl::StatusOr<std::vector<PassInvocation>>
parsePassPipeline(std::string_view text) {
  std::vector<PassInvocation> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t end = i;
    while (end < text.size() && text[end] != ',' && text[end] != '{')
      ++end;
    std::string_view name = text.substr(i, end - i);
    while (!name.empty() && name.front() == ' ')
      name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ')
      name.remove_suffix(1);
    std::string_view options;
    if (end < text.size() && text[end] == '{') {
      size_t close = text.find('}', end);
      if (close == std::string_view::npos)
        return absl::InvalidArgumentError(fmt::format(
            "pass pipeline '{}': '{{' after '{}' is not closed", text, name));
      options = text.substr(end + 1, close - end - 1);
      end = close + 1;
      while (end < text.size() && text[end] == ' ')
        ++end;
      if (end < text.size() && text[end] != ',')
        return absl::InvalidArgumentError(fmt::format(
            "pass pipeline '{}': expected ',' after the options of '{}'", text,
            name));
    }
    if (name.empty())
      return absl::InvalidArgumentError(
          fmt::format("pass pipeline '{}': empty pass name", text));
    absl::StatusOr<PassInvocation> inv = parsePassInvocation(name, options);
    if (!inv.ok())
      return inv.status();
    out.push_back(*std::move(inv));
    i = end + 1;
  }
  return out;
}

absl::Status runPipeline(ir::Graph &g,
                         const std::vector<PassInvocation> &pipeline,
                         const PassInstrumentation &instrumentation,
                         PassContext &context) {
  for (const PassInvocation &inv : pipeline) {
    const std::string &name = inv.pass->name;
    if (instrumentation.beforePass)
      instrumentation.beforePass(inv, g);
    absl::Status s = inv.pass->run(g, inv.options, context);
    if (!s.ok())
      s = absl::Status(s.code(), fmt::format("pass '{}': {}", name,
                                             std::string(s.message())));
    else if (instrumentation.verifyEach)
      if (absl::Status v = ir::verifyGraph(g); !v.ok())
        s = absl::Status(v.code(), fmt::format("after pass '{}': {}", name,
                                               std::string(v.message())));
    if (!s.ok()) {
      if (instrumentation.afterPassFailed)
        instrumentation.afterPassFailed(inv, g, s);
      return s;
    }
    if (instrumentation.afterPass)
      instrumentation.afterPass(inv, g);
  }
  return absl::OkStatus();
}

absl::Status runPasses(ir::Graph &g, const std::vector<std::string> &names,
                       bool verifyEach) {
  std::vector<PassInvocation> pipeline;
  for (const std::string &name : names) {
    absl::StatusOr<std::vector<PassInvocation>> p = parsePassPipeline(name);
    if (!p.ok())
      return p.status();
    for (PassInvocation &inv : *p)
      pipeline.push_back(std::move(inv));
  }
  PassContext context;
  PassInstrumentation instrumentation;
  instrumentation.verifyEach = verifyEach;
  return runPipeline(g, pipeline, instrumentation, context);
}

} // namespace cnnc::passes
