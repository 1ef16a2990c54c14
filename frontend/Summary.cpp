// formatSummary: Keras's model.summary() table for a lowered model.
#include "frontend/Frontend.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace cnnc::frontend {

namespace {

// Keras's column stops for sequential models on a 65-character line.
constexpr size_t kNameWidth = 29, kShapeWidth = 26, kLineWidth = 65;

std::string withCommas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return n < 0 ? fmt::format("-{}", out) : out;
}

// "(None, 26, 26, 32)": Keras shows the batch dimension as None.
std::string shapeText(const std::vector<int64_t> &shape) {
  std::string out = "(None";
  for (int64_t d : shape)
    out += fmt::format(", {}", d);
  return out + ")";
}

} // namespace

std::string formatSummary(const LoweredModel &m) {
  // Keras's column stops, widened when a name or shape is longer.
  size_t nameWidth = kNameWidth, shapeWidth = kShapeWidth, paramWidth = 0;
  std::vector<std::array<std::string, 3>> rows;
  int64_t total = 0, nonTrainable = 0;
  for (const LayerSummary &l : m.layers) {
    rows.push_back({fmt::format(" {} ({})", l.name, l.type),
                    shapeText(l.outputShape), withCommas(l.params)});
    nameWidth = std::max(nameWidth, rows.back()[0].size() + 2);
    shapeWidth = std::max(shapeWidth, rows.back()[1].size() + 2);
    paramWidth = std::max(paramWidth, rows.back()[2].size());
    total += l.params;
    nonTrainable += l.nonTrainableParams;
  }
  size_t lineWidth = std::max(kLineWidth, nameWidth + shapeWidth + paramWidth);
  std::string rule(lineWidth, '_'), doubleRule(lineWidth, '=');
  auto row = [&](const std::string &name, const std::string &shape,
                 const std::string &params) {
    return fmt::format("{:<{}}{:<{}}{}\n", name, nameWidth, shape, shapeWidth,
                       params);
  };
  std::string out = fmt::format("Model: \"{}\"\n{}\n", m.forward.name(), rule);
  out += row(" Layer (type)", "Output Shape", "Param #");
  out += doubleRule + "\n";
  for (const auto &r : rows)
    out += row(r[0], r[1], r[2]);
  out += doubleRule + "\n";
  out += fmt::format("Total params: {}\n", withCommas(total));
  out +=
      fmt::format("Trainable params: {}\n", withCommas(total - nonTrainable));
  out += fmt::format("Non-trainable params: {}\n", withCommas(nonTrainable));
  out += rule + "\n";
  return out;
}

} // namespace cnnc::frontend
