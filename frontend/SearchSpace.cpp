// Search spaces are found on the token stream, not in the parser's tree: a
// trial is the source with each space's bytes replaced, so every trial is
// checked by the ordinary frontend with the ordinary messages.
#include "frontend/SearchSpace.h"
#include "frontend/AST.h"
#include "frontend/Binder.h"
#include "frontend/Frontend.h"
#include "frontend/Lexer.h"
#include "support/Random.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace cnnc::frontend {

namespace {

// A grid larger than this is surely a mistake (a day per trial...).
constexpr uint64_t kMaxGrid = 100000;
constexpr int64_t kMaxTrials = 100000;

std::optional<SearchSpace::Kind> spaceKind(const std::string &name) {
  if (name == "choice")
    return SearchSpace::Kind::Choice;
  if (name == "int_range")
    return SearchSpace::Kind::IntRange;
  if (name == "uniform")
    return SearchSpace::Kind::Uniform;
  if (name == "log_uniform")
    return SearchSpace::Kind::LogUniform;
  return std::nullopt;
}

// "2.5", "the name 'x'", "a string": a token as a value in a message.
std::string describeValue(const Token &t) {
  switch (t.kind) {
  case TokenKind::Int:
  case TokenKind::Float:
    return t.text;
  case TokenKind::Ident:
    return fmt::format("the name '{}'", t.text);
  default:
    return describeToken(t);
  }
}

// One argument of a space's call: tokens [first, last), `name` for name=.
struct CallArg {
  std::string name;
  size_t first = 0, last = 0;
};

class Scanner {
public:
  Scanner(std::string_view source, const std::string &file)
      : source_(source), file_(file) {}

  SearchResult run() {
    LexResult lexed = lex(source_);
    if (lexed.error)
      return {std::nullopt, makeDiagnostic(file_, source_, lexed.error->loc,
                                           lexed.error->message)};
    tokens_ = std::move(lexed.tokens);
    p_.filename = file_;
    p_.source = std::string(source_);
    int braces = 0;
    size_t i = 0;
    while (tokens_[i].kind != TokenKind::Eof) {
      size_t end = i;
      while (tokens_[end].kind != TokenKind::Newline &&
             tokens_[end].kind != TokenKind::Eof)
        ++end;
      if (end > i) {
        bool ok = braces <= 0 && tokens_[i].kind == TokenKind::Ident &&
                          tokens_[i].text == "tune"
                      ? parseTune(i, end)
                      : scanLine(i, end);
        if (!ok)
          return {std::nullopt, error_};
        for (size_t j = i; j < end; ++j)
          braces += tokens_[j].kind == TokenKind::LBrace   ? 1
                    : tokens_[j].kind == TokenKind::RBrace ? -1
                                                           : 0;
      }
      i = tokens_[end].kind == TokenKind::Eof ? end : end + 1;
    }
    if (!checkTune())
      return {std::nullopt, error_};
    return {std::move(p_), std::nullopt};
  }

private:
  bool fail(SourceLoc loc, std::string message) {
    error_ = makeDiagnostic(file_, source_, loc, std::move(message));
    return false;
  }

  bool isSpaceCall(size_t j, size_t end) const {
    return tokens_[j].kind == TokenKind::Ident && j + 1 < end &&
           tokens_[j + 1].kind == TokenKind::LParen &&
           spaceKind(tokens_[j].text);
  }

  // One statement or layer line: finds its spaces and names each by the
  // argument it is the value of (or is inside of).
  bool scanLine(size_t begin, size_t end) {
    const Token &kw = tokens_[begin];
    std::vector<std::string> positional;
    if (kw.kind == TokenKind::Ident) {
      if (kw.text == "input")
        positional = {"shape"};
      else if (auto kind = layerKindFromKeyword(kw.text))
        positional = layerInfo(*kind).positional;
    }
    size_t nextPositional = 0;
    bool named = false;
    // The argument name in effect at each nesting depth.
    std::vector<std::string> names = {""};
    for (size_t j = begin + 1; j < end;) {
      const Token &t = tokens_[j];
      bool top = names.size() == 1;
      if (t.kind == TokenKind::Ident && j + 1 < end &&
          tokens_[j + 1].kind == TokenKind::Equals) {
        names.back() = t.text;
        named = top;
        j += 2;
        continue;
      }
      // A value starting at the top level (not a call's parenthesis).
      bool callParen = t.kind == TokenKind::LParen &&
                       tokens_[j - 1].kind == TokenKind::Ident && j - 1 > begin;
      if (top && !callParen) {
        if (!named)
          names[0] = nextPositional < positional.size()
                         ? positional[nextPositional]
                         : "";
        if (!named)
          ++nextPositional;
        named = false;
      }
      if (isSpaceCall(j, end)) {
        std::string name =
            names.back().empty()
                ? (kw.kind == TokenKind::Ident ? kw.text : "value")
                : names.back();
        if (!parseSpace(j, end, name, kw.loc.line))
          return false;
        continue;
      }
      switch (t.kind) {
      case TokenKind::LParen:
      case TokenKind::LBracket:
        names.push_back(names.back());
        break;
      case TokenKind::RParen:
      case TokenKind::RBracket:
        if (names.size() > 1)
          names.pop_back();
        break;
      case TokenKind::Comma:
        if (names.size() > 1)
          names.back() = names[names.size() - 2];
        break;
      default:
        break;
      }
      ++j;
    }
    return true;
  }

  // The arguments of the call at `j` up to its ')'; j ends after it.
  bool splitCall(size_t &j, size_t end, std::vector<CallArg> &args) {
    const Token &callee = tokens_[j];
    j += 2;
    CallArg cur;
    cur.first = j;
    int depth = 0;
    auto close = [&](size_t at) -> bool {
      cur.last = at;
      if (cur.first == cur.last) {
        // No arguments, or a trailing comma as the parser allows; else a
        // missing value.
        if (tokens_[at].kind == TokenKind::RParen &&
            (!args.empty() || tokens_[at - 1].kind == TokenKind::LParen))
          return true;
        return fail(tokens_[at].loc, fmt::format("expected a value, got {}",
                                                 describeToken(tokens_[at])));
      }
      if (tokens_[cur.first].kind == TokenKind::Ident &&
          cur.first + 1 < cur.last &&
          tokens_[cur.first + 1].kind == TokenKind::Equals) {
        cur.name = tokens_[cur.first].text;
        cur.first += 2;
        if (cur.first == cur.last)
          return fail(tokens_[at].loc, fmt::format("expected a value, got {}",
                                                   describeToken(tokens_[at])));
      }
      args.push_back(cur);
      cur = CallArg();
      cur.first = at + 1;
      return true;
    };
    for (; j < end; ++j) {
      const Token &t = tokens_[j];
      if (isSpaceCall(j, end))
        return fail(t.loc, fmt::format("{} inside {}: a search space cannot "
                                       "contain another",
                                       t.text, callee.text));
      if (t.kind == TokenKind::LParen || t.kind == TokenKind::LBracket) {
        ++depth;
      } else if (t.kind == TokenKind::RParen || t.kind == TokenKind::RBracket) {
        if (depth == 0) {
          if (t.kind != TokenKind::RParen)
            return fail(t.loc, fmt::format("expected ',' or ')', got ']'"));
          if (!close(j))
            return false;
          ++j;
          return true;
        }
        --depth;
      } else if (t.kind == TokenKind::Comma && depth == 0) {
        if (!close(j))
          return false;
      }
    }
    return fail(callee.loc,
                fmt::format("'(' of {} is never closed", callee.text));
  }

  std::string textOf(const CallArg &a) const {
    size_t b = tokens_[a.first].offset, e = tokens_[a.last - 1].end;
    return std::string(source_.substr(b, e - b));
  }

  // A single-token number argument; integer only when `integer`.
  bool number(const std::string &what, const CallArg &a, bool integer,
              const Token *&out) {
    const Token &t = tokens_[a.first];
    bool ok =
        a.last == a.first + 1 &&
        (t.kind == TokenKind::Int || (!integer && t.kind == TokenKind::Float));
    if (!ok)
      return fail(t.loc, fmt::format("{} expects {}, got {}", what,
                                     integer ? "integers" : "numbers",
                                     a.last == a.first + 1
                                         ? describeValue(t)
                                         : fmt::format("'{}'", textOf(a))));
    out = &t;
    return true;
  }

  bool parseSpace(size_t &j, size_t end, const std::string &argName, int line) {
    SearchSpace s;
    const Token &callee = tokens_[j];
    s.kind = *spaceKind(callee.text);
    s.loc = callee.loc;
    std::vector<CallArg> args;
    if (!splitCall(j, end, args))
      return false;
    const std::string &what = callee.text;
    std::vector<CallArg> positional;
    std::map<std::string, CallArg> named;
    for (const CallArg &a : args) {
      if (a.name.empty()) {
        if (!named.empty())
          return fail(tokens_[a.first].loc,
                      fmt::format("positional argument {} follows a named "
                                  "argument; positional arguments come first",
                                  describeToken(tokens_[a.first])));
        positional.push_back(a);
        continue;
      }
      const Token &nameTok = tokens_[a.first - 2];
      if (s.kind != SearchSpace::Kind::IntRange || a.name != "step")
        return fail(nameTok.loc,
                    s.kind == SearchSpace::Kind::IntRange
                        ? unknownMessage(what + " argument", a.name, {"step"})
                        : fmt::format("{} takes no named arguments, got '{}'",
                                      what, a.name));
      if (!named.emplace(a.name, a).second || positional.size() > 2)
        return fail(nameTok.loc,
                    fmt::format("duplicate argument '{}'", a.name));
    }
    switch (s.kind) {
    case SearchSpace::Kind::Choice:
      if (positional.empty())
        return fail(callee.loc, "choice needs at least one value");
      for (const CallArg &a : positional)
        s.choices.push_back(textOf(a));
      break;
    case SearchSpace::Kind::IntRange: {
      if (positional.size() < 2 || positional.size() > 3)
        return fail(callee.loc,
                    fmt::format("int_range expects (lo, hi) or (lo, hi, "
                                "step=s), got {} value{}",
                                positional.size(),
                                positional.size() == 1 ? "" : "s"));
      if (positional.size() == 3)
        named["step"] = positional[2];
      const Token *lo, *hi, *step = nullptr;
      if (!number(what, positional[0], true, lo) ||
          !number(what, positional[1], true, hi))
        return false;
      if (named.count("step") && !number(what, named["step"], true, step))
        return false;
      if (lo->intValue > hi->intValue)
        return fail(hi->loc, fmt::format("int_range needs lo <= hi, got {} "
                                         "and {}",
                                         lo->text, hi->text));
      if (step && step->intValue < 1)
        return fail(step->loc, fmt::format("int_range's step must be at "
                                           "least 1, got {}",
                                           step->text));
      s.lo = lo->intValue;
      s.hi = hi->intValue;
      s.step = step ? step->intValue : 1;
      break;
    }
    case SearchSpace::Kind::Uniform:
    case SearchSpace::Kind::LogUniform: {
      if (positional.size() != 2)
        return fail(callee.loc, fmt::format("{} expects (lo, hi), got {} "
                                            "value{}",
                                            what, positional.size(),
                                            positional.size() == 1 ? "" : "s"));
      const Token *lo, *hi;
      if (!number(what, positional[0], false, lo) ||
          !number(what, positional[1], false, hi))
        return false;
      if (s.kind == SearchSpace::Kind::LogUniform && !(lo->floatValue > 0))
        return fail(lo->loc,
                    fmt::format("log_uniform needs lo > 0, got {}", lo->text));
      if (!(lo->floatValue < hi->floatValue))
        return fail(hi->loc, fmt::format("{} needs lo < hi, got {} and {}",
                                         what, lo->text, hi->text));
      s.low = lo->floatValue;
      s.high = hi->floatValue;
      break;
    }
    }
    s.begin = callee.offset;
    s.end = tokens_[j - 1].end;
    std::string base = fmt::format("{}@{}", argName, line);
    s.name = base;
    for (int n = 2; usedNames_.count(s.name); ++n)
      s.name = fmt::format("{}.{}", base, n);
    usedNames_.insert(s.name);
    p_.spaces.push_back(std::move(s));
    return true;
  }

  // tune name=value ...: every argument named, every value one token.
  bool parseTune(size_t begin, size_t end) {
    const Token &kw = tokens_[begin];
    if (p_.tune)
      return fail(kw.loc, fmt::format("duplicate 'tune' statement (the "
                                      "first is on line {})",
                                      p_.tune->loc.line));
    TuneSpec t;
    std::optional<SourceLoc> factorLoc; // factor= or hyperband_iterations=
    t.loc = kw.loc;
    t.begin = kw.offset;
    t.end = tokens_[end - 1].end;
    static const std::vector<std::string> known = {
        "strategy",   "objective", "trials",
        "max_epochs", "factor",    "hyperband_iterations",
        "seed"};
    std::set<std::string> seen;
    for (size_t j = begin + 1; j < end; j += 3) {
      const Token &name = tokens_[j];
      if (name.kind != TokenKind::Ident || j + 1 >= end ||
          tokens_[j + 1].kind != TokenKind::Equals)
        return fail(name.loc, fmt::format("expected name=value in the tune "
                                          "statement, got {}",
                                          describeToken(name)));
      if (std::find(known.begin(), known.end(), name.text) == known.end())
        return fail(name.loc,
                    unknownMessage("tune argument", name.text, known));
      if (!seen.insert(name.text).second)
        return fail(name.loc,
                    fmt::format("duplicate argument '{}'", name.text));
      if (j + 2 >= end)
        return fail(tokens_[j + 1].loc, "expected a value after '='");
      const Token &v = tokens_[j + 2];
      if (j + 3 < end && tokens_[j + 3].kind != TokenKind::Ident)
        return fail(tokens_[j + 3].loc,
                    fmt::format("{} expects a single value, got {}", name.text,
                                describeToken(tokens_[j + 3])));
      auto integer = [&](int64_t min, int64_t max, int64_t &slot) {
        if (v.kind != TokenKind::Int)
          return fail(v.loc, fmt::format("{} expects an integer, got {}",
                                         name.text, describeValue(v)));
        if (v.intValue < min || v.intValue > max)
          return fail(v.loc, fmt::format("{} must be between {} and {}, got "
                                         "{}",
                                         name.text, min, max, v.text));
        slot = v.intValue;
        return true;
      };
      if (name.text == "strategy") {
        static const std::vector<std::string> strategies = {"random", "grid",
                                                            "hyperband"};
        if (v.kind != TokenKind::Ident ||
            std::find(strategies.begin(), strategies.end(), v.text) ==
                strategies.end())
          return fail(v.loc,
                      v.kind == TokenKind::Ident
                          ? unknownMessage("strategy", v.text, strategies)
                          : fmt::format("strategy expects random, grid or "
                                        "hyperband, got {}",
                                        describeValue(v)));
        t.strategy = v.text == "grid"        ? TuneStrategy::Grid
                     : v.text == "hyperband" ? TuneStrategy::Hyperband
                                             : TuneStrategy::Random;
      } else if (name.text == "objective") {
        if (v.kind != TokenKind::Ident ||
            (v.text != "val_accuracy" && v.text != "val_loss"))
          return fail(v.loc,
                      v.kind == TokenKind::Ident
                          ? unknownMessage("objective", v.text,
                                           {"val_accuracy", "val_loss"})
                          : fmt::format("objective expects val_accuracy or "
                                        "val_loss, got {}",
                                        describeValue(v)));
        t.objective = v.text == "val_loss" ? TuneObjective::ValLoss
                                           : TuneObjective::ValAccuracy;
      } else if (name.text == "trials") {
        if (!integer(1, kMaxTrials, t.trials))
          return false;
      } else if (name.text == "max_epochs") {
        if (!integer(1, (int64_t{1} << 31) - 1, t.maxEpochs))
          return false;
      } else if (name.text == "factor") {
        if (!integer(2, 1000, t.factor))
          return false;
        factorLoc = name.loc;
      } else if (name.text == "hyperband_iterations") {
        if (!integer(1, 1000, t.hyperbandIterations))
          return false;
        factorLoc = name.loc;
      } else {
        int64_t seed = 0;
        if (!integer(0, INT64_MAX, seed))
          return false;
        t.seed = static_cast<uint64_t>(seed);
      }
    }
    if (factorLoc && t.strategy != TuneStrategy::Hyperband)
      return fail(*factorLoc, "factor and hyperband_iterations are for "
                              "strategy=hyperband");
    p_.tune = t;
    return true;
  }

  // What the statement asks of the spaces: some exist; a grid's are finite.
  bool checkTune() {
    if (!p_.tune)
      return true;
    const TuneSpec &t = *p_.tune;
    if (p_.spaces.empty())
      return fail(t.loc, "tune statement without a search space; write "
                         "choice(...), int_range(...), uniform(...) or "
                         "log_uniform(...) as an argument's value");
    if (t.strategy == TuneStrategy::Random && t.trials == 0)
      return fail(t.loc, "tune strategy=random needs trials=N");
    if (t.strategy == TuneStrategy::Hyperband && t.maxEpochs == 0)
      return fail(t.loc, "tune strategy=hyperband needs max_epochs=N (the "
                         "epochs of its longest trials)");
    if (t.strategy == TuneStrategy::Grid) {
      for (const SearchSpace &s : p_.spaces)
        if (s.size() == 0)
          return fail(s.loc, fmt::format("strategy=grid needs finite search "
                                         "spaces, and {} has infinitely many "
                                         "values; use choice or int_range",
                                         s.name));
      uint64_t n = gridSize(p_);
      if (n > kMaxGrid)
        return fail(t.loc,
                    fmt::format("the grid has {} combinations; at "
                                "most {} (use strategy=random)",
                                n == UINT64_MAX ? std::string("more than 2^64")
                                                : std::to_string(n),
                                kMaxGrid));
    }
    return true;
  }

  std::string_view source_;
  std::string file_;
  std::vector<Token> tokens_;
  SearchProgram p_;
  std::set<std::string> usedNames_;
  Diagnostic error_;
};

uint64_t saturatingMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a)
    return UINT64_MAX;
  return a * b;
}

// A continuous space's value from u in [0, 1), kept in [low, high).
double continuousValue(const SearchSpace &s, double u) {
  double x =
      s.kind == SearchSpace::Kind::LogUniform
          ? std::exp(std::log(s.low) + (std::log(s.high) - std::log(s.low)) * u)
          : s.low + (s.high - s.low) * u;
  double top = std::nextafter(s.high, s.low);
  return std::clamp(x, s.low, top);
}

// The values the check tries for a space: all of a finite one's, the
// lowest and highest of a continuous one's.
uint64_t checkSize(const SearchSpace &s) { return s.size() ? s.size() : 2; }
std::string checkValue(const SearchSpace &s, uint64_t i) {
  if (s.size())
    return s.valueAt(i);
  return formatReal(i == 0 ? s.low : std::nextafter(s.high, s.low));
}

} // namespace

uint64_t SearchSpace::size() const {
  switch (kind) {
  case Kind::Choice:
    return choices.size();
  case Kind::IntRange: {
    uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    uint64_t n = span / static_cast<uint64_t>(step);
    return n == UINT64_MAX ? UINT64_MAX : n + 1;
  }
  default:
    return 0;
  }
}

std::string SearchSpace::valueAt(uint64_t index) const {
  if (kind == Kind::Choice)
    return choices[index];
  // Wrapping arithmetic in unsigned: lo + index * step <= hi fits.
  uint64_t v = static_cast<uint64_t>(lo) + index * static_cast<uint64_t>(step);
  return std::to_string(static_cast<int64_t>(v));
}

std::string formatReal(double x) {
  std::string s = fmt::format("{}", x);
  if (s.find_first_not_of("-0123456789") == std::string::npos)
    s += ".0";
  return s;
}

SearchResult parseSearch(std::string_view source, const std::string &filename) {
  return Scanner(source, filename).run();
}

std::string instantiate(const SearchProgram &p,
                        const std::vector<std::string> &values) {
  // Replacements in source order: the spaces, and the tune statement by
  // nothing.
  std::vector<std::pair<std::pair<size_t, size_t>, std::string_view>> edits;
  for (size_t i = 0; i < p.spaces.size(); ++i)
    edits.push_back({{p.spaces[i].begin, p.spaces[i].end}, values.at(i)});
  if (p.tune)
    edits.push_back({{p.tune->begin, p.tune->end}, ""});
  std::sort(edits.begin(), edits.end(), [](const auto &a, const auto &b) {
    return a.first.first < b.first.first;
  });
  std::string out;
  size_t at = 0;
  for (const auto &[span, text] : edits) {
    out.append(p.source, at, span.first - at);
    out.append(text);
    at = span.second;
  }
  out.append(p.source, at, std::string::npos);
  return out;
}

std::string describeValues(const SearchProgram &p,
                           const std::vector<std::string> &values) {
  std::string out;
  for (size_t i = 0; i < p.spaces.size() && i < values.size(); ++i)
    out += fmt::format("{}{}={}", i ? ", " : "", p.spaces[i].name, values[i]);
  return out;
}

std::vector<std::string> randomTrial(const SearchProgram &p, uint64_t seed,
                                     uint64_t i) {
  support::SplitMix64 rng(
      support::mix64(seed + (i + 1) * support::kSplitMixGamma));
  std::vector<std::string> values;
  for (const SearchSpace &s : p.spaces) {
    if (uint64_t n = s.size())
      values.push_back(s.valueAt(rng.below(n)));
    else
      values.push_back(formatReal(continuousValue(s, rng.uniform())));
  }
  return values;
}

uint64_t gridSize(const SearchProgram &p) {
  uint64_t n = 1;
  for (const SearchSpace &s : p.spaces)
    n = saturatingMul(n, s.size());
  return n;
}

std::vector<std::string> gridTrial(const SearchProgram &p, uint64_t i) {
  std::vector<std::string> values(p.spaces.size());
  for (size_t k = p.spaces.size(); k-- > 0;) {
    uint64_t n = p.spaces[k].size();
    values[k] = p.spaces[k].valueAt(i % n);
    i /= n;
  }
  return values;
}

std::optional<Diagnostic> checkCombinations(const SearchProgram &p,
                                            uint64_t seed) {
  uint64_t total = 1;
  for (const SearchSpace &s : p.spaces)
    total = saturatingMul(total, checkSize(s));
  bool all = total <= kMaxCheckedCombinations;
  uint64_t count = all ? total : kMaxCheckedCombinations;
  // Drawn combinations use their own stream, apart from the trials'.
  support::SplitMix64 rng(support::mix64(seed ^ 0x636865636bull));
  std::vector<std::string> values(p.spaces.size());
  for (uint64_t c = 0; c < count; ++c) {
    uint64_t rest = c;
    for (size_t k = p.spaces.size(); k-- > 0;) {
      uint64_t n = checkSize(p.spaces[k]);
      values[k] = checkValue(p.spaces[k], all ? rest % n : rng.below(n));
      rest /= n;
    }
    std::string text = instantiate(p, values);
    std::optional<Diagnostic> error;
    ParseResult parsed = parseProgram(text, p.filename);
    if (parsed.error) {
      error = parsed.error;
    } else {
      LowerResult lowered =
          lowerModel(*parsed.program, trainingSpec(*parsed.program));
      error = lowered.error;
    }
    if (error) {
      error->message += fmt::format(" (with {})", describeValues(p, values));
      return error;
    }
  }
  return std::nullopt;
}

int64_t hyperbandBrackets(const TuneSpec &t) {
  double epochs = static_cast<double>(t.maxEpochs);
  int64_t brackets = 0;
  while (epochs >= 1) { // min_epochs
    epochs /= static_cast<double>(t.factor);
    ++brackets;
  }
  return brackets;
}

int64_t hyperbandSize(const TuneSpec &t, int64_t bracket, int64_t round) {
  // Python's math.log(x, base) is log(x) / log(base).
  double end0 = std::ceil(1 + std::log(static_cast<double>(t.maxEpochs)) /
                                  std::log(static_cast<double>(t.factor)));
  double end = end0 / static_cast<double>(bracket + 1);
  return static_cast<int64_t>(
      std::ceil(end * std::pow(static_cast<double>(t.factor),
                               static_cast<double>(bracket - round))));
}

int64_t hyperbandEpochs(const TuneSpec &t, int64_t bracket, int64_t round) {
  return static_cast<int64_t>(
      std::ceil(static_cast<double>(t.maxEpochs) /
                std::pow(static_cast<double>(t.factor),
                         static_cast<double>(bracket - round))));
}

uint64_t hyperbandTrials(const TuneSpec &t) {
  uint64_t n = 0;
  for (int64_t b = hyperbandBrackets(t) - 1; b >= 0; --b)
    for (int64_t r = 0; r <= b; ++r)
      n += static_cast<uint64_t>(hyperbandSize(t, b, r));
  return n * static_cast<uint64_t>(t.hyperbandIterations);
}

} // namespace cnnc::frontend
