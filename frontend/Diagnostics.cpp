#include "frontend/Diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace cnnc::frontend {

std::string Diagnostic::str() const {
  if (line <= 0)
    return fmt::format("{}: error: {}", file, message);
  // A long line (minified or generated source) is quoted as a window around
  // the column, "..." marking what is cut, so that an error stays readable
  // and its size bounded whatever the input.
  constexpr size_t kBefore = 60, kWindow = 120;
  std::string_view text = sourceLine;
  size_t caretAt = col > 0 ? static_cast<size_t>(col - 1) : 0;
  std::string prefix, suffix;
  if (text.size() > kWindow) {
    size_t begin = caretAt > kBefore ? caretAt - kBefore : 0;
    begin = std::min(begin, text.size() - kWindow);
    if (begin > 0)
      prefix = "...";
    if (begin + kWindow < text.size())
      suffix = "...";
    text = text.substr(begin, kWindow);
    caretAt -= std::min(caretAt, begin);
  }
  // The caret line copies tabs from the source line so that the caret lines
  // up under the column whatever the tab width.
  std::string caret = "  " + std::string(prefix.size(), ' ');
  for (size_t i = 0; i < caretAt; ++i)
    caret += i < text.size() && text[i] == '\t' ? '\t' : ' ';
  caret += '^';
  return fmt::format("{}:{}:{}: error: {}\n  {}{}{}\n{}", file, line, col,
                     message, prefix, text, suffix, caret);
}

std::string_view sourceLineAt(std::string_view source, int line) {
  if (line <= 0)
    return {};
  size_t begin = 0;
  for (int l = 1; l < line; ++l) {
    size_t nl = source.find('\n', begin);
    if (nl == std::string_view::npos)
      return {};
    begin = nl + 1;
  }
  size_t end = source.find('\n', begin);
  if (end == std::string_view::npos)
    end = source.size();
  std::string_view text = source.substr(begin, end - begin);
  if (!text.empty() && text.back() == '\r')
    text.remove_suffix(1);
  return text;
}

Diagnostic makeDiagnostic(const std::string &file, std::string_view source,
                          SourceLoc loc, std::string message) {
  Diagnostic d;
  d.file = file;
  d.line = loc.line;
  d.col = loc.col;
  d.message = std::move(message);
  d.sourceLine = std::string(sourceLineAt(source, loc.line));
  return d;
}

size_t editDistance(std::string_view a, std::string_view b) {
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= m; ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::optional<std::string>
closestMatch(std::string_view word,
             const std::vector<std::string> &candidates) {
  // A third of the word may be wrong (at least one edit): "conv3d" ->
  // "conv2d", "mnsit" -> "mnist", but "mse" suggests nothing.
  size_t limit = std::max<size_t>(1, (word.size() + 1) / 3);
  std::optional<std::string> best;
  size_t bestDistance = limit + 1;
  for (const std::string &c : candidates) {
    size_t dist = editDistance(word, c);
    if (dist < bestDistance) {
      bestDistance = dist;
      best = c;
    }
  }
  return best;
}

std::string joinNames(const std::vector<std::string> &names,
                      std::string_view lastSeparator) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      out += i + 1 == names.size() ? std::string(lastSeparator) : ", ";
    out += names[i];
  }
  return out;
}

std::string suggestionSuffix(std::string_view word,
                             const std::vector<std::string> &candidates) {
  if (auto match = closestMatch(word, candidates))
    return fmt::format("; did you mean '{}'?", *match);
  if (candidates.size() == 1)
    return fmt::format("; expected {}", candidates[0]);
  return fmt::format("; expected one of {}", joinNames(candidates));
}

std::string unknownMessage(std::string_view what, std::string_view word,
                           const std::vector<std::string> &candidates) {
  return fmt::format("unknown {} '{}'{}", what, word,
                     suggestionSuffix(word, candidates));
}

} // namespace cnnc::frontend
