#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "model_writer.h"
#include "slimlab/engine.h"
#include "test_main.h"

namespace {

// NCHW reference of small_conv_model: relu(conv3x3(x, pad 1) + b) + k.
std::vector<float> reference(const slimtest::ModelWriter& w, const std::vector<float>& x, int64_t n) {
  const auto& wt = w.tensors[1].values;
  const auto& bt = w.tensors[2].values;
  const auto& kt = w.tensors[3].values;
  const int64_t m = w.tensors[1].shape[0], c = w.tensors[1].shape[1];
  std::vector<float> y(static_cast<size_t>(n * m * 16));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 4; ++j) {
          float acc = bt[o];
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t u = 0; u < 3; ++u)
              for (int64_t v = 0; v < 3; ++v) {
                const int64_t yy = i + u - 1, xx = j + v - 1;
                if (yy < 0 || yy >= 4 || xx < 0 || xx >= 4) continue;
                acc += wt[((o * c + ci) * 3 + u) * 3 + v] * x[((b * c + ci) * 4 + yy) * 4 + xx];
              }
          y[((b * m + o) * 4 + i) * 4 + j] = std::max(acc, 0.0f) + kt[o];
        }
  return y;
}

std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f);
  return v;
}

// Conv and the pools on one 1x3x5x6 image, given as the graph input `img`
// or as a constant; `z` (shape [1]) is added to the Conv so the model always
// has a graph input.
slimtest::ModelWriter nhwc_ops_model(bool constant_image) {
  using slimtest::WAttr;
  slimtest::ModelWriter w;
  std::vector<float> img(3 * 5 * 6), wv(4 * 3 * 9), bv(4);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<float>((i * 37) % 23) / 7.0f - 1.5f;
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<float>((i * 5) % 13) / 13.0f - 0.5f;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = 0.25f * static_cast<float>(i) - 0.3f;
  const uint32_t x = constant_image ? w.tensor({"img", 1, 2, {1, 3, 5, 6}, {}, img})
                                    : w.tensor({"img", 1, 1, {1, 3, 5, 6}, {}, {}});
  const uint32_t z = w.tensor({"z", 1, 1, {1}, {}, {}});
  const uint32_t wt = w.tensor({"w", 1, 2, {4, 3, 3, 3}, {}, wv});
  const uint32_t bt = w.tensor({"b", 1, 2, {4}, {}, bv});
  const uint32_t h = w.tensor({"h", 1, 0, {1, 4, 5, 6}, {}, {}});
  const uint32_t y = w.tensor({"y", 1, 0, {1, 4, 5, 6}, {}, {}});
  const uint32_t mp = w.tensor({"mp", 1, 0, {1, 3, 2, 3}, {}, {}});
  const uint32_t ap = w.tensor({"ap", 1, 0, {1, 3, 5, 6}, {}, {}});
  const uint32_t ga = w.tensor({"ga", 1, 0, {1, 3, 1, 1}, {}, {}});
  const uint32_t gm = w.tensor({"gm", 1, 0, {1, 3, 1, 1}, {}, {}});
  w.inputs = constant_image ? std::vector<uint32_t>{z} : std::vector<uint32_t>{x, z};
  w.outputs = {y, mp, ap, ga, gm};
  const WAttr pads1{"pads", 4, 0, "", {1, 1, 1, 1}, {}};
  const WAttr k2{"kernel_shape", 4, 0, "", {2, 2}, {}}, s2{"strides", 4, 0, "", {2, 2}, {}};
  const WAttr k3{"kernel_shape", 4, 0, "", {3, 3}, {}};
  w.nodes.push_back({"Conv", "conv", {int32_t(x), int32_t(wt), int32_t(bt)}, {h},
                     {pads1, WAttr{"activation", 3, 0, "Relu", {}, {}}}});
  w.nodes.push_back({"Add", "add", {int32_t(h), int32_t(z)}, {y}, {}});
  w.nodes.push_back({"MaxPool", "maxpool", {int32_t(x)}, {mp}, {k2, s2}});
  w.nodes.push_back({"AveragePool", "avgpool", {int32_t(x)}, {ap}, {k3, pads1}});
  w.nodes.push_back({"GlobalAveragePool", "gap", {int32_t(x)}, {ga}, {}});
  w.nodes.push_back({"GlobalMaxPool", "gmp", {int32_t(x)}, {gm}, {}});
  return w;
}

}  // namespace

TEST(session_runs_nhwc_ops_on_constant_inputs) {
  // A constant stays in plain layout, so these ops see a plain input only
  // then; they must agree with the NHWC path a graph input takes.
  const auto fed = nhwc_ops_model(false).bytes(), folded = nhwc_ops_model(true).bytes();
  const auto img = nhwc_ops_model(true).tensors[0].values;
  const float z = 0.5f;
  for (const std::string& isa : slim::available_isas()) {
    slim::Session a(fed.data(), fed.size(), {2, isa}), b(folded.data(), folded.size(), {2, isa});
    const auto ya = a.run({{"img", {img.data(), slim::DType::kFloat32, {1, 3, 5, 6}}},
                           {"z", {&z, slim::DType::kFloat32, {1}}}});
    const auto yb = b.run({{"z", {&z, slim::DType::kFloat32, {1}}}});
    CHECK(ya.size() == 5 && yb.size() == 5);
    for (size_t o = 0; o < ya.size() && o < yb.size(); ++o) {
      CHECK(ya[o].shape == yb[o].shape);
      const float* p = static_cast<const float*>(ya[o].data);
      const float* q = static_cast<const float*>(yb[o].data);
      float err = 0;
      for (size_t i = 0; i < ya[o].bytes / sizeof(float); ++i) err = std::max(err, std::fabs(p[i] - q[i]));
      CHECK(err < 1e-5f);
    }
  }
}

TEST(session_matches_reference_for_several_batches_and_threads) {
  const auto w = slimtest::small_conv_model();
  const auto f = w.bytes();
  for (int threads : {1, 3}) {
    slim::Session s(f.data(), f.size(), {threads, ""});
    CHECK(s.inputs().size() == 1 && s.inputs()[0].name == "x" && s.inputs()[0].shape[0] == -1);
    for (int64_t n : {1, 3, 2}) {
      const auto x = ramp(static_cast<size_t>(n * 2 * 16));
      const auto out = s.run({{"x", {x.data(), slim::DType::kFloat32, {n, 2, 4, 4}}}});
      CHECK(out.size() == 1 && out[0].shape == std::vector<int64_t>({n, 3, 4, 4}));
      const auto ref = reference(w, x, n);
      const float* y = static_cast<const float*>(out[0].data);
      float err = 0;
      for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::fabs(y[i] - ref[i]));
      CHECK(err < 1e-5f);
    }
    const slim::MemoryInfo mem = s.memory();
    CHECK(mem.arena_bytes > 0 && mem.arena_bytes <= mem.naive_activation_bytes);
    CHECK(mem.weights_bytes == (3 * 2 * 9 + 3 + 3) * 4);
    CHECK(!s.profile().empty());
  }
}

TEST(session_rejects_bad_inputs_clearly) {
  const auto f = slimtest::small_conv_model().bytes();
  slim::Session s(f.data(), f.size());
  std::vector<float> x(64);
  CHECK_THROWS(s.run({{"nope", {x.data(), slim::DType::kFloat32, {1, 2, 4, 4}}}}), "unknown input name 'nope'");
  CHECK_THROWS(s.run({}), "missing input 'x'");
  CHECK_THROWS(s.run({{"x", {x.data(), slim::DType::kFloat32, {2, 4, 4}}}}), "rank");
  CHECK_THROWS(s.run({{"x", {x.data(), slim::DType::kInt64, {1, 2, 4, 4}}}}), "dtype int64");
  CHECK_THROWS(s.run({{"x", {x.data(), slim::DType::kFloat32, {1, 5, 4, 4}}}}), "dim 1 must be 2");
  CHECK_THROWS(s.run({{"x", {x.data(), slim::DType::kFloat32, {1, 2, 4, 4}}}}, {"zz"}), "unknown output name");
}

TEST(session_propagates_nan) {
  const auto f = slimtest::small_conv_model().bytes();
  slim::Session s(f.data(), f.size());
  auto x = ramp(32);
  x[5] = std::nanf("");
  const auto out = s.run({{"x", {x.data(), slim::DType::kFloat32, {1, 2, 4, 4}}}});
  const float* y = static_cast<const float*>(out[0].data);
  int nans = 0;
  for (int i = 0; i < 48; ++i) nans += std::isnan(y[i]) ? 1 : 0;
  CHECK(nans > 0);
}

TEST(session_concurrent_runs_agree) {
  const auto f = slimtest::small_conv_model().bytes();
  slim::Session s(f.data(), f.size(), {2, ""});
  const auto x = ramp(64);
  const auto expect = s.run({{"x", {x.data(), slim::DType::kFloat32, {2, 2, 4, 4}}}});
  std::vector<std::thread> ts;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep) {
        const auto out = s.run({{"x", {x.data(), slim::DType::kFloat32, {2, 2, 4, 4}}}});
        if (std::memcmp(out[0].data, expect[0].data, expect[0].bytes) != 0) ++mismatches;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(mismatches.load() == 0);
}

TEST(session_reports_unsupported_ops_and_isa) {
  auto w = slimtest::small_conv_model();
  w.nodes[1].op = "FancyOp";
  const auto f = w.bytes();
  CHECK_THROWS(slim::Session(f.data(), f.size()), "unsupported op types: FancyOp");
  const auto g = slimtest::small_conv_model().bytes();
  CHECK_THROWS(slim::Session(g.data(), g.size(), {1, "sse9"}), "unknown ISA 'sse9'");
  CHECK_THROWS(slim::Session(g.data(), g.size(), {0, ""}), "threads");
  slim::Session scalar(g.data(), g.size(), {1, "scalar"});
  CHECK(scalar.isa() == "scalar");
  CHECK(slim::available_isas().front() == "scalar");
}

TEST(session_rejects_bad_attributes_at_load) {
  auto w = slimtest::small_conv_model();
  w.nodes[0].attrs[1].s = "Swish9";
  const auto f = w.bytes();
  CHECK_THROWS(slim::Session(f.data(), f.size()), "unknown fused activation 'Swish9'");
  auto w2 = slimtest::small_conv_model();
  w2.nodes[0].attrs[0].ints = {1, 1};
  const auto f2 = w2.bytes();
  CHECK_THROWS(slim::Session(f2.data(), f2.size()), "'pads' has 2 values, expected 4");
}

TEST(session_isa_env_caps_but_never_raises) {
  const auto f = slimtest::small_conv_model().bytes();
  ::setenv("SLIMLAB_ISA", "scalar", 1);
  CHECK(slim::Session(f.data(), f.size()).isa() == "scalar");
  ::setenv("SLIMLAB_ISA", "avx512vnni", 1);  // the top level, capped to the CPU, whatever it has
  CHECK(slim::Session(f.data(), f.size()).isa() == slim::available_isas().back());
  ::setenv("SLIMLAB_ISA", "bogus", 1);
  CHECK_THROWS(slim::Session(f.data(), f.size()), "SLIMLAB_ISA");
  ::unsetenv("SLIMLAB_ISA");
  CHECK(slim::Session(f.data(), f.size()).isa() == slim::available_isas().back());
}
