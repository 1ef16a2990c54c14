#include "ir/Printer.h"

#include "ir/IrLexer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cnnc::ir {

namespace {

// A double-quoted string: '"' and '\\' escaped, other control characters as
// \XX (hex), so that every string reads back and stays on one line.
std::string quoteString(const std::string &v) {
  std::string out = "\"";
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\{:02X}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// %name, or %"name" for names the lexer would not read back whole.
std::string printSigilName(char sigil, const std::string &name) {
  std::string out(1, sigil);
  return out.append(isPlainIrName(name) ? name : quoteString(name));
}

// An attribute or output name: bare, or a string when it is not an
// identifier.
std::string printKey(const std::string &name) {
  return isBareIrName(name) ? name : quoteString(name);
}

} // namespace

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
      return quoteString(v);
    }
    std::string operator()(const std::vector<int64_t> &v) const {
      return fmt::format("[{}]", fmt::join(v, ", "));
    }
    std::string operator()(const std::vector<std::string> &v) const {
      std::vector<std::string> quoted;
      for (const std::string &s : v)
        quoted.push_back(quoteString(s));
      return fmt::format("[{}]", fmt::join(quoted, ", "));
    }
  };
  return std::visit(Visitor{}, a);
}

std::string printValueRef(const Graph &g, ValueId v) {
  return printSigilName('%', g.value(v).name);
}

namespace {

std::string printAttrs(const Attrs &attrs) {
  if (attrs.all().empty())
    return "";
  std::vector<std::string> parts;
  for (const auto &[name, value] : attrs.all())
    parts.push_back(
        fmt::format("{} = {}", printKey(attrName(name)), printAttr(value)));
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
  std::string out = fmt::format("graph {} {{\n", printSigilName('@', g.name()));
  for (size_t i = 0; i < g.values().size(); ++i) {
    const Value &v = g.values()[i];
    if (v.kind == ValueKind::Temp)
      continue;
    out +=
        fmt::format("  {} = {}{} : {}\n", printSigilName('%', v.name),
                    valueKindName(v.kind), printAttrs(v.attrs), v.type.str());
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
      outs.push_back(
          fmt::format("{} = {}", printKey(o.name), printValueRef(g, o.value)));
    out += fmt::format("  return {}\n", fmt::join(outs, ", "));
  }
  return out + "}\n";
}

} // namespace cnnc::ir
