#include "runtime/Profile.h"

#include "ir/OpCost.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string_view>

namespace cnnc::runtime {

double opFlops(const ir::Graph &g, size_t opIndex) {
  return ir::opCost(g, g.ops()[opIndex]).flops;
}

double graphFlops(const ir::Graph &g) {
  double total = 0;
  for (size_t i = 0; i < g.ops().size(); ++i)
    total += opFlops(g, i);
  return total;
}

std::string formatProfile(std::vector<KernelProfile> kernels,
                          double peakGflops) {
  // One row per kernel name: a step compiled for two batch sizes (the last
  // partial batch) has the same kernels twice.
  std::map<std::string, KernelProfile> merged;
  for (const KernelProfile &k : kernels) {
    if (k.calls <= 0)
      continue;
    auto [it, fresh] = merged.try_emplace(k.name, k);
    if (fresh) {
      it->second.flops = k.flops * k.calls; // total until the end
      continue;
    }
    it->second.seconds += k.seconds;
    it->second.calls += k.calls;
    it->second.flops += k.flops * k.calls;
  }
  if (merged.empty())
    return "";
  std::vector<KernelProfile> rows;
  double seconds = 0, flops = 0;
  int64_t steps = 0;
  for (auto &[name, k] : merged) {
    seconds += k.seconds;
    flops += k.flops;
    steps = std::max(steps, k.calls);
    rows.push_back(k);
  }
  std::sort(rows.begin(), rows.end(),
            [](const KernelProfile &a, const KernelProfile &b) {
              return a.seconds > b.seconds;
            });

  // The kernel's name already says its op ("k3_conv2d"); a fused op's
  // stages follow it ("k2_conv2d_fused (bias_add, activation)").
  auto label = [](const KernelProfile &k) {
    size_t open = k.op.find('(');
    return open == std::string::npos ? k.name
                                     : k.name + " " + k.op.substr(open);
  };
  size_t width = std::string_view("total (per step)").size();
  for (const KernelProfile &k : rows)
    width = std::max(width, label(k).size());
  bool peak = peakGflops > 0;
  std::string out = fmt::format("{:<{}} {:>7} {:>9} {:>8} {:>7}", "kernel",
                                width, "calls", "ms/call", "GFLOP/s", "% step");
  out.append(peak ? fmt::format(" {:>7}\n", "% peak") : "\n");
  auto row = [&](const std::string &name, int64_t calls, double secs,
                 double fl) {
    double gflops = secs > 0 ? fl / secs / 1e9 : 0;
    out.append(fmt::format("{:<{}} {:>7} {:>9.4f} {:>8.1f} {:>6.1f}%", name,
                           width, calls, secs * 1e3 / calls, gflops,
                           seconds > 0 ? 100 * secs / seconds : 0));
    out.append(peak ? fmt::format(" {:>6.1f}%\n", 100 * gflops / peakGflops)
                    : "\n");
  };
  for (const KernelProfile &k : rows)
    row(label(k), k.calls, k.seconds, k.flops);
  row("total (per step)", steps, seconds, flops);
  return out;
}

} // namespace cnnc::runtime
