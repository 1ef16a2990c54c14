// Recursive descent over the token stream. Each line is parsed into a
// RawStatement and checked by the Binder at once, so the first error reported
// is the first one in the file.
#include "frontend/Binder.h"
#include "frontend/Frontend.h"
#include "frontend/Lexer.h"
#include "frontend/Syntax.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace cnnc::frontend {

namespace {

// Deep enough for any real value, shallow enough for the stack.
constexpr int kMaxNesting = 16;
// Far above any real CNN (ResNet-1001 has about 3,000 layers); keeps a
// generated or corrupt file from compiling for minutes (docs/dsl.md).
constexpr size_t kMaxLayers = 10000;

class Parser {
public:
  Parser(std::string_view source, const std::string &file)
      : source_(source), file_(file), binder_(file, source) {}

  // The whole source as one argument value, handed to `bind`.
  bool runValue(const std::function<bool(Binder &, const RawArg &)> &bind) {
    LexResult lexed = lex(source_);
    if (lexed.error)
      return fail(lexed.error->loc, lexed.error->message);
    tokens_ = std::move(lexed.tokens);
    skipNewlines();
    RawArg arg;
    arg.loc = peek().loc;
    if (!parseValue(arg.value, 0))
      return false;
    skipNewlines();
    if (!at(TokenKind::Eof))
      return fail(peek().loc, fmt::format("expected the end after the value, "
                                          "got {}",
                                          describeToken(peek())));
    return bind(binder_, arg);
  }
  Diagnostic valueError() const { return error(); }

  ParseResult run() {
    LexResult lexed = lex(source_);
    if (lexed.error)
      return {std::nullopt, makeDiagnostic(file_, source_, lexed.error->loc,
                                           lexed.error->message)};
    tokens_ = std::move(lexed.tokens);
    Program p;
    p.filename = file_;
    p.source = std::string(source_);
    if (!parseTopLevel(p))
      return {std::nullopt, error()};
    return {std::move(p), std::nullopt};
  }

private:
  Diagnostic error() const {
    if (error_)
      return *error_;
    if (binder_.error())
      return *binder_.error();
    return makeDiagnostic(file_, source_, peek().loc,
                          "internal error: parsing failed without a message");
  }

  bool fail(SourceLoc loc, std::string message) {
    if (!error_)
      error_ = makeDiagnostic(file_, source_, loc, std::move(message));
    return false;
  }

  const Token &peek(size_t ahead = 0) const {
    size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  bool at(TokenKind k) const { return peek().kind == k; }
  const Token &take() {
    const Token &t = peek();
    if (pos_ + 1 < tokens_.size())
      ++pos_;
    return t;
  }
  void skipNewlines() {
    while (at(TokenKind::Newline))
      take();
  }
  bool atEndOfLine() const {
    return at(TokenKind::Newline) || at(TokenKind::Eof);
  }
  bool expectEndOfLine(std::string_view after) {
    if (atEndOfLine())
      return true;
    return fail(peek().loc, fmt::format("expected end of line after {}, got {}",
                                        after, describeToken(peek())));
  }

  bool parseTopLevel(Program &p) {
    bool haveModel = false;
    std::set<std::string> seen;
    while (true) {
      skipNewlines();
      if (at(TokenKind::Eof))
        break;
      const Token &kw = peek();
      if (kw.kind != TokenKind::Ident)
        return fail(kw.loc, fmt::format("expected a statement (model, compile "
                                        "or fit), got {}",
                                        describeToken(kw)));
      if (kw.text == "model" || kw.text == "compile" || kw.text == "fit") {
        if (!seen.insert(kw.text).second)
          return fail(kw.loc, fmt::format("duplicate '{}' statement", kw.text));
      }
      if (kw.text == "model") {
        haveModel = true;
        if (!parseModel(p.model))
          return false;
      } else if (kw.text == "compile") {
        RawStatement s;
        CompileStmt c;
        if (!parseStatement(s) || !binder_.bindCompile(s, c))
          return false;
        p.compile = c;
      } else if (kw.text == "fit") {
        RawStatement s;
        FitStmt f;
        if (!parseStatement(s) || !binder_.bindFit(s, f))
          return false;
        p.fit = f;
      } else if (kw.text == "input" || layerKindFromKeyword(kw.text)) {
        return fail(kw.loc, fmt::format("layer '{}' outside of the model "
                                        "block",
                                        kw.text));
      } else {
        return fail(kw.loc, unknownMessage("statement", kw.text,
                                           {"model", "compile", "fit"}));
      }
      if (!expectEndOfLine(fmt::format("the {} statement", kw.text)))
        return false;
    }
    if (!haveModel)
      return fail(peek().loc, "no model in this file; expected "
                              "'model <name> { ... }'");
    if (p.fit)
      if (auto conflict = recipeConflict(p.compile ? p.compile->optimizer
                                                   : ir::OptimizerSpec{},
                                         p.fit->fit))
        return fail(p.fit->callbacksLoc, *conflict);
    return true;
  }

  // model NAME { NEWLINE { layer NEWLINE } }
  bool parseModel(Model &m) {
    const Token &kw = take();
    m.loc = kw.loc;
    if (!at(TokenKind::Ident))
      return fail(peek().loc, fmt::format("expected a model name after "
                                          "'model', got {}",
                                          describeToken(peek())));
    m.name = take().text;
    if (!at(TokenKind::LBrace))
      return fail(peek().loc, fmt::format("expected '{{' after the model "
                                          "name, got {}",
                                          describeToken(peek())));
    take();
    if (!expectEndOfLine("'{' (one layer per line)"))
      return false;

    bool haveInput = false;
    std::map<std::string, int> explicitNames; // name -> line
    std::vector<bool> isExplicit;
    while (true) {
      skipNewlines();
      const Token &t = peek();
      if (t.kind == TokenKind::RBrace) {
        take();
        break;
      }
      if (t.kind == TokenKind::Eof)
        return fail(t.loc, fmt::format("expected '}}' to close model '{}' "
                                       "(opened on line {})",
                                       m.name, m.loc.line));
      if (t.kind != TokenKind::Ident)
        return fail(t.loc,
                    fmt::format("expected a layer, got {}", describeToken(t)));
      if (t.text == "input") {
        if (haveInput)
          return fail(t.loc, fmt::format("duplicate input layer; the first "
                                         "is on line {}",
                                         m.inputLoc.line));
        if (!m.layers.empty())
          return fail(t.loc, "input must be the first layer of the model");
        haveInput = true;
        m.inputLoc = t.loc;
        RawStatement s;
        if (!parseStatement(s) || !binder_.bindInput(s, m.inputShape))
          return false;
      } else if (auto kind = layerKindFromKeyword(t.text)) {
        if (m.layers.size() >= kMaxLayers)
          return fail(t.loc,
                      fmt::format("a model has at most {} layers", kMaxLayers));
        RawStatement s;
        Layer layer;
        layer.kind = *kind;
        SourceLoc nameLoc;
        if (!parseStatement(s) || !binder_.bindLayer(s, layer, nameLoc))
          return false;
        if (nameLoc.known()) {
          auto [it, fresh] = explicitNames.emplace(layer.name, nameLoc.line);
          if (!fresh)
            return fail(nameLoc, fmt::format("duplicate layer name '{}' (also "
                                             "used on line {})",
                                             layer.name, it->second));
        }
        isExplicit.push_back(nameLoc.known());
        m.layers.push_back(std::move(layer));
      } else if (t.text == "model" || t.text == "compile" || t.text == "fit") {
        return fail(t.loc, fmt::format("expected '}}' to close model '{}' "
                                       "before '{}'",
                                       m.name, t.text));
      } else {
        return fail(t.loc, unknownMessage("layer", t.text, layerKeywords()));
      }
      if (!expectEndOfLine(fmt::format("the {} layer", t.text)))
        return false;
    }
    if (!haveInput)
      return fail(m.loc, fmt::format("model '{}' has no input; its first "
                                     "layer must be 'input shape=(h, w, c)'",
                                     m.name));
    if (m.layers.empty())
      return fail(m.loc, fmt::format("model '{}' has no layers after its "
                                     "input",
                                     m.name));
    nameLayers(m, isExplicit, explicitNames);
    return true;
  }

  // Keras's default names: conv2d, conv2d_1, ... per layer type. A name
  // already taken by an explicit name= is skipped.
  static void nameLayers(Model &m, const std::vector<bool> &isExplicit,
                         const std::map<std::string, int> &taken) {
    std::map<LayerKind, int> next;
    for (size_t i = 0; i < m.layers.size(); ++i) {
      Layer &layer = m.layers[i];
      if (isExplicit[i])
        continue;
      int &n = next[layer.kind];
      std::string base = layerKeyword(layer.kind);
      do {
        layer.name = n == 0 ? base : fmt::format("{}_{}", base, n);
        ++n;
      } while (taken.count(layer.name));
    }
  }

  // keyword { value } { name = value }: positional values first, as in a
  // Python call (the Binder names them by the layer's Keras order).
  bool parseStatement(RawStatement &s) {
    const Token &kw = take();
    s.keyword = kw.text;
    s.loc = kw.loc;
    bool named = false;
    while (!atEndOfLine()) {
      const Token &t = peek();
      RawArg arg;
      arg.loc = t.loc;
      if (t.kind == TokenKind::Ident && peek(1).kind == TokenKind::Equals) {
        arg.name = t.text;
        named = true;
        take();
        take();
      } else if (named && t.kind == TokenKind::Ident) {
        // After name=value, a bare name is most likely a missing '='.
        return fail(peek(1).loc, fmt::format("expected '=' after '{}', got {}",
                                             t.text, describeToken(peek(1))));
      } else if (named) {
        return fail(t.loc, fmt::format("positional argument {} follows a "
                                       "named argument; positional arguments "
                                       "come first",
                                       describeToken(t)));
      }
      if (!parseValue(arg.value, 0))
        return false;
      s.args.push_back(std::move(arg));
    }
    return true;
  }

  // INT | FLOAT | STRING | NAME | NAME ( [callarg {, callarg}] )
  //   | ( value {, value} ) | [ [value {, value}] ]
  bool parseValue(RawValue &v, int depth) {
    const Token &t = peek();
    v.loc = t.loc;
    if (depth > kMaxNesting)
      return fail(t.loc, "value nested too deeply");
    switch (t.kind) {
    case TokenKind::Int:
    case TokenKind::Float:
    case TokenKind::String:
      v.kind = t.kind == TokenKind::Int     ? RawValue::Kind::Int
               : t.kind == TokenKind::Float ? RawValue::Kind::Float
                                            : RawValue::Kind::String;
      v.text = t.text;
      v.intValue = t.intValue;
      v.floatValue = t.floatValue;
      take();
      return true;
    case TokenKind::Ident:
      v.text = t.text;
      take();
      if (!at(TokenKind::LParen)) {
        v.kind = RawValue::Kind::Name;
        return true;
      }
      v.kind = RawValue::Kind::Call;
      take();
      return parseSequence(TokenKind::RParen, [&] {
        RawArg arg;
        arg.loc = peek().loc;
        if (at(TokenKind::Ident) && peek(1).kind == TokenKind::Equals) {
          arg.name = take().text;
          take();
        }
        if (!parseValue(arg.value, depth + 1))
          return false;
        v.args.push_back(std::move(arg));
        return true;
      });
    case TokenKind::LParen:
    case TokenKind::LBracket: {
      bool tuple = t.kind == TokenKind::LParen;
      v.kind = tuple ? RawValue::Kind::Tuple : RawValue::Kind::List;
      take();
      if (tuple && at(TokenKind::RParen))
        return fail(peek().loc, "expected a value, got ')'");
      return parseSequence(tuple ? TokenKind::RParen : TokenKind::RBracket,
                           [&] {
                             v.elements.emplace_back();
                             return parseValue(v.elements.back(), depth + 1);
                           });
    }
    default:
      return fail(t.loc,
                  fmt::format("expected a value, got {}", describeToken(t)));
    }
  }

  // Items separated by commas up to `close`; a trailing comma is allowed.
  template <typename ParseItem>
  bool parseSequence(TokenKind close, ParseItem item) {
    const char *closeText = close == TokenKind::RParen ? "')'" : "']'";
    while (!at(close)) {
      if (!item())
        return false;
      if (at(TokenKind::Comma)) {
        take();
        continue;
      }
      if (!at(close))
        return fail(peek().loc, fmt::format("expected ',' or {}, got {}",
                                            closeText, describeToken(peek())));
    }
    take();
    return true;
  }

  std::string_view source_;
  std::string file_;
  Binder binder_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  std::optional<Diagnostic> error_;
};

} // namespace

ParseResult parseProgram(std::string_view source, const std::string &filename) {
  return Parser(source, filename).run();
}

OptimizerResult parseOptimizerValue(std::string_view text,
                                    const std::string &name) {
  Parser parser(text, name);
  ir::OptimizerSpec spec;
  if (!parser.runValue(
          [&](Binder &b, const RawArg &a) { return b.bindOptimizer(a, spec); }))
    return {std::nullopt, parser.valueError()};
  return {spec, std::nullopt};
}

CallbacksResult parseCallbacksValue(std::string_view text,
                                    const std::string &name) {
  Parser parser(text, name);
  std::vector<ir::CallbackSpec> callbacks;
  if (!parser.runValue([&](Binder &b, const RawArg &a) {
        return b.bindCallbacks(a, callbacks);
      }))
    return {std::nullopt, parser.valueError()};
  return {std::move(callbacks), std::nullopt};
}

} // namespace cnnc::frontend
