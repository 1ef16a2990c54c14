// Every kernel's thread shares are disjoint and together write every result
// element: each thread id runs alone on results filled with a marker, and
// every element must be written by exactly one thread id of the call. Two
// threads writing the same element is a data race even when they write the
// same value; an element nobody writes is garbage. Thread counts include
// more threads than some kernels have work items (empty shares), and the
// 4 shares per thread the executor cuts kernels into on 2 and 4 threads.
#include "KernelTestUtil.h"
#include "common/FusedStageSets.h"

#include <gtest/gtest.h>

#include <cstring>

namespace cnnc::testing {
namespace {

using ir::OpKind;

constexpr uint32_t kMarkerF32 = 0x7fc0dead; // a NaN no kernel computes
constexpr int32_t kMarkerI32 = 0x7eadbeef;

struct Call {
  OpKind kind;
  std::vector<HostTensor> operands;
  ir::Attrs attrs;
  std::string what;
};

HostTensor randomTensor(std::mt19937 &rng, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return HostTensor::floats(std::move(shape), randomFloats(rng, n));
}

HostTensor intTensor(std::vector<int64_t> shape, int32_t lo, int32_t hi,
                     std::mt19937 &rng) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> v(n);
  for (int32_t &x : v)
    x = d(rng);
  return HostTensor::ints(std::move(shape), std::move(v));
}

ir::Attrs windowAttrs(const Window &g) {
  return {{ir::AttrName::Strides, g.strides()},
          {ir::AttrName::Padding, g.padding()}};
}

std::vector<Call> calls(std::mt19937 &rng) {
  std::vector<Call> out;
  auto add = [&](OpKind kind, std::vector<HostTensor> operands, ir::Attrs attrs,
                 std::string what) {
    out.push_back({kind, std::move(operands), std::move(attrs),
                   fmt::format("{} {}", ir::opName(kind), what)});
  };
  // Convolutions: the gather (padded), the scatter (unpadded) backward data,
  // both filter plans, batches smaller than the thread count.
  Window same{1, 9, 7, 3, 3, 3, 2, 2};
  same.same();
  Window valid{2, 8, 9, 17, 3, 3, 1, 1};
  Window first{3, 10, 11, 1, 3, 3, 1, 1};
  std::vector<std::pair<Window, int64_t>> convs = {
      {same, 17}, {valid, 16}, {first, 16}};
  for (auto [g, o] : convs) {
    std::vector<int64_t> ws{g.kh, g.kw, g.c, o}, ys{g.n, g.oh(), g.ow(), o};
    ir::Attrs a = windowAttrs(g);
    add(OpKind::Conv2D, {randomTensor(rng, g.xShape()), randomTensor(rng, ws)},
        a, g.str());
    ir::Attrs data = a;
    data.set(ir::AttrName::InputShape, g.xShape());
    add(OpKind::Conv2DBackwardData,
        {randomTensor(rng, ys), randomTensor(rng, ws)}, data, g.str());
    ir::Attrs filter = a;
    filter.set(ir::AttrName::KernelSize, std::vector<int64_t>{g.kh, g.kw});
    add(OpKind::Conv2DBackwardFilterFused,
        {randomTensor(rng, g.xShape()), randomTensor(rng, ys)},
        withStages(filter, kBiasGrad), g.str());
    add(OpKind::Conv2DKernelTranspose, {randomTensor(rng, ws)}, {}, g.str());
    ir::Attrs fused = a;
    fused.set(ir::AttrName::Activation, std::string("relu"));
    fused.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
    add(OpKind::Conv2DFused,
        {randomTensor(rng, g.xShape()), randomTensor(rng, ws),
         randomTensor(rng, {o})},
        withStages(fused, kBiasActPoolArgmax), g.str());
    std::vector<int64_t> pooled{g.n, g.oh() / 2, g.ow() / 2, o};
    filter.set(ir::AttrName::PoolSize, std::vector<int64_t>{2, 2});
    add(OpKind::Conv2DBackwardFilterFused,
        {randomTensor(rng, g.xShape()), intTensor(pooled, -1, 3, rng),
         randomTensor(rng, pooled)},
        withStages(filter, kArgmaxGradBiasGrad), g.str());
    add(OpKind::MaxPool2DArgmaxGrad,
        {intTensor(pooled, -1, 3, rng), randomTensor(rng, pooled)},
        {{ir::AttrName::PoolSize, std::vector<int64_t>{2, 2}},
         {ir::AttrName::InputShape, ys}},
        g.str());
  }
  // Pools, overlapping and padded.
  Window pool{3, 9, 8, 19, 3, 3, 2, 2};
  pool.same();
  std::vector<int64_t> py{pool.n, pool.oh(), pool.ow(), pool.c};
  add(
      OpKind::MaxPool2D, {randomTensor(rng, pool.xShape())},
      [&] {
        ir::Attrs a = windowAttrs(pool);
        a.set(ir::AttrName::PoolSize, std::vector<int64_t>{pool.kh, pool.kw});
        return a;
      }(),
      pool.str());
  ir::Attrs poolAttrs = windowAttrs(pool);
  poolAttrs.set(ir::AttrName::PoolSize, std::vector<int64_t>{pool.kh, pool.kw});
  add(OpKind::AvgPool2D, {randomTensor(rng, pool.xShape())}, poolAttrs,
      pool.str());
  add(OpKind::MaxPool2DGrad,
      {randomTensor(rng, pool.xShape()), randomTensor(rng, py),
       randomTensor(rng, py)},
      poolAttrs, pool.str());
  ir::Attrs avgGrad = poolAttrs;
  avgGrad.set(ir::AttrName::InputShape, pool.xShape());
  add(OpKind::AvgPool2DGrad, {randomTensor(rng, py)}, avgGrad, pool.str());
  add(OpKind::GlobalAvgPool2D, {randomTensor(rng, {3, 5, 4, 37})}, {}, "");
  add(OpKind::GlobalAvgPool2DGrad, {randomTensor(rng, {3, 37})},
      {{ir::AttrName::InputShape, std::vector<int64_t>{3, 5, 4, 37}}}, "");
  // Dense: both matmul forms with column counts that leave a partial tile
  // and fewer tiles than threads.
  std::vector<std::tuple<int64_t, int64_t, int64_t>> dense = {
      {5, 19, 10}, {3, 33, 5}, {7, 8, 70}};
  for (auto [m, k, n] : dense)
    for (bool tb : {false, true}) {
      std::string what = fmt::format("{}x{}x{} tb={}", m, k, n, tb);
      std::vector<int64_t> bs =
          tb ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n};
      ir::Attrs a = {{ir::AttrName::TransposeA, int64_t{0}},
                     {ir::AttrName::TransposeB, int64_t{tb}}};
      add(OpKind::MatMul, {randomTensor(rng, {m, k}), randomTensor(rng, bs)}, a,
          what);
      a.set(ir::AttrName::Activation, std::string("relu"));
      add(OpKind::MatMulFused,
          {randomTensor(rng, {m, k}), randomTensor(rng, bs),
           randomTensor(rng, {n})},
          withStages(a, kBiasAct), what);
    }
  add(OpKind::MatMul, {randomTensor(rng, {19, 5}), randomTensor(rng, {19, 10})},
      {{ir::AttrName::TransposeA, int64_t{1}},
       {ir::AttrName::TransposeB, int64_t{0}}},
      "ta");
  add(OpKind::BiasAdd, {randomTensor(rng, {5, 3, 37}), randomTensor(rng, {37})},
      {}, "");
  add(OpKind::BiasGrad, {randomTensor(rng, {7, 37})}, {}, "");
  // Elementwise and the classification head, sizes not multiples of 16.
  add(OpKind::Activation, {randomTensor(rng, {5, 37})},
      {{ir::AttrName::Kind, std::string("tanh")}}, "");
  add(OpKind::ActivationGrad,
      {randomTensor(rng, {5, 37}), randomTensor(rng, {5, 37})},
      {{ir::AttrName::Kind, std::string("sigmoid")}}, "");
  add(OpKind::Add, {randomTensor(rng, {37}), randomTensor(rng, {37})}, {}, "");
  add(OpKind::Dropout, {randomTensor(rng, {5, 37}), HostTensor::ints({}, {3})},
      {{ir::AttrName::Rate, 0.5},
       {ir::AttrName::Seed, int64_t{1}},
       {ir::AttrName::Salt, int64_t{2}}},
      "");
  add(OpKind::Softmax, {randomTensor(rng, {5, 10})}, {}, "");
  add(OpKind::SoftmaxCrossEntropy,
      {randomTensor(rng, {5, 10}), intTensor({5}, 0, 9, rng)}, {}, "");
  add(OpKind::SoftmaxCrossEntropyGrad,
      {randomTensor(rng, {5, 10}), intTensor({5}, 0, 9, rng)}, {}, "");
  add(OpKind::CountCorrect,
      {randomTensor(rng, {5, 10}), intTensor({5}, 0, 9, rng)}, {}, "");
  // Batch normalization over 37 channels (3 chunks of 16 lanes or fewer).
  add(OpKind::BatchNorm,
      {randomTensor(rng, {5, 3, 37}), randomTensor(rng, {37}),
       randomTensor(rng, {37})},
      {{ir::AttrName::Epsilon, 1e-3}}, "");
  add(OpKind::BatchNormGrad,
      {randomTensor(rng, {5, 3, 37}), randomTensor(rng, {37}),
       HostTensor::floats({37}, randomFloats(rng, 37, 0.5f, 1)),
       randomTensor(rng, {5, 3, 37}), randomTensor(rng, {37})},
      {{ir::AttrName::Epsilon, 1e-3}}, "");
  add(OpKind::BatchNormInference,
      {randomTensor(rng, {5, 3, 37}), randomTensor(rng, {37}),
       HostTensor::floats({37}, randomFloats(rng, 37, 0.5f, 1)),
       randomTensor(rng, {37}), randomTensor(rng, {37})},
      {{ir::AttrName::Epsilon, 1e-3}}, "");
  return out;
}

bool written(const HostTensor &t, size_t i) {
  if (t.type.dtype == ir::DType::I32)
    return t.i[i] != kMarkerI32;
  uint32_t bits;
  std::memcpy(&bits, &t.f[i], 4);
  return bits != kMarkerF32;
}

TEST(ThreadShares, EveryResultElementWrittenByExactlyOneThread) {
  std::mt19937 rng(21);
  std::vector<Call> cs = calls(rng);
  ir::Graph g("shares");
  std::vector<std::vector<ir::ValueId>> results;
  for (const Call &c : cs) {
    std::vector<ir::ValueId> ids;
    for (const HostTensor &t : c.operands)
      ids.push_back(g.addInput("a", t.type));
    auto r = g.create(c.kind, ids, c.attrs);
    ASSERT_TRUE(r.ok()) << c.what << ": " << r.status();
    results.push_back(*r);
  }
  auto compiled = codegen::compileGraph(g);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  float markerF;
  std::memcpy(&markerF, &kMarkerF32, 4);
  for (size_t k = 0; k < cs.size(); ++k) {
    codegen::KernelFn fn = (*compiled)->kernel(k);
    ASSERT_NE(fn, nullptr) << cs[k].what;
    for (int threads : {1, 2, 3, 4, 5, 7, 8, 16}) {
      std::vector<std::vector<int>> writers(results[k].size());
      for (size_t r = 0; r < results[k].size(); ++r)
        writers[r].assign(g.type(results[k][r]).numElements(), 0);
      for (int tid = 0; tid < threads; ++tid) {
        std::vector<HostTensor> res;
        for (ir::ValueId v : results[k]) {
          HostTensor t{g.type(v), {}, {}};
          if (t.type.dtype == ir::DType::F32)
            t.f.assign(t.type.numElements(), markerF);
          else
            t.i.assign(t.type.numElements(), kMarkerI32);
          res.push_back(std::move(t));
        }
        std::vector<void *> args;
        for (HostTensor &t : cs[k].operands)
          args.push_back(t.type.dtype == ir::DType::F32 ? (void *)t.f.data()
                                                        : (void *)t.i.data());
        for (HostTensor &t : res)
          args.push_back(t.type.dtype == ir::DType::F32 ? (void *)t.f.data()
                                                        : (void *)t.i.data());
        fn(args.data(), tid, threads);
        for (size_t r = 0; r < res.size(); ++r)
          for (size_t i = 0; i < writers[r].size(); ++i)
            writers[r][i] += written(res[r], i);
      }
      for (size_t r = 0; r < writers.size(); ++r)
        for (size_t i = 0; i < writers[r].size(); ++i)
          if (writers[r][i] != 1) {
            ADD_FAILURE() << cs[k].what << " threads=" << threads << ": result "
                          << r << " element " << i << " written by "
                          << writers[r][i] << " threads";
            break;
          }
    }
  }
}

} // namespace
} // namespace cnnc::testing
