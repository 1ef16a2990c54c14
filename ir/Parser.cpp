// The IR parser works in three steps: syntax (tokens to statements, each
// with its text position), names (every %ref resolved to one definition, in
// order) and, optionally, the verifier, whose first failing op is found by
// verifying growing prefixes of the op list, so that its error points at
// that op's line.
#include "ir/Parser.h"

#include "ir/IrLexer.h"
#include "ir/Verifier.h"
#include "support/Text.h"

#include "absl/status/status.h"
#include <fmt/format.h>

#include <charconv>
#include <climits>
#include <map>
#include <optional>
#include <variant>

namespace cnnc::ir {

namespace {

struct Ref {
  std::string name;
  TextPos pos;
};

struct DeclStmt {
  Ref name;
  ValueKind kind;
  Attrs attrs;
  TensorType type;
};

struct OpStmt {
  TextPos pos;
  std::vector<Ref> results;
  OpKind kind;
  std::vector<Ref> operands;
  Attrs attrs;
  std::vector<TensorType> types;
  Location loc;
};

struct OutputStmt {
  std::string name;
  TextPos pos;
  Ref value;
};

struct GraphSyntax {
  std::string name;
  TextPos pos;
  std::vector<std::variant<DeclStmt, OpStmt>> body;
  TextPos returnPos;
  std::vector<OutputStmt> outputs;
};

// Recursive descent over the token stream. Each parse method returns false
// after recording the first error, as MLIR's ParseResult does.
class SyntaxParser {
public:
  SyntaxParser(std::string_view text, const std::string &file, int firstLine)
      : lex_(text, firstLine), file_(file) {
    tok_ = lex_.next();
  }

  bool parseGraph(GraphSyntax &g);
  const absl::Status &status() const { return status_; }

private:
  void consume() { tok_ = lex_.next(); }
  bool is(IrToken kind) const { return tok_.kind == kind; }
  bool isKeyword(std::string_view word) const {
    return is(IrToken::BareId) && tok_.text == word;
  }
  bool error(TextPos pos, const std::string &message);
  // Reports "expected X, got Y" at the current token (or its lexer error).
  bool expected(const std::string &what);
  bool expect(IrToken kind, const char *context);

  bool parseStatement(GraphSyntax &g);
  bool parseDecl(std::vector<Ref> names, ValueKind kind, GraphSyntax &g);
  bool parseOp(TextPos start, std::vector<Ref> results, GraphSyntax &g);
  bool parseReturn(GraphSyntax &g);
  bool parseType(TensorType &type);
  bool parseAttrDict(Attrs &attrs);
  bool parseAttrValue(Attr &value);
  bool parseLoc(Location &loc);
  bool parseInt(int64_t &value, const char *what);
  bool parseFloat(double &value);
  // An attribute or output name: a bare identifier or a string.
  bool parseName(std::string &name, const char *what);

  IrLexer lex_;
  IrTok tok_;
  const std::string &file_;
  absl::Status status_;
};

bool SyntaxParser::error(TextPos pos, const std::string &message) {
  if (status_.ok()) {
    std::string text =
        fmt::format("{}:{}:{}: error: ", file_, pos.line, pos.col);
    // Messages quote tokens, whose text may hold decoded escapes: control
    // bytes are shown escaped so that an error stays one line.
    text += support::escapeControlBytes(message);
    status_ = absl::InvalidArgumentError(text);
  }
  return false;
}

bool SyntaxParser::expected(const std::string &what) {
  if (is(IrToken::Error))
    return error(tok_.pos, tok_.text);
  std::string got = irTokenName(tok_.kind);
  if (is(IrToken::BareId) || is(IrToken::Int) || is(IrToken::Float))
    got = fmt::format("'{}'", tok_.text);
  else if (is(IrToken::ValueRef) || is(IrToken::GraphRef))
    got = fmt::format("'{}{}'", is(IrToken::ValueRef) ? '%' : '@', tok_.text);
  return error(tok_.pos, fmt::format("expected {}, got {}", what, got));
}

bool SyntaxParser::expect(IrToken kind, const char *context) {
  if (!is(kind))
    return expected(fmt::format("{} {}", irTokenName(kind), context));
  consume();
  return true;
}

bool SyntaxParser::parseGraph(GraphSyntax &g) {
  if (!isKeyword("graph"))
    return expected("'graph'");
  g.pos = tok_.pos;
  consume();
  if (!is(IrToken::GraphRef))
    return expected("a graph name '@name'");
  g.name = tok_.text;
  consume();
  if (!expect(IrToken::LBrace, "to open the graph body"))
    return false;
  while (!is(IrToken::RBrace)) {
    if (isKeyword("return")) {
      if (!parseReturn(g))
        return false;
      if (!is(IrToken::RBrace))
        return expected("'}' after the return statement");
      break;
    }
    if (!parseStatement(g))
      return false;
  }
  consume();
  if (!is(IrToken::Eof))
    return expected("end of input after the graph");
  return true;
}

// A value declaration `%v = input|param|state ...` or an op, with or
// without results.
bool SyntaxParser::parseStatement(GraphSyntax &g) {
  TextPos start = tok_.pos;
  std::vector<Ref> results;
  if (is(IrToken::ValueRef)) {
    while (true) {
      if (!is(IrToken::ValueRef))
        return expected("a result name '%name'");
      results.push_back({tok_.text, tok_.pos});
      consume();
      if (!is(IrToken::Comma))
        break;
      consume();
    }
    if (!expect(IrToken::Equal, "after the result names"))
      return false;
  } else if (!is(IrToken::BareId)) {
    return expected("a value definition, an op or 'return'");
  }
  if (!is(IrToken::BareId))
    return expected("a value kind or an op name");
  for (ValueKind kind : {ValueKind::Input, ValueKind::Param, ValueKind::State})
    if (tok_.text == valueKindName(kind))
      return parseDecl(std::move(results), kind, g);
  if (tok_.text == valueKindName(ValueKind::Temp))
    return error(tok_.pos, "a temp is defined by an op, not declared");
  return parseOp(start, std::move(results), g);
}

bool SyntaxParser::parseDecl(std::vector<Ref> names, ValueKind kind,
                             GraphSyntax &g) {
  if (names.size() != 1)
    return error(tok_.pos, fmt::format("'{}' declares exactly one value, got "
                                       "{} names",
                                       valueKindName(kind), names.size()));
  consume();
  DeclStmt d{std::move(names[0]), kind, {}, {}};
  if (is(IrToken::LBrace) && !parseAttrDict(d.attrs))
    return false;
  if (!expect(IrToken::Colon, "before the value's type") || !parseType(d.type))
    return false;
  g.body.push_back(std::move(d));
  return true;
}

bool SyntaxParser::parseOp(TextPos start, std::vector<Ref> results,
                           GraphSyntax &g) {
  std::optional<OpKind> kind = opKindFromName(tok_.text);
  if (!kind)
    return error(tok_.pos, fmt::format("unknown op '{}'", tok_.text));
  consume();
  OpStmt op{start, std::move(results), *kind, {}, {}, {}, {}};
  if (!expect(IrToken::LParen, "after the op name"))
    return false;
  if (!is(IrToken::RParen)) {
    while (true) {
      if (!is(IrToken::ValueRef))
        return expected("an operand '%name'");
      op.operands.push_back({tok_.text, tok_.pos});
      consume();
      if (!is(IrToken::Comma))
        break;
      consume();
    }
  }
  if (!expect(IrToken::RParen, "after the operands"))
    return false;
  if (is(IrToken::LBrace) && !parseAttrDict(op.attrs))
    return false;
  if (is(IrToken::Colon)) {
    TextPos colon = tok_.pos;
    consume();
    while (true) {
      TensorType t;
      if (!parseType(t))
        return false;
      op.types.push_back(std::move(t));
      if (!is(IrToken::Comma))
        break;
      consume();
    }
    if (op.types.size() != op.results.size())
      return error(colon, fmt::format("{} result name{} but {} result type{}",
                                      op.results.size(),
                                      op.results.size() == 1 ? "" : "s",
                                      op.types.size(),
                                      op.types.size() == 1 ? "" : "s"));
  } else if (!op.results.empty()) {
    return expected("':' and the result types");
  }
  if (isKeyword("loc") && !parseLoc(op.loc))
    return false;
  g.body.push_back(std::move(op));
  return true;
}

bool SyntaxParser::parseReturn(GraphSyntax &g) {
  g.returnPos = tok_.pos;
  consume();
  if (is(IrToken::RBrace))
    return true;
  while (true) {
    OutputStmt out;
    out.pos = tok_.pos;
    if (!parseName(out.name, "an output 'name = %value' or '}'") ||
        !expect(IrToken::Equal, "after the output name"))
      return false;
    if (!is(IrToken::ValueRef))
      return expected("the output's value '%name'");
    out.value = {tok_.text, tok_.pos};
    consume();
    g.outputs.push_back(std::move(out));
    if (!is(IrToken::Comma))
      return true;
    consume();
  }
}

// "'f32[...]', 'i32[...]', ... or 'f64[...]'": every element type.
std::string typeChoices() {
  std::vector<std::string> names;
#define DTYPE(Enum, Name, Bytes, Fed)                                          \
  names.push_back(fmt::format("'{}[...]'", Name));
#include "ir/DTypes.def"
#undef DTYPE
  return support::orList(names);
}

bool SyntaxParser::parseType(TensorType &type) {
  if (!is(IrToken::BareId) || !dtypeNamed(tok_.text, type.dtype))
    return expected(fmt::format("a type ({})", typeChoices()));
  consume();
  if (!expect(IrToken::LBracket, "after the element type"))
    return false;
  int64_t elements = 1;
  while (!is(IrToken::RBracket)) {
    if (!type.shape.empty() && !expect(IrToken::Comma, "between dimensions"))
      return false;
    TextPos at = tok_.pos;
    int64_t d;
    if (!parseInt(d, "a dimension"))
      return false;
    if (d < 1)
      return error(at, fmt::format("dimension {} is not positive", d));
    if (d > kMaxElements / elements)
      return error(at, "tensor type has too many elements");
    elements *= d;
    type.shape.push_back(d);
  }
  consume();
  return true;
}

bool SyntaxParser::parseAttrDict(Attrs &attrs) {
  consume(); // '{'
  while (!is(IrToken::RBrace)) {
    if (!attrs.all().empty() && !expect(IrToken::Comma, "between attributes"))
      return false;
    TextPos at = tok_.pos;
    std::string name;
    if (!parseName(name, "an attribute name"))
      return false;
    Attr value;
    if (!expect(IrToken::Equal, "after the attribute name") ||
        !parseAttrValue(value))
      return false;
    // After the value, so that its syntax errors come first.
    std::optional<AttrName> known = attrNameFromString(name);
    if (!known)
      return error(at, fmt::format("unknown attribute '{}'", name));
    if (attrs.has(*known))
      return error(at, fmt::format("attribute '{}' is given twice", name));
    attrs.set(*known, std::move(value));
  }
  consume();
  return true;
}

bool SyntaxParser::parseAttrValue(Attr &value) {
  if (is(IrToken::Int)) {
    int64_t v;
    if (!parseInt(v, "an integer"))
      return false;
    value = v;
    return true;
  }
  if (is(IrToken::Float) || isKeyword("inf") || isKeyword("nan")) {
    double v;
    if (!parseFloat(v))
      return false;
    value = v;
    return true;
  }
  if (is(IrToken::String)) {
    value = tok_.text;
    consume();
    return true;
  }
  if (!is(IrToken::LBracket))
    return expected("an attribute value (integer, float, string, integer "
                    "list or string list)");
  consume();
  // The first element decides the list's type; [] is an integer list.
  if (is(IrToken::String)) {
    std::vector<std::string> list;
    while (!is(IrToken::RBracket)) {
      if (!list.empty() && !expect(IrToken::Comma, "between list elements"))
        return false;
      if (!is(IrToken::String))
        return expected("a string list element");
      list.push_back(tok_.text);
      consume();
    }
    consume();
    value = std::move(list);
    return true;
  }
  std::vector<int64_t> list;
  while (!is(IrToken::RBracket)) {
    if (!list.empty() && !expect(IrToken::Comma, "between list elements"))
      return false;
    int64_t v;
    if (!parseInt(v, "an integer list element"))
      return false;
    list.push_back(v);
  }
  consume();
  value = std::move(list);
  return true;
}

bool SyntaxParser::parseLoc(Location &loc) {
  consume(); // 'loc'
  if (!expect(IrToken::LParen, "after 'loc'"))
    return false;
  if (!is(IrToken::String))
    return expected("the location's file name string");
  loc.file = tok_.text;
  consume();
  for (int *part : {&loc.line, &loc.col}) {
    if (!expect(IrToken::Colon, "in the location"))
      return false;
    TextPos at = tok_.pos;
    int64_t v;
    if (!parseInt(v, "a line or column number"))
      return false;
    // Lines and columns count from 1; the printer omits unknown locations,
    // so a 0 here could not round-trip.
    if (v < 1 || v > INT_MAX)
      return error(at, "line or column number out of range (1 to 2147483647)");
    *part = static_cast<int>(v);
  }
  return expect(IrToken::RParen, "to close the location");
}

bool SyntaxParser::parseInt(int64_t &value, const char *what) {
  if (!is(IrToken::Int))
    return expected(what);
  const std::string &s = tok_.text;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size())
    return error(tok_.pos, fmt::format("integer {} is out of range", s));
  consume();
  return true;
}

bool SyntaxParser::parseFloat(double &value) {
  const std::string &s = tok_.text;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size())
    return error(tok_.pos, fmt::format("float {} is out of range", s));
  consume();
  return true;
}

bool SyntaxParser::parseName(std::string &name, const char *what) {
  if (!is(IrToken::BareId) && !is(IrToken::String))
    return expected(what);
  if (tok_.text.empty())
    return error(tok_.pos, "a name must not be empty");
  name = tok_.text;
  consume();
  return true;
}

// Turns statements into a Graph, resolving names in order.
class GraphBuilder {
public:
  GraphBuilder(const GraphSyntax &syntax, const std::string &file)
      : syntax_(syntax), file_(file), graph_(syntax.name) {}

  absl::Status build();
  absl::Status verify() const;
  Graph take() { return std::move(graph_); }

private:
  absl::Status error(TextPos pos, const std::string &message) const {
    std::string text =
        fmt::format("{}:{}:{}: error: ", file_, pos.line, pos.col);
    text.append(message);
    return absl::InvalidArgumentError(text);
  }
  absl::Status collectDefinitions();
  absl::StatusOr<ValueId> resolve(const Ref &ref) const;

  const GraphSyntax &syntax_;
  const std::string &file_;
  Graph graph_;
  std::map<std::string, TextPos> definitions_; // every name, first position
  std::map<std::string, ValueId> defined_;     // names defined so far
  std::vector<TextPos> opPos_;
};

absl::Status GraphBuilder::collectDefinitions() {
  auto define = [&](const Ref &r) -> absl::Status {
    auto [it, inserted] = definitions_.emplace(r.name, r.pos);
    if (!inserted)
      return error(r.pos,
                   fmt::format("value %{} is defined twice (first at {}:{})",
                               r.name, it->second.line, it->second.col));
    return absl::OkStatus();
  };
  for (const auto &stmt : syntax_.body) {
    if (const auto *d = std::get_if<DeclStmt>(&stmt)) {
      if (absl::Status s = define(d->name); !s.ok())
        return s;
      continue;
    }
    for (const Ref &r : std::get<OpStmt>(stmt).results)
      if (absl::Status s = define(r); !s.ok())
        return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<ValueId> GraphBuilder::resolve(const Ref &ref) const {
  if (auto it = defined_.find(ref.name); it != defined_.end())
    return it->second;
  if (auto it = definitions_.find(ref.name); it != definitions_.end())
    return error(
        ref.pos,
        fmt::format("value %{} is used before it is defined (at {}:{})",
                    ref.name, it->second.line, it->second.col));
  return error(ref.pos, fmt::format("use of undefined value %{}", ref.name));
}

absl::Status GraphBuilder::build() {
  if (absl::Status s = collectDefinitions(); !s.ok())
    return s;
  for (const auto &stmt : syntax_.body) {
    if (const auto *d = std::get_if<DeclStmt>(&stmt)) {
      ValueId id = -1;
      switch (d->kind) {
      case ValueKind::Input:
        id = graph_.addInput(d->name.name, d->type);
        break;
      case ValueKind::Param:
        id = graph_.addParam(d->name.name, d->type);
        break;
      case ValueKind::State:
      case ValueKind::Temp: // never declared (parseStatement rejects it)
        id = graph_.addState(d->name.name, d->type);
        break;
      }
      graph_.setAttrs(id, d->attrs);
      defined_[d->name.name] = id;
      continue;
    }
    const OpStmt &op = std::get<OpStmt>(stmt);
    std::vector<ValueId> operands;
    for (const Ref &r : op.operands) {
      absl::StatusOr<ValueId> id = resolve(r);
      if (!id.ok())
        return id.status();
      operands.push_back(*id);
    }
    std::vector<std::string> names;
    for (const Ref &r : op.results)
      names.push_back(r.name);
    std::vector<ValueId> results = graph_.append(
        op.kind, std::move(operands), op.types, op.attrs, op.loc, names);
    for (size_t i = 0; i < results.size(); ++i)
      defined_[op.results[i].name] = results[i];
    opPos_.push_back(op.pos);
  }
  std::map<std::string, TextPos> outputNames;
  for (const OutputStmt &out : syntax_.outputs) {
    auto [it, inserted] = outputNames.emplace(out.name, out.pos);
    if (!inserted)
      return error(out.pos,
                   fmt::format("output '{}' is returned twice (first at {}:{})",
                               out.name, it->second.line, it->second.col));
    absl::StatusOr<ValueId> id = resolve(out.value);
    if (!id.ok())
      return id.status();
    graph_.addOutput(out.name, *id);
  }
  return absl::OkStatus();
}

// The verifier reports the first op that fails, so the shortest failing
// prefix of the op list ends at that op.
absl::Status GraphBuilder::verify() const {
  absl::Status full = verifyGraph(graph_);
  if (full.ok())
    return full;
  std::string message(full.message());
  auto failsWith = [&](size_t numOps) {
    Graph prefix = graph_;
    prefix.outputs().clear();
    prefix.setOps(
        std::vector<Op>(graph_.ops().begin(), graph_.ops().begin() + numOps));
    return !verifyGraph(prefix).ok();
  };
  size_t n = graph_.ops().size();
  if (failsWith(0))
    return error(syntax_.pos, message);
  if (!failsWith(n))
    return error(syntax_.returnPos, message);
  size_t lo = 0, hi = n; // prefix lo passes, prefix hi fails
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    (failsWith(mid) ? hi : lo) = mid;
  }
  return error(opPos_[hi - 1], message);
}

} // namespace

absl::StatusOr<Graph> parseGraph(std::string_view text,
                                 const std::string &filename,
                                 const ParseOptions &options) {
  GraphSyntax syntax;
  SyntaxParser parser(text, filename, options.firstLine);
  if (!parser.parseGraph(syntax))
    return parser.status();
  GraphBuilder builder(syntax, filename);
  if (absl::Status s = builder.build(); !s.ok())
    return s;
  if (options.verify)
    if (absl::Status s = builder.verify(); !s.ok())
      return s;
  return builder.take();
}

} // namespace cnnc::ir
