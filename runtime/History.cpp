#include "runtime/History.h"

#include "support/AtomicFile.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <string_view>

namespace cnnc::runtime {

using support::writeFileAtomically;

namespace {

// Formats like Python's repr(float), which is what Keras' CSVLogger ends up
// writing: shortest round-trip digits, fixed notation for exponents in
// [-4, 16), else "1.5e-07"; integral values keep a ".0".
std::string pythonRepr(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto [end, ec] =
      std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  (void)ec; // 64 bytes always suffice for a double
  std::string_view sci(buf, static_cast<size_t>(end - buf));

  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  size_t ePos = sci.find('e');
  int exp = std::atoi(std::string(sci.substr(ePos + 1)).c_str());
  std::string digits;
  for (char c : sci.substr(0, ePos))
    if (c != '.')
      digits += c;

  if (exp >= 16 || exp < -4) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
  } else if (exp >= 0) {
    size_t intLen = static_cast<size_t>(exp) + 1;
    out.append(digits, 0, intLen);
    if (digits.size() <= intLen) {
      out.append(intLen - digits.size(), '0');
      out += ".0";
    } else {
      out += '.';
      out.append(digits, intLen);
    }
  } else {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
  }
  return out;
}

std::string xmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      // Other control characters are not allowed in XML 1.0 at all.
      if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n')
        out += c;
    }
  }
  return out;
}

// Heckbert's "nice numbers": 1, 2, 5 or 10 times a power of ten.
double niceStep(double range, int targetTicks) {
  double raw = range / std::max(1, targetTicks);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * mag;
}

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  int decimals = 0;
};

// Y axis spanning the data, widened to whole tick steps but not past the
// bounds the quantity cannot cross (accuracy in [0,1], loss >= 0).
Axis valueAxis(double lo, double hi, double floorBound, double ceilBound) {
  if (!(lo <= hi)) { // no finite data
    lo = 0;
    hi = 1;
  }
  bool clampLo = lo >= floorBound, clampHi = hi <= ceilBound;
  // A margin keeps extreme markers off the frame; a flat series gets room
  // proportional to its value.
  double margin = hi - lo > 1e-12        ? 0.04 * (hi - lo)
                  : std::abs(lo) > 1e-12 ? 0.1 * std::abs(lo)
                                         : 0.1;
  lo -= margin;
  hi += margin;
  Axis a;
  double step = niceStep(hi - lo, 5);
  a.lo = std::floor(lo / step + 1e-9) * step;
  a.hi = std::ceil(hi / step - 1e-9) * step;
  if (clampLo)
    a.lo = std::max(a.lo, floorBound);
  if (clampHi)
    a.hi = std::min(a.hi, ceilBound);
  for (int i = 0;; ++i) {
    double t = std::ceil(a.lo / step - 1e-9) * step + i * step;
    if (t > a.hi + step * 1e-6)
      break;
    a.ticks.push_back(std::abs(t) < step * 1e-6 ? 0.0 : t);
  }
  a.decimals =
      std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return a;
}

// X axis over epochs: integer ticks, some room at each end so the first and
// last markers stay off the frame.
Axis epochAxis(int first, int last) {
  Axis a;
  double step =
      std::max(1.0, std::round(niceStep(std::max(1, last - first), 8)));
  double pad = std::max(0.5, 0.04 * (last - first));
  a.lo = first - pad;
  a.hi = last + pad;
  for (double t = std::ceil(first / step) * step; t <= last; t += step)
    a.ticks.push_back(t);
  if (a.ticks.empty())
    a.ticks.push_back(first);
  return a;
}

constexpr const char *kTrainColor = "#1f77b4"; // matplotlib's first two
constexpr const char *kValColor = "#ff7f0e";   // default colours

struct Series {
  std::string label;
  const char *color;
  std::vector<std::pair<int, double>> points;
};

struct PanelBox {
  double x, y, w, h; // plot area
};

std::string fmtNum(double v) { return fmt::format("{:.2f}", v); }

void drawPanel(std::string &svg, const PanelBox &box, const std::string &name,
               const Axis &xa, const Axis &ya,
               const std::vector<Series> &series, bool legendAtTop) {
  auto px = [&](double x) {
    return box.x + (x - xa.lo) / (xa.hi - xa.lo) * box.w;
  };
  auto py = [&](double y) {
    return box.y + box.h - (y - ya.lo) / (ya.hi - ya.lo) * box.h;
  };

  svg += fmt::format("<g class=\"panel\" id=\"{}\">\n", name);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"panel-title\" "
                     "text-anchor=\"middle\">{}</text>\n",
                     fmtNum(box.x + box.w / 2), fmtNum(box.y - 12), name);

  // Grid and tick labels.
  for (double t : ya.ticks) {
    double y = py(t);
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                       "class=\"grid\"/>\n",
                       fmtNum(box.x), fmtNum(y), fmtNum(box.x + box.w));
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                       "class=\"axis\"/>\n",
                       fmtNum(box.x - 5), fmtNum(y), fmtNum(box.x));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\" "
                       "text-anchor=\"end\">{:.{}f}</text>\n",
                       fmtNum(box.x - 8), fmtNum(y + 4), t, ya.decimals);
  }
  for (double t : xa.ticks) {
    double x = px(t);
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
                       "class=\"grid\"/>\n",
                       fmtNum(x), fmtNum(box.y), fmtNum(box.y + box.h));
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
                       "class=\"axis\"/>\n",
                       fmtNum(x), fmtNum(box.y + box.h),
                       fmtNum(box.y + box.h + 5));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\" "
                       "text-anchor=\"middle\">{:.0f}</text>\n",
                       fmtNum(x), fmtNum(box.y + box.h + 19), t);
  }
  svg +=
      fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
                  "class=\"frame\"/>\n",
                  fmtNum(box.x), fmtNum(box.y), fmtNum(box.w), fmtNum(box.h));

  // Axis titles.
  svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"axis-title\" "
                     "text-anchor=\"middle\">Epoch</text>\n",
                     fmtNum(box.x + box.w / 2), fmtNum(box.y + box.h + 40));
  double ty = box.y + box.h / 2, tx = box.x - 52;
  svg += fmt::format("<text x=\"{0}\" y=\"{1}\" class=\"axis-title\" "
                     "text-anchor=\"middle\" transform=\"rotate(-90 {0} {1})\">"
                     "{2}</text>\n",
                     fmtNum(tx), fmtNum(ty), name);

  // Curves: a non-finite value (a diverged loss) breaks the line there.
  for (const Series &s : series) {
    std::vector<std::string> runs(1);
    std::string markers;
    for (auto [epoch, v] : s.points) {
      if (!std::isfinite(v)) {
        if (!runs.back().empty())
          runs.emplace_back();
        continue;
      }
      double x = px(epoch), y = py(v);
      runs.back() += fmt::format("{}{},{}", runs.back().empty() ? "" : " ",
                                 fmtNum(x), fmtNum(y));
      markers += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" "
                             "fill=\"{}\"/>\n",
                             fmtNum(x), fmtNum(y), s.color);
    }
    for (const std::string &run : runs)
      if (!run.empty())
        svg += fmt::format("<polyline points=\"{}\" fill=\"none\" "
                           "stroke=\"{}\" stroke-width=\"2\"/>\n",
                           run, s.color);
    svg += markers;
  }

  // Legend in the corner the curves usually leave free: accuracy rises,
  // loss falls.
  size_t longest = 0;
  for (const Series &s : series)
    longest = std::max(longest, s.label.size());
  // About 7.5px per character at 13px; the sample line takes the first 44px.
  double rowH = 20, legendW = 56 + 7.5 * longest;
  double legendH = rowH * series.size() + 10;
  double lx = box.x + box.w - legendW - 10;
  double ly = legendAtTop ? box.y + 10 : box.y + box.h - legendH - 10;
  svg += fmt::format("<g class=\"legend\">\n<rect x=\"{}\" y=\"{}\" "
                     "width=\"{}\" height=\"{}\" rx=\"4\" fill=\"white\" "
                     "fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n",
                     fmtNum(lx), fmtNum(ly), fmtNum(legendW), fmtNum(legendH));
  for (size_t i = 0; i < series.size(); ++i) {
    double y = ly + 15 + rowH * i;
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                       "stroke=\"{3}\" stroke-width=\"2\"/>\n"
                       "<circle cx=\"{4}\" cy=\"{1}\" r=\"3.5\" "
                       "fill=\"{3}\"/>\n"
                       "<text x=\"{5}\" y=\"{6}\" class=\"legend-text\">{7}"
                       "</text>\n",
                       fmtNum(lx + 10), fmtNum(y), fmtNum(lx + 36),
                       series[i].color, fmtNum(lx + 23), fmtNum(lx + 44),
                       fmtNum(y + 4), xmlEscape(series[i].label));
  }
  svg += "</g>\n</g>\n";
}

} // namespace

std::string formatHistoryCsv(const std::vector<EpochRecord> &records,
                             bool header) {
  bool lr =
      std::any_of(records.begin(), records.end(),
                  [](const EpochRecord &r) { return r.hasLearningRate(); });
  std::string csv =
      !header ? ""
      : lr    ? "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss,"
                "seconds\n"
              : "epoch,accuracy,loss,val_accuracy,val_loss,seconds\n";
  for (const EpochRecord &r : records) {
    csv += fmt::format("{},{},", r.epoch - 1, pythonRepr(r.accuracy));
    if (lr)
      csv += fmt::format("{},", pythonRepr(r.learningRate));
    csv += fmt::format("{},", pythonRepr(r.loss));
    if (r.hasValidation)
      csv += fmt::format("{},{}", pythonRepr(r.valAccuracy),
                         pythonRepr(r.valLoss));
    else
      csv += ",";
    csv += fmt::format(",{}\n", pythonRepr(r.seconds));
  }
  return csv;
}

absl::Status writeHistoryCsv(const std::string &path,
                             const std::vector<EpochRecord> &records) {
  return writeFileAtomically(path, formatHistoryCsv(records, true));
}

absl::Status writeHistorySvg(const std::string &path,
                             const std::vector<EpochRecord> &records,
                             const std::string &title) {
  bool anyValidation =
      std::any_of(records.begin(), records.end(),
                  [](const EpochRecord &r) { return r.hasValidation; });
  int first = 1, last = 1;
  if (!records.empty()) {
    auto [lo, hi] =
        std::minmax_element(records.begin(), records.end(),
                            [](const EpochRecord &a, const EpochRecord &b) {
                              return a.epoch < b.epoch;
                            });
    first = lo->epoch;
    last = hi->epoch;
  }
  Axis xa = epochAxis(first, last);

  auto makeSeries = [&](const char *what, double EpochRecord::*train,
                        double EpochRecord::*val) {
    std::vector<Series> series;
    series.push_back({fmt::format("Training {}", what), kTrainColor, {}});
    if (anyValidation)
      series.push_back({fmt::format("Validation {}", what), kValColor, {}});
    double lo = INFINITY, hi = -INFINITY;
    auto add = [&](Series &s, int epoch, double v) {
      s.points.emplace_back(epoch, v);
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    };
    for (const EpochRecord &r : records) {
      add(series[0], r.epoch, r.*train);
      if (r.hasValidation)
        add(series[1], r.epoch, r.*val);
    }
    return std::make_pair(series, std::make_pair(lo, hi));
  };
  auto [accSeries, accRange] =
      makeSeries("Accuracy", &EpochRecord::accuracy, &EpochRecord::valAccuracy);
  auto [lossSeries, lossRange] =
      makeSeries("Loss", &EpochRecord::loss, &EpochRecord::valLoss);
  Axis accAxis = valueAxis(accRange.first, accRange.second, 0, 1);
  Axis lossAxis = valueAxis(lossRange.first, lossRange.second, 0, INFINITY);

  constexpr double kWidth = 1000, kHeight = 440, kPanelW = kWidth / 2;
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\">\n"
      "<style>\n"
      "text {{ font-family: 'DejaVu Sans', Arial, Helvetica, sans-serif; "
      "fill: #222222; }}\n"
      ".title {{ font-size: 20px; font-weight: bold; }}\n"
      ".panel-title {{ font-size: 16px; }}\n"
      ".axis-title {{ font-size: 14px; }}\n"
      ".tick {{ font-size: 12px; }}\n"
      ".legend-text {{ font-size: 13px; }}\n"
      ".grid {{ stroke: #e5e5e5; stroke-width: 1; }}\n"
      ".axis {{ stroke: #222222; stroke-width: 1; }}\n"
      ".frame {{ fill: none; stroke: #222222; stroke-width: 1; }}\n"
      "</style>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"32\" class=\"title\" text-anchor=\"middle\">{3}"
      "</text>\n",
      kWidth, kHeight, kWidth / 2, xmlEscape(title));
  // Room on the left of each plot for tick labels and the y-axis title.
  PanelBox accBox{80, 85, kPanelW - 110, kHeight - 85 - 65};
  PanelBox lossBox{kPanelW + 80, 85, kPanelW - 110, kHeight - 85 - 65};
  drawPanel(svg, accBox, "Accuracy", xa, accAxis, accSeries,
            /*legendAtTop=*/false);
  drawPanel(svg, lossBox, "Loss", xa, lossAxis, lossSeries,
            /*legendAtTop=*/true);
  svg += "</svg>\n";
  return writeFileAtomically(path, svg);
}

} // namespace cnnc::runtime
