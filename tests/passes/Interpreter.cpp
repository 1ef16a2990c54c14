#include "passes/Interpreter.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

namespace cnnc::testing {

using ir::OpKind;
using Buffer = std::vector<double>;

namespace {

// Geometry of a windowed op on x[N, H, W, C] with output [N, OH, OW, *].
struct Window {
  int64_t n, h, w, c, kh, kw, oh, ow, sh, sw, pt, pl;

  // f(n, oh, ow, kh, kw, ih, iw) for every tap inside the image, row-major.
  void
  forEachTap(const std::function<void(int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t)> &f) const {
    for (int64_t b = 0; b < n; ++b)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x)
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              int64_t ih = y * sh + i - pt, iw = x * sw + j - pl;
              if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                f(b, y, x, i, j, ih, iw);
            }
  }
  int64_t in(int64_t b, int64_t ih, int64_t iw, int64_t ch) const {
    return ((b * h + ih) * w + iw) * c + ch;
  }
  int64_t out(int64_t b, int64_t y, int64_t x, int64_t ch,
              int64_t channels) const {
    return ((b * oh + y) * ow + x) * channels + ch;
  }
};

Window window(const std::vector<int64_t> &x, const std::vector<int64_t> &y,
              int64_t kh, int64_t kw, const ir::Attrs &a) {
  std::vector<int64_t> s = a.getInts("strides"), p = a.getInts("padding");
  return {x[0], x[1], x[2], x[3], kh, kw, y[1], y[2], s[0], s[1], p[0], p[1]};
}

// The dropout kernel's counter-based hash (codegen/ElementwiseKernels.cpp).
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double dropoutScale(const ir::Attrs &a, int64_t step, int64_t i) {
  double rate = a.getFloat("rate");
  if (rate <= 0)
    return 1;
  uint64_t key = mix64(mix64(mix64(static_cast<uint64_t>(a.getInt("seed"))) ^
                             static_cast<uint64_t>(a.getInt("salt"))) ^
                       static_cast<uint64_t>(step));
  uint64_t bits =
      mix64(key + static_cast<uint64_t>(i + 1) * 0x9e3779b97f4a7c15ull);
  double u = static_cast<double>(bits >> 40) / 16777216.0;
  return u >= rate ? 1 / (1 - rate) : 0;
}

} // namespace

Interpreter::Interpreter(const ir::Graph &g) : g_(g) {
  for (const ir::Value &v : g.values())
    buffers_.emplace_back(v.type.numElements(), 0.0);
}

std::vector<double> &Interpreter::at(const std::string &name) {
  ir::ValueId v = g_.findValue(name);
  if (v < 0)
    throw std::out_of_range("no value %" + name);
  return buffers_[v];
}

absl::Status Interpreter::run() {
  for (const ir::Op &op : g_.ops()) {
    auto shape = [&](ir::ValueId v) -> const std::vector<int64_t> & {
      return g_.type(v).shape;
    };
    auto in = [&](int i) -> Buffer & { return buffers_[op.operands[i]]; };
    auto out = [&](int i) -> Buffer & {
      Buffer &b = buffers_[op.results[i]];
      std::fill(b.begin(), b.end(), 0.0);
      return b;
    };
    const ir::Attrs &a = op.attrs;
    switch (op.kind) {
    case OpKind::Conv2D: {
      const auto &ws = shape(op.operands[1]);
      Window win =
          window(shape(op.operands[0]), shape(op.results[0]), ws[0], ws[1], a);
      Buffer &x = in(0), &w = in(1), &y = out(0);
      int64_t o = ws[3];
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            y[win.out(b, r, q, k, o)] +=
                x[win.in(b, ih, iw, c)] *
                w[((i * ws[1] + j) * win.c + c) * o + k];
      });
      break;
    }
    case OpKind::Conv2DBackwardData: {
      const auto &ws = shape(op.operands[1]);
      Window win = window(a.getInts("input_shape"), shape(op.operands[0]),
                          ws[0], ws[1], a);
      Buffer &dy = in(0), &w = in(1), &dx = out(0);
      int64_t o = ws[3];
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            dx[win.in(b, ih, iw, c)] +=
                dy[win.out(b, r, q, k, o)] *
                w[((i * ws[1] + j) * win.c + c) * o + k];
      });
      break;
    }
    case OpKind::Conv2DBackwardFilter: {
      std::vector<int64_t> ks = a.getInts("kernel_size");
      const auto &dys = shape(op.operands[1]);
      Window win = window(shape(op.operands[0]), dys, ks[0], ks[1], a);
      Buffer &x = in(0), &dy = in(1), &dw = out(0);
      int64_t o = dys[3];
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t i, int64_t j,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c)
          for (int64_t k = 0; k < o; ++k)
            dw[((i * ks[1] + j) * win.c + c) * o + k] +=
                x[win.in(b, ih, iw, c)] * dy[win.out(b, r, q, k, o)];
      });
      break;
    }
    case OpKind::BiasAdd: {
      Buffer &x = in(0), &b = in(1), &y = out(0);
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = x[i] + b[i % b.size()];
      break;
    }
    case OpKind::BiasGrad: {
      Buffer &dy = in(0), &db = out(0);
      for (size_t i = 0; i < dy.size(); ++i)
        db[i % db.size()] += dy[i];
      break;
    }
    case OpKind::MaxPool2D:
    case OpKind::AvgPool2D: {
      std::vector<int64_t> ps = a.getInts("pool_size");
      Window win =
          window(shape(op.operands[0]), shape(op.results[0]), ps[0], ps[1], a);
      Buffer &x = in(0), &y = out(0);
      bool isMax = op.kind == OpKind::MaxPool2D;
      std::vector<int64_t> taps(y.size(), 0);
      if (isMax)
        std::fill(y.begin(), y.end(), -std::numeric_limits<double>::infinity());
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c) {
          int64_t o = win.out(b, r, q, c, win.c);
          double v = x[win.in(b, ih, iw, c)];
          y[o] = isMax ? std::max(y[o], v) : y[o] + v;
          ++taps[o];
        }
      });
      if (!isMax)
        for (size_t o = 0; o < y.size(); ++o)
          y[o] /= static_cast<double>(taps[o]);
      break;
    }
    case OpKind::MaxPool2DGrad: {
      std::vector<int64_t> ps = a.getInts("pool_size");
      Window win =
          window(shape(op.operands[0]), shape(op.operands[1]), ps[0], ps[1], a);
      Buffer &x = in(0), &y = in(1), &dy = in(2), &dx = out(0);
      // Each window's gradient goes to its first tap equal to the max.
      std::vector<bool> routed(y.size(), false);
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c) {
          int64_t o = win.out(b, r, q, c, win.c), i = win.in(b, ih, iw, c);
          if (!routed[o] && x[i] == y[o]) {
            dx[i] += dy[o];
            routed[o] = true;
          }
        }
      });
      break;
    }
    case OpKind::AvgPool2DGrad: {
      std::vector<int64_t> ps = a.getInts("pool_size");
      Window win = window(a.getInts("input_shape"), shape(op.operands[0]),
                          ps[0], ps[1], a);
      Buffer &dy = in(0), &dx = out(0);
      std::vector<int64_t> taps(dy.size(), 0);
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t, int64_t) {
        for (int64_t c = 0; c < win.c; ++c)
          ++taps[win.out(b, r, q, c, win.c)];
      });
      win.forEachTap([&](int64_t b, int64_t r, int64_t q, int64_t, int64_t,
                         int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < win.c; ++c) {
          int64_t o = win.out(b, r, q, c, win.c);
          dx[win.in(b, ih, iw, c)] += dy[o] / static_cast<double>(taps[o]);
        }
      });
      break;
    }
    case OpKind::MatMul: {
      const auto &as = shape(op.operands[0]), &bs = shape(op.operands[1]);
      bool ta = a.getInt("transpose_a") != 0, tb = a.getInt("transpose_b") != 0;
      int64_t m = ta ? as[1] : as[0], k = ta ? as[0] : as[1];
      int64_t n = tb ? bs[0] : bs[1];
      Buffer &x = in(0), &w = in(1), &y = out(0);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          for (int64_t p = 0; p < k; ++p)
            y[i * n + j] += x[ta ? p * as[1] + i : i * as[1] + p] *
                            w[tb ? j * bs[1] + p : p * bs[1] + j];
      break;
    }
    case OpKind::Reshape:
      out(0) = in(0);
      break;
    case OpKind::Activation:
    case OpKind::ActivationGrad: {
      std::string kind = a.getString("kind");
      bool grad = op.kind == OpKind::ActivationGrad;
      Buffer &x = in(0), &y = out(0);
      for (size_t i = 0; i < y.size(); ++i) {
        double v = x[i];
        if (!grad)
          y[i] = kind == "relu"      ? (v > 0 ? v : 0)
                 : kind == "sigmoid" ? 1 / (1 + std::exp(-v))
                                     : std::tanh(v);
        else // v is the forward output
          y[i] = in(1)[i] * (kind == "relu"      ? (v > 0 ? 1 : 0)
                             : kind == "sigmoid" ? v * (1 - v)
                                                 : 1 - v * v);
      }
      break;
    }
    case OpKind::Softmax:
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::SoftmaxCrossEntropyGrad:
    case OpKind::CountCorrect: {
      const auto &s = shape(op.operands[0]);
      int64_t n = s[0], c = s[1];
      Buffer &x = in(0);
      Buffer labels = op.operands.size() > 1 ? in(1) : Buffer(n, 0);
      auto label = [&](int64_t r) { return static_cast<int64_t>(labels[r]); };
      for (int64_t r = 0; r < n && op.operands.size() > 1; ++r)
        if (label(r) < 0 || label(r) >= c)
          return absl::InvalidArgumentError(fmt::format(
              "{}: label {} outside [0, {})", opName(op.kind), label(r), c));
      if (op.kind == OpKind::SoftmaxCrossEntropyGrad) {
        Buffer &dx = out(0);
        for (int64_t r = 0; r < n; ++r)
          for (int64_t j = 0; j < c; ++j)
            dx[r * c + j] = (x[r * c + j] - (j == label(r) ? 1 : 0)) /
                            static_cast<double>(n);
        break;
      }
      if (op.kind == OpKind::CountCorrect) {
        double correct = 0;
        for (int64_t r = 0; r < n; ++r) {
          int64_t best = 0;
          for (int64_t j = 1; j < c; ++j)
            if (x[r * c + j] > x[r * c + best])
              best = j;
          correct += best == label(r) ? 1 : 0;
        }
        out(0)[0] = correct;
        break;
      }
      bool sce = op.kind == OpKind::SoftmaxCrossEntropy;
      Buffer &probs = out(sce ? 1 : 0);
      double loss = 0;
      for (int64_t r = 0; r < n; ++r) {
        double m = x[r * c];
        for (int64_t j = 1; j < c; ++j)
          m = std::max(m, x[r * c + j]);
        double sum = 0;
        for (int64_t j = 0; j < c; ++j)
          sum += std::exp(x[r * c + j] - m);
        for (int64_t j = 0; j < c; ++j)
          probs[r * c + j] = std::exp(x[r * c + j] - m) / sum;
        if (sce)
          loss += std::log(sum) - (x[r * c + label(r)] - m);
      }
      if (sce)
        out(0)[0] = loss / static_cast<double>(n);
      break;
    }
    case OpKind::Dropout: {
      Buffer &x = in(0), &y = out(0), &mask = out(1);
      auto step = static_cast<int64_t>(in(1)[0]);
      for (size_t i = 0; i < y.size(); ++i) {
        mask[i] = dropoutScale(a, step, static_cast<int64_t>(i));
        y[i] = x[i] * mask[i];
      }
      break;
    }
    case OpKind::Mul:
    case OpKind::Add: {
      Buffer &x = in(0), &w = in(1), &y = out(0);
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = op.kind == OpKind::Mul ? x[i] * w[i] : x[i] + w[i];
      break;
    }
    case OpKind::SgdUpdate: {
      Buffer &p = in(0), &g = in(1);
      double lr = a.getFloat("learning_rate"), mom = a.getFloat("momentum");
      bool nesterov = a.getInt("nesterov") != 0;
      for (size_t i = 0; i < p.size(); ++i) {
        if (op.operands.size() == 2) {
          p[i] -= lr * g[i];
          continue;
        }
        double &v = in(2)[i];
        v = mom * v - lr * g[i];
        p[i] += nesterov ? mom * v - lr * g[i] : v;
      }
      break;
    }
    case OpKind::AdamUpdate: {
      Buffer &p = in(0), &g = in(1), &m = in(2), &v = in(3);
      double lr = a.getFloat("learning_rate"), b1 = a.getFloat("beta_1"),
             b2 = a.getFloat("beta_2"), eps = a.getFloat("epsilon");
      double t = in(4)[0]; // 1-based
      double alpha =
          lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      for (size_t i = 0; i < p.size(); ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
      }
      break;
    }
    case OpKind::RmspropUpdate: {
      Buffer &p = in(0), &g = in(1), &ms = in(2);
      double lr = a.getFloat("learning_rate"), rho = a.getFloat("rho"),
             eps = a.getFloat("epsilon");
      for (size_t i = 0; i < p.size(); ++i) {
        ms[i] = rho * ms[i] + (1 - rho) * g[i] * g[i];
        p[i] -= lr * g[i] / std::sqrt(ms[i] + eps);
      }
      break;
    }
    }
  }
  return absl::OkStatus();
}

} // namespace cnnc::testing
