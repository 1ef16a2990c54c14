#include "ir/Printer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cnnc::ir {

std::string printAttr(const Attr &a) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    // Shortest text that reads back to the same double; always with a '.',
    // 'e', "inf" or "nan" so that the parser knows it is a float.
    std::string operator()(double v) const {
      std::string s = fmt::format("{}", v);
      if (s.find_first_of(".eEin") == std::string::npos)
        s += ".0";
      return s;
    }
    std::string operator()(const std::string &v) const {
      std::string out = "\"";
      for (char c : v) {
        if (c == '"' || c == '\\')
          out += '\\';
        out += c;
      }
      return out + "\"";
    }
    std::string operator()(const std::vector<int64_t> &v) const {
      return fmt::format("[{}]", fmt::join(v, ", "));
    }
  };
  return std::visit(Visitor{}, a);
}

std::string printValueRef(const Graph &g, ValueId v) {
  return "%" + g.value(v).name;
}

namespace {

std::string printAttrs(const Attrs &attrs) {
  if (attrs.all().empty())
    return "";
  std::vector<std::string> parts;
  for (const auto &[name, value] : attrs.all())
    parts.push_back(fmt::format("{} = {}", name, printAttr(value)));
  return fmt::format(" {{{}}}", fmt::join(parts, ", "));
}

std::string printLoc(const Location &loc) {
  if (!loc.known())
    return "";
  return fmt::format(" loc({}:{}:{})", printAttr(Attr(loc.file)), loc.line,
                     loc.col);
}

} // namespace

std::string printGraph(const Graph &g) {
  std::string out = fmt::format("graph @{} {{\n", g.name());
  for (size_t i = 0; i < g.values().size(); ++i) {
    const Value &v = g.values()[i];
    if (v.kind == ValueKind::Temp)
      continue;
    out += fmt::format("  %{} = {}{} : {}\n", v.name, valueKindName(v.kind),
                       printAttrs(v.attrs), v.type.str());
  }
  for (const Op &op : g.ops()) {
    std::vector<std::string> results, operands, types;
    for (ValueId r : op.results) {
      results.push_back(printValueRef(g, r));
      types.push_back(g.type(r).str());
    }
    for (ValueId o : op.operands)
      operands.push_back(printValueRef(g, o));
    out += "  ";
    if (!results.empty())
      out += fmt::format("{} = ", fmt::join(results, ", "));
    out += fmt::format("{}({}){}", opName(op.kind), fmt::join(operands, ", "),
                       printAttrs(op.attrs));
    if (!types.empty())
      out += fmt::format(" : {}", fmt::join(types, ", "));
    out += printLoc(op.loc) + "\n";
  }
  if (!g.outputs().empty()) {
    std::vector<std::string> outs;
    for (const GraphOutput &o : g.outputs())
      outs.push_back(fmt::format("{} = {}", o.name, printValueRef(g, o.value)));
    out += fmt::format("  return {}\n", fmt::join(outs, ", "));
  }
  return out + "}\n";
}

} // namespace cnnc::ir
