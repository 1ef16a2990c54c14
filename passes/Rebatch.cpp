#include "passes/Rebatch.h"

#include "absl/status/status.h"
#include <fmt/format.h>

namespace cnnc::passes {

absl::StatusOr<ir::Graph> rebatch(const ir::Graph &g, int64_t batch) {
  ir::ValueId x = g.findValue("x");
  if (x < 0 || g.type(x).rank() < 1)
    return absl::InvalidArgumentError("rebatch: the graph has no input %x");
  int64_t old = g.type(x).shape[0];
  ir::Graph out(g.name());
  std::vector<ir::ValueId> map(g.values().size(), -1);
  for (size_t v = 0; v < g.values().size(); ++v) {
    const ir::Value &val = g.values()[v];
    ir::TensorType t = val.type;
    switch (val.kind) {
    case ir::ValueKind::Input:
      // Per-example inputs carry the batch first; scalars (the step) don't.
      if (t.rank() > 0 && t.shape[0] == old)
        t.shape[0] = batch;
      map[v] = out.addInput(val.name, t);
      break;
    case ir::ValueKind::Param:
      map[v] = out.addParam(val.name, t, val.attrs);
      break;
    case ir::ValueKind::State:
      map[v] = out.addState(val.name, t);
      break;
    case ir::ValueKind::Temp:
      break;
    }
  }
  for (const ir::Op &op : g.ops()) {
    std::vector<ir::ValueId> operands;
    for (ir::ValueId o : op.operands)
      operands.push_back(map[o]);
    ir::Attrs attrs = op.attrs;
    for (ir::AttrName name : {ir::AttrName::Shape, ir::AttrName::InputShape}) {
      std::vector<int64_t> s = attrs.getInts(name);
      if (!s.empty() && s[0] == old) {
        s[0] = batch;
        attrs.set(name, s);
      }
    }
    std::vector<std::string> names;
    for (ir::ValueId r : op.results)
      names.push_back(g.value(r).name);
    auto results = out.create(op.kind, operands, attrs, op.loc, names);
    if (!results.ok())
      return absl::InvalidArgumentError(fmt::format(
          "rebatch to {}: {}", batch, std::string(results.status().message())));
    for (size_t i = 0; i < op.results.size(); ++i)
      map[op.results[i]] = (*results)[i];
  }
  // Shape rules check operands, not the size of what they make.
  for (const ir::Value &v : out.values())
    if (!v.type.isValid())
      return absl::InvalidArgumentError(
          fmt::format("rebatch to {}: %{} would have type {}, more than 2^48 "
                      "elements",
                      batch, v.name, v.type.str()));
  for (const ir::GraphOutput &o : g.outputs())
    out.addOutput(o.name, map[o.value]);
  return out;
}

} // namespace cnnc::passes
