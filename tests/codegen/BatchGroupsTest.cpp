// Sums over the batch by batch group (batch_groups, ir/ShapeRules.h;
// passes/BatchGroups.h): conv2d_backward_filter, its fused forms (bias
// gradient alongside, max pool gradient as prologue) in float32 and on
// bfloat16 pairs of images, and bias_grad. Each group's partial sum must be
// the ungrouped op's result on that group's slice of the batch, bit for
// bit, on every thread count (an empty group's is zeros); group_sum must
// add the partials in group order; and every grouped result must be near
// the interpreter's.

#include "codegen/GraphRunner.h"
#include "codegen/KernelTestUtil.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>

namespace cnnc::testing {
namespace {

using ir::OpKind;
using ir::ValueId;

// The op forms under test.
enum class Form {
  Filter,          // conv2d_backward_filter (x, dy)
  FilterPairs,     // the same on x and dy packed along the batch
  FilterBias,      // conv2d_backward_filter_fused [bias_grad] (x, dy)
  PooledBias,      // ... [max_pool2d_argmax_grad; bias_grad] (x, argmax, g)
  PooledBiasPairs, // the same with x packed along the batch
  BiasGrad,        // bias_grad (dy)
};

bool pairs(Form f) {
  return f == Form::FilterPairs || f == Form::PooledBiasPairs;
}
bool pooled(Form f) {
  return f == Form::PooledBias || f == Form::PooledBiasPairs;
}

// The operands of one case, per image, so that any slice of the batch can
// be fed to its own op.
struct CaseData {
  Window g{};
  int64_t o = 0;
  std::vector<int64_t> pool{2, 2};
  std::vector<float> x, dy, grad;
  std::vector<int32_t> argmax;

  std::vector<int64_t> dyShape(int64_t n) const {
    return {n, g.oh(), g.ow(), o};
  }
  std::vector<int64_t> pooledShape(int64_t n) const {
    return {n, g.oh() / pool[0], g.ow() / pool[1], o};
  }
};

template <typename T>
std::vector<T> slice(const std::vector<T> &all, int64_t n, int64_t n0,
                     int64_t n1) {
  size_t per = all.size() / static_cast<size_t>(n);
  return {all.begin() + static_cast<std::ptrdiff_t>(per * n0),
          all.begin() + static_cast<std::ptrdiff_t>(per * n1)};
}

// Adds the op of form f on images [n0, n1) with `groups` (0: none).
std::vector<ValueId> addOp(Builder &b, Form f, const CaseData &d, int64_t n0,
                           int64_t n1, int64_t groups) {
  const Window &g = d.g;
  int64_t n = n1 - n0;
  std::vector<int64_t> xs{n, g.h, g.w, g.c};
  ir::Attrs attrs{{ir::AttrName::Strides, g.strides()},
                  {ir::AttrName::Padding, g.padding()},
                  {ir::AttrName::KernelSize, std::vector<int64_t>{g.kh, g.kw}}};
  if (pairs(f))
    attrs.set(ir::AttrName::ComputeDtype, std::string("bfloat16"));
  if (groups > 0)
    attrs.set(ir::AttrName::BatchGroups, groups);
  auto pack = [&](ValueId v) {
    return b.op1(OpKind::PackBfloat16Pairs, {v},
                 {{ir::AttrName::Axes, std::vector<int64_t>{int64_t{0}}}});
  };
  if (f == Form::BiasGrad) {
    ir::Attrs grouped;
    if (groups > 0)
      grouped.set(ir::AttrName::BatchGroups, groups);
    return b.op(OpKind::BiasGrad,
                {b.input(d.dyShape(n), slice(d.dy, g.n, n0, n1))}, grouped);
  }
  ValueId x = b.input(xs, slice(d.x, g.n, n0, n1));
  if (pairs(f))
    x = pack(x);
  if (!pooled(f)) {
    ValueId dy = b.input(d.dyShape(n), slice(d.dy, g.n, n0, n1));
    if (f == Form::Filter || f == Form::FilterPairs)
      return b.op(OpKind::Conv2DBackwardFilter, {x, pairs(f) ? pack(dy) : dy},
                  attrs);
    attrs.set(ir::AttrName::Epilogue, std::vector<std::string>{"bias_grad"});
    return b.op(OpKind::Conv2DBackwardFilterFused, {x, dy}, attrs);
  }
  ValueId argmax = b.g.addInput("argmax", ir::i32(d.pooledShape(n)));
  b.intInputs[argmax] = slice(d.argmax, g.n, n0, n1);
  ValueId grad = b.input(d.pooledShape(n), slice(d.grad, g.n, n0, n1));
  attrs.set(ir::AttrName::PoolSize, d.pool);
  attrs.set(ir::AttrName::Prologue,
            std::vector<std::string>{"max_pool2d_argmax_grad"});
  attrs.set(ir::AttrName::Epilogue, std::vector<std::string>{"bias_grad"});
  return b.op(OpKind::Conv2DBackwardFilterFused, {x, argmax, grad}, attrs);
}

bool bitEqual(const float *a, const float *b, size_t n) {
  return std::memcmp(a, b, n * 4) == 0;
}

void checkGroups(std::mt19937 &rng, Form f, CaseData d, int64_t groups,
                 const std::string &what) {
  const Window &g = d.g;
  d.x = randomFloats(rng, ir::f32(g.xShape()).numElements());
  d.dy = randomFloats(rng, ir::f32(d.dyShape(g.n)).numElements());
  int64_t pn = ir::f32(d.pooledShape(g.n)).numElements();
  d.grad = randomFloats(rng, pn);
  d.argmax.resize(pn);
  for (int32_t &v : d.argmax)
    v = static_cast<int32_t>(rng() % (d.pool[0] * d.pool[1] + 1)) - 1;
  // Groups count pairs of images when x holds them.
  int64_t unit = pairs(f) ? 2 : 1, items = (g.n + unit - 1) / unit;
  int64_t size = ir::batchGroupSize(items, groups);

  Builder b;
  std::vector<ValueId> grouped = addOp(b, f, d, 0, g.n, groups);
  ASSERT_FALSE(grouped.empty()) << what;
  std::vector<ValueId> sums;
  for (ValueId v : grouped) {
    ASSERT_EQ(b.g.type(v).shape.at(0), groups) << what;
    sums.push_back(b.op1(OpKind::GroupSum, {v}));
  }
  // Each nonempty group's slice through the ungrouped op.
  std::vector<std::vector<ValueId>> alone(groups);
  for (int64_t k = 0; k < groups; ++k) {
    int64_t n0 = std::min(k * size * unit, g.n),
            n1 = std::min((k + 1) * size * unit, g.n);
    if (n0 < n1)
      alone[k] = addOp(b, f, d, n0, n1, 0);
  }
  Runs runs = b.run();
  ASSERT_EQ(runs.size(), kGraphThreads.size()) << what;
  for (size_t r = 0; r < grouped.size(); ++r) {
    std::string result = fmt::format("{} result {}", what, r);
    size_t per = static_cast<size_t>(b.g.type(sums[r]).numElements());
    for (size_t t = 0; t < runs.size(); ++t) {
      std::string where =
          fmt::format("{} threads={}", result, kGraphThreads[t]);
      const std::vector<float> &partials = runs[t].f.at(grouped[r]);
      for (int64_t k = 0; k < groups; ++k) {
        const float *p = partials.data() + per * k;
        if (alone[k].empty())
          EXPECT_EQ(std::count(p, p + per, 0.0f),
                    static_cast<std::ptrdiff_t>(per))
              << where << ": empty group " << k << " is not zeros";
        else
          EXPECT_TRUE(bitEqual(p, runs[t].f.at(alone[k][r]).data(), per))
              << where << ": group " << k
              << " differs from the op on its slice";
      }
      std::vector<float> inOrder(partials.begin(),
                                 partials.begin() + static_cast<long>(per));
      for (int64_t k = 1; k < groups; ++k)
        for (size_t i = 0; i < per; ++i)
          inOrder[i] += partials[per * k + i];
      EXPECT_TRUE(bitEqual(runs[t].f.at(sums[r]).data(), inOrder.data(), per))
          << where << ": group_sum is not the partials added in order";
      EXPECT_TRUE(bitEqual(partials.data(), runs[0].f.at(grouped[r]).data(),
                           partials.size()))
          << where << " differs from 1 thread";
    }
    // bfloat16 products: the interpreter rounds the same operands, its
    // sums are exact.
    EXPECT_LT(maxRelError(runs[0].f.at(grouped[r]), runs.ref.at(grouped[r])),
              pairs(f) ? 1e-4 : 5e-5)
        << result << " against the interpreter";
    EXPECT_LT(maxRelError(runs[0].f.at(sums[r]), runs.ref.at(sums[r])),
              pairs(f) ? 1e-4 : 5e-5)
        << result << " group_sum against the interpreter";
  }
}

// Batches that split evenly and not, a last group left empty (5 images in
// 4 groups of 2), odd batches of pairs (a padded image in the last pair);
// all-tap filter items (1 channel) and one-tap items, strides, padding.
TEST(BatchGroups, EachGroupIsTheOpOnItsSliceOfTheBatch) {
  std::mt19937 rng(71);
  struct Shape {
    Window g;
    int64_t o;
  };
  std::vector<Shape> shapes = {{{5, 10, 9, 1, 3, 3, 1, 1}, 32},
                               {{6, 9, 8, 5, 3, 3, 1, 1}, 19},
                               {{7, 9, 9, 3, 3, 2, 2, 1}, 16},
                               {{4, 13, 13, 32, 3, 3, 1, 1}, 64}};
  shapes[2].g.same();
  const Form forms[] = {Form::Filter,          Form::FilterPairs,
                        Form::FilterBias,      Form::PooledBias,
                        Form::PooledBiasPairs, Form::BiasGrad};
  for (size_t k = 0; k < shapes.size(); ++k)
    for (Form f : forms)
      for (int64_t groups = 2; groups <= (k == 0 ? 4 : 3); ++groups) {
        const Shape &s = shapes[k];
        int64_t items = pairs(f) ? (s.g.n + 1) / 2 : s.g.n;
        // The pooled gradient pairs up whole images: an even batch only.
        if (groups > items || (f == Form::PooledBiasPairs && s.g.n % 2 == 1))
          continue;
        CaseData d;
        d.g = s.g;
        d.o = s.o;
        checkGroups(rng, f, d, groups,
                    fmt::format("{} filters {} form {} groups {}", s.g.str(),
                                s.o, static_cast<int>(f), groups));
      }
}

TEST(BatchGroups, ShapeRulesCheckTheGroups) {
  ir::Graph g("groups");
  ValueId x = g.addInput("x", ir::f32({3, 6, 6, 2}));
  ValueId dy = g.addInput("dy", ir::f32({3, 4, 4, 5}));
  ir::Attrs attrs{{ir::AttrName::Strides, std::vector<int64_t>{1, 1}},
                  {ir::AttrName::Padding, std::vector<int64_t>{0, 0, 0, 0}},
                  {ir::AttrName::KernelSize, std::vector<int64_t>{3, 3}},
                  {ir::AttrName::BatchGroups, int64_t{3}}};
  auto dw = g.create1(OpKind::Conv2DBackwardFilter, {x, dy}, attrs);
  ASSERT_TRUE(dw.ok()) << dw.status();
  EXPECT_EQ(g.type(*dw), ir::f32({3, 3, 3, 2, 5}));
  auto sum = g.create1(OpKind::GroupSum, {*dw});
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(g.type(*sum), ir::f32({3, 3, 2, 5}));
  for (int64_t bad : {0, 1, 4}) {
    attrs.set(ir::AttrName::BatchGroups, bad);
    auto r = g.create1(OpKind::Conv2DBackwardFilter, {x, dy}, attrs);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("batch_groups"), std::string::npos)
        << r.status();
  }
  ir::Attrs grouped{{ir::AttrName::BatchGroups, int64_t{2}}};
  auto db = g.create1(OpKind::BiasGrad, {dy}, grouped);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(g.type(*db), ir::f32({2, 5}));
  ValueId v = g.addInput("v", ir::f32({5}));
  EXPECT_FALSE(g.create1(OpKind::BiasGrad, {v}, grouped).ok())
      << "a rank-1 gradient has no batch";
  EXPECT_FALSE(g.create1(OpKind::GroupSum, {v}).ok()) << "nothing to sum";
}

} // namespace
} // namespace cnnc::testing
