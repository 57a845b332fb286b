// Micro-benchmark of slim_kernels (not a test): single-thread times of every
// kernel variant in kernels/kernel_list.h that the CPU runs, on MobileNetV2's
// shapes, then MobileNetV2's convolutions back to back with the variants
// kernel_config() picks at each ISA level.
//
//   slim_kernels_bench [filter]    filter: a substring of the variant name
//                                  (f32_gemm_8x32_avx512, _avx2, f32_dwconv, q8_gemm ...),
//                                  "mobilenet" ("mobilenet q8" for the int8 chain),
//                                  "peak" (fp32 FMA / int8 vpdpbusd peaks of one core)
//                                  or "q8vsf32" (q8 and f32 GEMMs on the same layers)
// Build: configure with -DSLIMLAB_BUILD_KERNELS_BENCH=ON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <immintrin.h>

#include "kernels/kernels.h"

namespace {

using slim::Isa;
namespace k = slim::kernels;

bool cpu_runs(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(k::cpu_isa()); }

std::vector<float> random_floats(size_t n) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> random_u8(size_t n) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> dist(0, 255);
  std::vector<uint8_t> v(n);
  for (uint8_t& x : v) x = static_cast<uint8_t>(dist(rng));
  return v;
}

std::vector<int8_t> random_s8(size_t n) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> dist(-128, 127);
  std::vector<int8_t> v(n);
  for (int8_t& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

// Best time of several repetitions (the machine is shared), in seconds.
template <class F>
double best_seconds(F&& run, int budget_ms = 300) {
  run();  // warm caches and page in buffers
  double best = 1e30;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  for (int rep = 0; rep < 1000 && (rep < 3 || std::chrono::steady_clock::now() < deadline); ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  return best;
}

void bench_gemm(const k::F32GemmKernel& kernel, const char* label, int64_t M, int64_t N, int64_t K) {
  const std::vector<float> A = random_floats(static_cast<size_t>(M * K));
  const std::vector<float> B = random_floats(static_cast<size_t>(K * N));
  const std::vector<float> bias = random_floats(static_cast<size_t>(N));
  std::vector<float> packed(static_cast<size_t>(k::packed_b_floats(kernel, K, N)));
  std::vector<float> C(static_cast<size_t>(M * N));
  k::pack_b(kernel, K, N, B.data(), N, packed.data());
  const k::Epilogue ep{bias.data(), k::Activation::relu()};
  const double s = best_seconds([&] {
    k::sgemm_packed(kernel, K, N, A.data(), K, packed.data(), C.data(), N, ep, {0, M}, {0, N});
  });
  std::printf("%-24s sgemm %-24s M=%6lld N=%5lld K=%5lld  %8.3f ms  %6.1f GFLOP/s\n", kernel.name, label,
              static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(K), s * 1e3,
              2.0 * M * N * K / s * 1e-9);
}

// Activation x activation MatMul (B packed on the fly into scratch each call).
void bench_matmul(const k::F32GemmKernel& kernel, const char* label, int64_t M, int64_t N, int64_t K) {
  const std::vector<float> A = random_floats(static_cast<size_t>(M * K));
  const std::vector<float> B = random_floats(static_cast<size_t>(K * N));
  std::vector<float> scratch(static_cast<size_t>(k::packed_b_floats(kernel, K, N)));
  std::vector<float> C(static_cast<size_t>(M * N));
  const double s = best_seconds([&] {
    k::sgemm(kernel, K, N, A.data(), K, B.data(), N, C.data(), N, k::Epilogue{}, {0, M}, {0, N}, scratch.data());
  });
  std::printf("%-24s sgemm %-24s M=%6lld N=%5lld K=%5lld  %8.3f ms  %6.1f GFLOP/s (B packed per call)\n",
              kernel.name, label, static_cast<long long>(M), static_cast<long long>(N),
              static_cast<long long>(K), s * 1e3, 2.0 * M * N * K / s * 1e-9);
}

k::Conv2dShape conv_shape(int64_t hw, int64_t cin, int64_t cout, int64_t kernel, int64_t stride, int64_t groups) {
  k::Conv2dShape s;
  s.in_h = s.in_w = hw;
  s.in_c = cin;
  s.out_c = cout;
  s.kernel_h = s.kernel_w = kernel;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = kernel / 2;
  s.groups = groups;
  return s;
}

void print_conv(const char* kernel, const char* label, const k::Conv2dShape& s, double seconds) {
  const double flops = 2.0 * s.out_pixels() * s.out_c * (s.in_c / s.groups) * s.kernel_h * s.kernel_w;
  std::printf("%-24s conv  %-24s %3lldx%-3lld %4lld->%-4lld k%lld s%lld  %8.3f ms  %6.1f GFLOP/s\n", kernel, label,
              static_cast<long long>(s.in_h), static_cast<long long>(s.in_w), static_cast<long long>(s.in_c),
              static_cast<long long>(s.out_c), static_cast<long long>(s.kernel_h),
              static_cast<long long>(s.stride_h), seconds * 1e3, flops / seconds * 1e-9);
}

// Dense convolution through a GEMM variant (im2col unless pointwise).
void bench_conv(const k::F32GemmKernel& kernel, const char* label, const k::Conv2dShape& s) {
  const std::vector<float> in = random_floats(static_cast<size_t>(s.batch * s.in_h * s.in_w * s.in_c));
  const std::vector<float> w = random_floats(static_cast<size_t>(s.out_c * s.in_c / s.groups * s.kernel_h * s.kernel_w));
  const std::vector<float> bias = random_floats(static_cast<size_t>(s.out_c));
  std::vector<float> out(static_cast<size_t>(s.out_pixels() * s.out_c));
  const k::Epilogue ep{bias.data(), k::Activation::clip(0.0f, 6.0f)};
  std::vector<float> packed(static_cast<size_t>(k::conv2d_packed_weight_floats(kernel, s)));
  std::vector<float> scratch(static_cast<size_t>(k::conv2d_scratch_floats(kernel, s)) + 1);
  k::conv2d_pack_weights(kernel, s, w.data(), packed.data());
  print_conv(kernel.name, label, s, best_seconds([&] {
    k::conv2d(kernel, s, in.data(), packed.data(), out.data(), ep, {0, s.out_pixels()}, scratch.data());
  }));
}

void bench_dwconv(const k::F32DwconvKernel& kernel, const char* label, const k::Conv2dShape& s) {
  const std::vector<float> in = random_floats(static_cast<size_t>(s.batch * s.in_h * s.in_w * s.in_c));
  const std::vector<float> w = random_floats(static_cast<size_t>(s.out_c * s.kernel_h * s.kernel_w));
  const std::vector<float> bias = random_floats(static_cast<size_t>(s.out_c));
  std::vector<float> out(static_cast<size_t>(s.out_pixels() * s.out_c));
  const k::Epilogue ep{bias.data(), k::Activation::clip(0.0f, 6.0f)};
  std::vector<float> packed(static_cast<size_t>(k::depthwise_packed_weight_floats(s)));
  k::depthwise_pack_weights(s, w.data(), packed.data());
  print_conv(kernel.name, label, s, best_seconds([&] {
    k::depthwise_conv2d(kernel, s, in.data(), packed.data(), out.data(), ep, {0, s.out_rows()});
  }));
}

k::Pool2dShape pool_shape(int64_t hw, int64_t c, int64_t kernel, int64_t stride, int64_t pad) {
  k::Pool2dShape s;
  s.in_h = s.in_w = hw;
  s.channels = c;
  s.kernel_h = s.kernel_w = kernel;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  return s;
}

template <class Kernel, class Run>
void bench_pool(const Kernel& kernel, const char* label, const k::Pool2dShape& s, Run run) {
  const std::vector<float> in = random_floats(static_cast<size_t>(s.batch * s.in_h * s.in_w * s.channels));
  std::vector<float> out(static_cast<size_t>(s.out_rows() * s.out_w() * s.channels));
  const double t = best_seconds([&] { run(kernel, s, in.data(), out.data(), k::Range{0, s.out_rows()}); });
  std::printf("%-24s pool  %-24s %3lldx%-3lld c%-4lld k%lld s%lld  %8.3f ms  %6.2f GB/s read\n", kernel.name, label,
              static_cast<long long>(s.in_h), static_cast<long long>(s.in_w), static_cast<long long>(s.channels),
              static_cast<long long>(s.kernel_h), static_cast<long long>(s.stride_h), t * 1e3,
              static_cast<double>(in.size() * sizeof(float)) / t * 1e-9);
}

template <class Kernel, class Run>
void bench_global_pool(const Kernel& kernel, const char* label, int64_t pixels, int64_t channels, Run run) {
  const std::vector<float> in = random_floats(static_cast<size_t>(pixels * channels));
  std::vector<float> out(static_cast<size_t>(channels));
  const double t =
      best_seconds([&] { run(kernel, 1, pixels, channels, in.data(), out.data(), k::Range{0, channels}); });
  std::printf("%-24s gpool %-24s %6lld px c%-4lld  %8.3f ms  %6.2f GB/s read\n", kernel.name, label,
              static_cast<long long>(pixels), static_cast<long long>(channels), t * 1e3,
              static_cast<double>(in.size() * sizeof(float)) / t * 1e-9);
}

void bench_vact(const k::F32VactKernel& kernel, const k::Activation& act, int64_t n) {
  const std::vector<float> x = random_floats(static_cast<size_t>(n));
  std::vector<float> y(static_cast<size_t>(n));
  const double t = best_seconds([&] { k::activation(kernel, act, x.data(), y.data(), n); });
  std::printf("%-24s act   %-24s n=%lld  %8.3f ms  %6.2f Gelem/s\n", kernel.name, k::act_name(act.kind),
              static_cast<long long>(n), t * 1e3, static_cast<double>(n) / t * 1e-9);
}

void bench_binary(const k::F32VbinaryKernel& kernel, const char* label, int64_t n, int64_t b_stride) {
  const std::vector<float> a = random_floats(static_cast<size_t>(n)), b = random_floats(static_cast<size_t>(n));
  std::vector<float> y(static_cast<size_t>(n));
  const double t = best_seconds([&] { k::binary(kernel, k::BinaryOp::kMul, a.data(), 1, b.data(), b_stride, y.data(), n); });
  std::printf("%-24s bin   %-24s n=%lld  %8.3f ms  %6.2f Gelem/s\n", kernel.name, label, static_cast<long long>(n),
              t * 1e3, static_cast<double>(n) / t * 1e-9);
}

// All convolutions + classifier of MobileNetV2 (224 px, batch 1) back to back
// through the kernels, in a realistic buffer flow: an estimate of what the
// engine's compute costs single-threaded, without graph overheads (residual
// adds and layout conversions are not included).
void bench_mobilenet_v2(Isa isa) {
  const k::KernelConfig& cfg = k::kernel_config(isa);
  const k::F32GemmKernel& gemm = *cfg.f32_gemm;
  const k::F32DwconvKernel& dwconv = *cfg.f32_dwconv;
  struct Layer {
    k::Conv2dShape s;
    std::vector<float> packed;
    std::vector<float> bias;
    bool relu6;
  };
  std::vector<Layer> layers;
  const auto add = [&](int64_t hw, int64_t cin, int64_t cout, int64_t kernel, int64_t stride, int64_t groups,
                       bool relu6) {
    Layer l{conv_shape(hw, cin, cout, kernel, stride, groups), {}, random_floats(static_cast<size_t>(cout)), relu6};
    const std::vector<float> w = random_floats(static_cast<size_t>(cout * cin / groups * kernel * kernel));
    if (l.s.is_depthwise()) {
      l.packed.resize(static_cast<size_t>(k::depthwise_packed_weight_floats(l.s)));
      k::depthwise_pack_weights(l.s, w.data(), l.packed.data());
    } else {
      l.packed.resize(static_cast<size_t>(k::conv2d_packed_weight_floats(gemm, l.s)));
      k::conv2d_pack_weights(gemm, l.s, w.data(), l.packed.data());
    }
    layers.push_back(std::move(l));
    return layers.back().s.out_h();
  };
  int64_t hw = add(224, 3, 32, 3, 2, 1, true);
  int64_t c = 32;
  const int64_t blocks[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& b : blocks) {
    for (int64_t i = 0; i < b[2]; ++i) {
      const int64_t hidden = c * b[0];
      if (b[0] != 1) add(hw, c, hidden, 1, 1, 1, true);
      hw = add(hw, hidden, hidden, 3, i == 0 ? b[3] : 1, hidden, true);
      add(hw, hidden, b[1], 1, 1, 1, false);
      c = b[1];
    }
  }
  add(hw, c, 1280, 1, 1, 1, true);
  size_t max_act = 0, max_scratch = 1;
  double flops = 0;
  for (const Layer& l : layers) {
    max_act = std::max(max_act, static_cast<size_t>(l.s.batch * l.s.in_h * l.s.in_w * l.s.in_c));
    max_act = std::max(max_act, static_cast<size_t>(l.s.out_pixels() * l.s.out_c));
    if (!l.s.is_depthwise()) {
      max_scratch = std::max(max_scratch, static_cast<size_t>(k::conv2d_scratch_floats(gemm, l.s)));
    }
    flops += 2.0 * l.s.out_pixels() * l.s.out_c * (l.s.in_c / l.s.groups) * l.s.kernel_h * l.s.kernel_w;
  }
  std::vector<float> a = random_floats(max_act), b(max_act), scratch(max_scratch), pooled(1280), logits(1000);
  const std::vector<float> fc_w = random_floats(1280 * 1000), fc_b = random_floats(1000);
  std::vector<float> fc_packed(static_cast<size_t>(k::packed_b_floats(gemm, 1280, 1000)));
  k::pack_b_transposed(gemm, 1280, 1000, fc_w.data(), 1280, fc_packed.data());
  flops += 2.0 * 1280 * 1000;
  const double s = best_seconds([&] {
    float* in = a.data();
    float* out = b.data();
    for (const Layer& l : layers) {
      const k::Epilogue ep{l.bias.data(), l.relu6 ? k::Activation::clip(0.0f, 6.0f) : k::Activation::none()};
      if (l.s.is_depthwise()) {
        k::depthwise_conv2d(dwconv, l.s, in, l.packed.data(), out, ep, {0, l.s.out_rows()});
      } else {
        k::conv2d(gemm, l.s, in, l.packed.data(), out, ep, {0, l.s.out_pixels()}, scratch.data());
      }
      std::swap(in, out);
    }
    k::global_avg_pool(*cfg.f32_gavgpool, 1, 49, 1280, in, pooled.data(), {0, 1280});
    k::sgemm_packed(gemm, 1280, 1000, pooled.data(), 1280, fc_packed.data(), logits.data(), 1000,
                    k::Epilogue{fc_b.data(), k::Activation::none()}, {0, 1}, {0, 1000});
  }, 1500);
  // Each layer alone on the same (cache-warm) buffers: less sensitive to other
  // processes than the whole chain, whose single run must not be preempted.
  const bool verbose = std::getenv("SLIM_BENCH_LAYERS") != nullptr;
  double layer_sum = 0;
  for (const Layer& l : layers) {
    const k::Epilogue ep{l.bias.data(), l.relu6 ? k::Activation::clip(0.0f, 6.0f) : k::Activation::none()};
    const double t = best_seconds([&] {
      if (l.s.is_depthwise()) {
        k::depthwise_conv2d(dwconv, l.s, a.data(), l.packed.data(), b.data(), ep, {0, l.s.out_rows()});
      } else {
        k::conv2d(gemm, l.s, a.data(), l.packed.data(), b.data(), ep, {0, l.s.out_pixels()}, scratch.data());
      }
    }, 40);
    layer_sum += t;
    if (verbose) {
      std::printf("    %3lldx%-3lld %4lld->%-4lld k%lld s%lld g%-4lld %8.3f ms\n", static_cast<long long>(l.s.in_h),
                  static_cast<long long>(l.s.in_w), static_cast<long long>(l.s.in_c), static_cast<long long>(l.s.out_c),
                  static_cast<long long>(l.s.kernel_h), static_cast<long long>(l.s.stride_h),
                  static_cast<long long>(l.s.groups), t * 1e3);
    }
  }
  std::printf("%-7s MobileNetV2 224 sum of per-layer best times (convs only)   %8.3f ms\n", slim::isa_name(isa),
              layer_sum * 1e3);
  std::printf("%-7s MobileNetV2 224 (%zu convs + GAP + FC, %.0f MFLOP)  %8.3f ms  %6.1f GFLOP/s\n", slim::isa_name(isa),
              layers.size(), flops * 1e-6, s * 1e3, flops / s * 1e-9);
}

// One function per family, run by main() on each of its variants from kernel_list.h.
void bench_F32Gemm(const k::F32GemmKernel& kernel) {
  // MobileNetV2 pointwise convolutions as GEMM (M = pixels, K = in, N = out).
  bench_gemm(kernel, "mbv2 112x112 32->16", 112 * 112, 16, 32);
  bench_gemm(kernel, "mbv2 112x112 16->96", 112 * 112, 96, 16);
  bench_gemm(kernel, "mbv2 56x56 24->144", 56 * 56, 144, 24);
  bench_gemm(kernel, "mbv2 56x56 144->24", 56 * 56, 24, 144);
  bench_gemm(kernel, "mbv2 14x14 96->576", 14 * 14, 576, 96);
  bench_gemm(kernel, "mbv2 7x7 160->960", 7 * 7, 960, 160);
  bench_gemm(kernel, "mbv2 7x7 960->160", 7 * 7, 160, 960);
  bench_gemm(kernel, "mbv2 7x7 320->1280", 7 * 7, 1280, 320);
  bench_gemm(kernel, "square 512", 512, 512, 512);
  bench_gemm(kernel, "classifier 1280->1000", 1, 1000, 1280);
  bench_matmul(kernel, "attention QK^T 197x64", 197, 197, 64);
  bench_conv(kernel, "mbv2 stem", conv_shape(224, 3, 32, 3, 2, 1));
  bench_conv(kernel, "resnet 3x3 56 c64", conv_shape(56, 64, 64, 3, 1, 1));
}

void bench_F32Dwconv(const k::F32DwconvKernel& kernel) {
  bench_dwconv(kernel, "mbv2 dw 112 c32", conv_shape(112, 32, 32, 3, 1, 32));
  bench_dwconv(kernel, "mbv2 dw 112 c96 s2", conv_shape(112, 96, 96, 3, 2, 96));
  bench_dwconv(kernel, "mbv2 dw 56 c144", conv_shape(56, 144, 144, 3, 1, 144));
  bench_dwconv(kernel, "mbv2 dw 7 c960", conv_shape(7, 960, 960, 3, 1, 960));
}

void bench_F32MaxPool(const k::F32MaxPoolKernel& kernel) {
  bench_pool(kernel, "resnet stem maxpool", pool_shape(112, 64, 3, 2, 1), k::max_pool2d);
}

void bench_F32AvgPool(const k::F32AvgPoolKernel& kernel) {
  bench_pool(kernel, "avgpool 3x3 s1", pool_shape(28, 192, 3, 1, 1), k::avg_pool2d);
}

void bench_F32GlobalAvgPool(const k::F32GlobalAvgPoolKernel& kernel) {
  bench_global_pool(kernel, "mbv2 head 7x7", 49, 1280, k::global_avg_pool);
  bench_global_pool(kernel, "56x56 c256", 56 * 56, 256, k::global_avg_pool);
}

void bench_F32GlobalMaxPool(const k::F32GlobalMaxPoolKernel& kernel) {
  bench_global_pool(kernel, "56x56 c256", 56 * 56, 256, k::global_max_pool);
}

void bench_F32Vact(const k::F32VactKernel& kernel) {
  for (const k::Activation& act : {k::Activation::clip(0.0f, 6.0f), k::Activation::sigmoid(), k::Activation::gelu(),
                                   k::Activation::exp()}) {
    bench_vact(kernel, act, 1 << 20);
  }
}

void bench_F32Vbinary(const k::F32VbinaryKernel& kernel) {
  bench_binary(kernel, "Mul a*b", 1 << 20, 1);
  bench_binary(kernel, "Mul a*scalar", 1 << 20, 0);
  bench_binary(kernel, "Mul SE row c96", 96, 1);
}

// ---------------------------------------------------------------------------
// int8
// ---------------------------------------------------------------------------

// Requantizing epilogue with realistic parameters (per-channel scales, a bias, a Relu6-like clamp).
struct Q8Params {
  std::vector<int32_t> bias;
  std::vector<float> scale;
  k::QEpilogue ep;
  explicit Q8Params(int64_t n) : bias(static_cast<size_t>(n), 1234), scale(static_cast<size_t>(n), 1e-4f) {
    ep.bias = bias.data();
    ep.scale = scale.data();
    ep.zero_point = 3;
    ep.qmin = 3;
    ep.qmax = 200;
  }
};

double q8_gemm_seconds(const k::Q8GemmKernel& kernel, int64_t M, int64_t N, int64_t K, int budget_ms = 300) {
  const std::vector<uint8_t> A = random_u8(static_cast<size_t>(M * K));
  const std::vector<int8_t> B = random_s8(static_cast<size_t>(K * N));
  std::vector<int8_t> packed(static_cast<size_t>(k::q8_packed_b_bytes(kernel, K, N)));
  std::vector<uint8_t> C(static_cast<size_t>(M * N));
  k::q8_pack_b(kernel, K, N, B.data(), N, packed.data(), nullptr);
  const Q8Params q(N);
  return best_seconds([&] {
    k::q8_gemm_packed(kernel, K, N, A.data(), K, packed.data(), C.data(), N, q.ep, {0, M}, {0, N});
  }, budget_ms);
}

void bench_q8_gemm(const k::Q8GemmKernel& kernel, const char* label, int64_t M, int64_t N, int64_t K) {
  const double s = q8_gemm_seconds(kernel, M, N, K);
  std::printf("%-24s qgemm %-24s M=%6lld N=%5lld K=%5lld  %8.3f ms  %6.1f GOP/s\n", kernel.name, label,
              static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(K), s * 1e3,
              2.0 * M * N * K / s * 1e-9);
}

void bench_q8_conv(const k::Q8GemmKernel& kernel, const char* label, const k::Conv2dShape& s) {
  const std::vector<uint8_t> in = random_u8(static_cast<size_t>(s.batch * s.in_h * s.in_w * s.in_c));
  const std::vector<int8_t> w = random_s8(static_cast<size_t>(s.out_c * s.in_c / s.groups * s.kernel_h * s.kernel_w));
  std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * s.out_c));
  std::vector<int8_t> packed(static_cast<size_t>(k::q8_conv2d_packed_weight_bytes(kernel, s)));
  std::vector<uint8_t> scratch(static_cast<size_t>(k::q8_conv2d_scratch_bytes(kernel, s)) + 1);
  k::q8_conv2d_pack_weights(kernel, s, w.data(), packed.data(), nullptr);
  const Q8Params q(s.out_c);
  print_conv(kernel.name, label, s, best_seconds([&] {
    k::q8_conv2d(kernel, s, in.data(), 7, packed.data(), out.data(), q.ep, {0, s.out_pixels()}, scratch.data());
  }));
}

void bench_q8_dwconv(const k::Q8DwconvKernel& kernel, const char* label, const k::Conv2dShape& s) {
  const std::vector<uint8_t> in = random_u8(static_cast<size_t>(s.batch * s.in_h * s.in_w * s.in_c));
  const std::vector<int8_t> w = random_s8(static_cast<size_t>(s.out_c * s.kernel_h * s.kernel_w));
  std::vector<uint8_t> out(static_cast<size_t>(s.out_pixels() * s.out_c));
  std::vector<int8_t> packed(static_cast<size_t>(k::q8_depthwise_packed_weight_bytes(s)));
  k::q8_depthwise_pack_weights(s, w.data(), packed.data(), nullptr);
  const Q8Params q(s.out_c);
  print_conv(kernel.name, label, s, best_seconds([&] {
    k::q8_depthwise_conv2d(kernel, s, in.data(), 7, packed.data(), out.data(), q.ep, {0, s.out_rows()});
  }));
}

// The dot-product throughput of one core: 16 independent vpdpbusd chains (enough
// to cover the latency on two ports), 64 multiply-adds (128 ops) per instruction.
constexpr int kPeakChains = 16;
constexpr int64_t kPeakIters = 1 << 22;
// Volatile in and out, so that the loops are neither folded nor treated as pure functions and moved out of the timing.
volatile int g_peak_sink = 0;
volatile int64_t g_peak_iters = kPeakIters;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void vnni_peak_loop() {
  __m512i acc[kPeakChains];
  for (int i = 0; i < kPeakChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
  const int64_t iters = g_peak_iters;
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kPeakChains; ++i) {
      acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    }
  }
  __m512i sum = acc[0];
  for (int i = 1; i < kPeakChains; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  int lanes[16];
  _mm512_storeu_si512(lanes, sum);
  g_peak_sink = lanes[0] + lanes[15];
}

// fp32 FMA peak of one core for comparison: 16 chains of vfmadd231ps zmm (32 flops each).
__attribute__((target("avx512f"))) void fma512_peak_loop() {
  __m512 acc[kPeakChains];
  for (int i = 0; i < kPeakChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.999999f);
  const int64_t iters = g_peak_iters;
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kPeakChains; ++i) {
      acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kPeakChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  g_peak_sink = static_cast<int>(lanes[0] + lanes[15]);
}

void bench_peaks() {
  const double per_run = 2.0 * 16 * kPeakChains * kPeakIters;  // 16 lanes x 2 flops, or 64 x 2 ops / 4
  if (cpu_runs(Isa::kAvx512)) {
    const double s = best_seconds(fma512_peak_loop, 500);
    std::printf("peak fp32 FMA (zmm, 1 core)              %8.1f GFLOP/s\n", per_run / s * 1e-9);
  }
  if (cpu_runs(Isa::kAvx512Vnni)) {
    const double s = best_seconds(vnni_peak_loop, 500);
    std::printf("peak int8 vpdpbusd (zmm, 1 core)         %8.1f GOP/s\n", 4 * per_run / s * 1e-9);
  } else {
    std::printf("peak int8 vpdpbusd: this CPU has no AVX-512 VNNI\n");
  }
}

// The best q8 and f32 GEMMs of each level on the same MobileNetV2 1x1 layers.
void bench_q8_vs_f32() {
  struct Shape {
    const char* label;
    int64_t M, N, K;
  };
  const Shape shapes[] = {{"mbv2 112x112 16->96", 112 * 112, 96, 16}, {"mbv2 56x56 24->144", 56 * 56, 144, 24},
                          {"mbv2 56x56 144->24", 56 * 56, 24, 144},   {"mbv2 14x14 96->576", 14 * 14, 576, 96},
                          {"mbv2 14x14 576->96", 14 * 14, 96, 576},   {"mbv2 7x7 160->960", 7 * 7, 960, 160},
                          {"mbv2 7x7 960->160", 7 * 7, 160, 960},     {"mbv2 7x7 320->1280", 7 * 7, 1280, 320}};
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    if (!cpu_runs(isa)) continue;
    const k::KernelConfig& cfg = k::kernel_config(isa);
    for (const Shape& sh : shapes) {
      const double q = q8_gemm_seconds(*cfg.q8_gemm, sh.M, sh.N, sh.K, 200);
      const std::vector<float> A = random_floats(static_cast<size_t>(sh.M * sh.K));
      const std::vector<float> B = random_floats(static_cast<size_t>(sh.K * sh.N));
      std::vector<float> packed(static_cast<size_t>(k::packed_b_floats(*cfg.f32_gemm, sh.K, sh.N)));
      std::vector<float> C(static_cast<size_t>(sh.M * sh.N));
      k::pack_b(*cfg.f32_gemm, sh.K, sh.N, B.data(), sh.N, packed.data());
      const double f = best_seconds([&] {
        k::sgemm_packed(*cfg.f32_gemm, sh.K, sh.N, A.data(), sh.K, packed.data(), C.data(), sh.N, k::Epilogue{},
                        {0, sh.M}, {0, sh.N});
      }, 200);
      const double ops = 2.0 * sh.M * sh.N * sh.K;
      std::printf("%-10s %-22s q8 %-24s %6.1f GOP/s | f32 %-22s %6.1f GFLOP/s | q8 %.2fx faster\n",
                  slim::isa_name(isa), sh.label, cfg.q8_gemm->name, ops / q * 1e-9, cfg.f32_gemm->name,
                  ops / f * 1e-9, f / q);
    }
  }
}

// MobileNetV2's convolutions in int8 back to back (as bench_mobilenet_v2 in fp32).
void bench_mobilenet_v2_q8(Isa isa) {
  const k::KernelConfig& cfg = k::kernel_config(isa);
  const k::Q8GemmKernel& gemm = *cfg.q8_gemm;
  struct Layer {
    k::Conv2dShape s;
    std::vector<int8_t> packed;
    Q8Params q;
  };
  std::vector<Layer> layers;
  const auto add = [&](int64_t hw, int64_t cin, int64_t cout, int64_t kernel, int64_t stride, int64_t groups) {
    Layer l{conv_shape(hw, cin, cout, kernel, stride, groups), {}, Q8Params(cout)};
    const std::vector<int8_t> w = random_s8(static_cast<size_t>(cout * cin / groups * kernel * kernel));
    if (l.s.is_depthwise()) {
      l.packed.resize(static_cast<size_t>(k::q8_depthwise_packed_weight_bytes(l.s)));
      k::q8_depthwise_pack_weights(l.s, w.data(), l.packed.data(), nullptr);
    } else {
      l.packed.resize(static_cast<size_t>(k::q8_conv2d_packed_weight_bytes(gemm, l.s)));
      k::q8_conv2d_pack_weights(gemm, l.s, w.data(), l.packed.data(), nullptr);
    }
    layers.push_back(std::move(l));
    layers.back().q.ep.bias = layers.back().q.bias.data();
    layers.back().q.ep.scale = layers.back().q.scale.data();
    return layers.back().s.out_h();
  };
  int64_t hw = add(224, 3, 32, 3, 2, 1);
  int64_t c = 32;
  const int64_t blocks[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& b : blocks) {
    for (int64_t i = 0; i < b[2]; ++i) {
      const int64_t hidden = c * b[0];
      if (b[0] != 1) add(hw, c, hidden, 1, 1, 1);
      hw = add(hw, hidden, hidden, 3, i == 0 ? b[3] : 1, hidden);
      add(hw, hidden, b[1], 1, 1, 1);
      c = b[1];
    }
  }
  add(hw, c, 1280, 1, 1, 1);
  size_t max_act = 0, max_scratch = 1;
  double ops = 0;
  for (const Layer& l : layers) {
    max_act = std::max(max_act, static_cast<size_t>(l.s.batch * l.s.in_h * l.s.in_w * l.s.in_c));
    max_act = std::max(max_act, static_cast<size_t>(l.s.out_pixels() * l.s.out_c));
    if (!l.s.is_depthwise()) {
      max_scratch = std::max(max_scratch, static_cast<size_t>(k::q8_conv2d_scratch_bytes(gemm, l.s)));
    }
    ops += 2.0 * l.s.out_pixels() * l.s.out_c * (l.s.in_c / l.s.groups) * l.s.kernel_h * l.s.kernel_w;
  }
  std::vector<uint8_t> a = random_u8(max_act), b(max_act), scratch(max_scratch);
  const double s = best_seconds([&] {
    uint8_t* in = a.data();
    uint8_t* out = b.data();
    for (const Layer& l : layers) {
      if (l.s.is_depthwise()) {
        k::q8_depthwise_conv2d(*cfg.q8_dwconv, l.s, in, 7, l.packed.data(), out, l.q.ep, {0, l.s.out_rows()});
      } else {
        k::q8_conv2d(gemm, l.s, in, 7, l.packed.data(), out, l.q.ep, {0, l.s.out_pixels()}, scratch.data());
      }
      std::swap(in, out);
    }
  }, 1500);
  std::printf("%-10s MobileNetV2 224 int8 (%zu convs, %.0f MOP)  %8.3f ms  %6.1f GOP/s\n", slim::isa_name(isa),
              layers.size(), ops * 1e-6, s * 1e3, ops / s * 1e-9);
}

void bench_Q8Gemm(const k::Q8GemmKernel& kernel) {
  bench_q8_gemm(kernel, "mbv2 112x112 32->16", 112 * 112, 16, 32);
  bench_q8_gemm(kernel, "mbv2 112x112 16->96", 112 * 112, 96, 16);
  bench_q8_gemm(kernel, "mbv2 56x56 24->144", 56 * 56, 144, 24);
  bench_q8_gemm(kernel, "mbv2 56x56 144->24", 56 * 56, 24, 144);
  bench_q8_gemm(kernel, "mbv2 14x14 96->576", 14 * 14, 576, 96);
  bench_q8_gemm(kernel, "mbv2 7x7 160->960", 7 * 7, 960, 160);
  bench_q8_gemm(kernel, "mbv2 7x7 960->160", 7 * 7, 160, 960);
  bench_q8_gemm(kernel, "mbv2 7x7 320->1280", 7 * 7, 1280, 320);
  bench_q8_gemm(kernel, "square 512", 512, 512, 512);
  bench_q8_gemm(kernel, "classifier 1280->1000", 1, 1000, 1280);
  bench_q8_conv(kernel, "mbv2 stem", conv_shape(224, 3, 32, 3, 2, 1));
  bench_q8_conv(kernel, "resnet 3x3 56 c64", conv_shape(56, 64, 64, 3, 1, 1));
}

void bench_Q8Dwconv(const k::Q8DwconvKernel& kernel) {
  bench_q8_dwconv(kernel, "mbv2 dw 112 c32", conv_shape(112, 32, 32, 3, 1, 32));
  bench_q8_dwconv(kernel, "mbv2 dw 112 c96 s2", conv_shape(112, 96, 96, 3, 2, 96));
  bench_q8_dwconv(kernel, "mbv2 dw 56 c144", conv_shape(56, 144, 144, 3, 1, 144));
  bench_q8_dwconv(kernel, "mbv2 dw 7 c960", conv_shape(7, 960, 960, 3, 1, 960));
  bench_q8_dwconv(kernel, "mbv3 dw 5x5 14 c672", conv_shape(14, 672, 672, 5, 1, 672));
}

template <class Kernel, class Run>
void bench_q8_stream(const Kernel& kernel, const char* what, int64_t n, Run run) {
  const double t = best_seconds([&] { run(kernel, n); });
  std::printf("%-24s %-30s n=%lld  %8.3f ms  %6.2f Gelem/s\n", kernel.name, what, static_cast<long long>(n), t * 1e3,
              static_cast<double>(n) / t * 1e-9);
}

void bench_Q8MaxPool(const k::Q8MaxPoolKernel& kernel) {
  const k::Pool2dShape s = pool_shape(112, 64, 3, 2, 1);
  const std::vector<uint8_t> in = random_u8(static_cast<size_t>(s.in_h * s.in_w * s.channels));
  std::vector<uint8_t> out(static_cast<size_t>(s.out_rows() * s.out_w() * s.channels));
  const double t = best_seconds([&] { k::q8_max_pool2d(kernel, s, in.data(), out.data(), {0, s.out_rows()}); });
  std::printf("%-24s pool  %-24s 112x112 c64 k3 s2  %8.3f ms  %6.2f GB/s read\n", kernel.name, "resnet stem maxpool",
              t * 1e3, static_cast<double>(in.size()) / t * 1e-9);
}

void bench_Q8GlobalAvgPool(const k::Q8GlobalAvgPoolKernel& kernel) {
  for (const auto& [pixels, channels] : {std::pair<int64_t, int64_t>{49, 1280}, {56 * 56, 256}}) {
    const std::vector<uint8_t> in = random_u8(static_cast<size_t>(pixels * channels));
    std::vector<uint8_t> out(static_cast<size_t>(channels));
    const k::QGlobalAvgPoolParams p{3, 0.01f, 5};
    const double t = best_seconds(
        [&] { k::q8_global_avg_pool(kernel, 1, pixels, channels, in.data(), p, out.data(), {0, channels}); });
    std::printf("%-24s gpool %6lld px c%-4lld  %8.3f ms  %6.2f GB/s read\n", kernel.name,
                static_cast<long long>(pixels), static_cast<long long>(channels), t * 1e3,
                static_cast<double>(in.size()) / t * 1e-9);
  }
}

constexpr int64_t kStreamN = 1 << 20;

void bench_Q8Add(const k::Q8AddKernel& kernel) {
  const std::vector<uint8_t> a = random_u8(kStreamN), b = random_u8(kStreamN);
  std::vector<uint8_t> y(kStreamN);
  const k::QBinaryParams p{3, 5, 7, 0.7f, 1.3f, 0, 255};
  bench_q8_stream(kernel, "add (residual)", kStreamN, [&](const k::Q8AddKernel& kk, int64_t n) {
    k::q8_add(kk, p, a.data(), b.data(), 1, y.data(), n);
  });
}

void bench_Q8Mul(const k::Q8MulKernel& kernel) {
  const std::vector<uint8_t> a = random_u8(kStreamN), b = random_u8(kStreamN);
  std::vector<uint8_t> y(kStreamN);
  const k::QBinaryParams p{3, 5, 7, 0.001f, 1.0f, 0, 255};
  bench_q8_stream(kernel, "mul", kStreamN, [&](const k::Q8MulKernel& kk, int64_t n) {
    k::q8_mul(kk, p, a.data(), b.data(), 1, y.data(), n);
  });
}

void bench_Q8Quantize(const k::Q8QuantizeKernel& kernel) {
  const std::vector<float> x = random_floats(kStreamN);
  std::vector<uint8_t> y(kStreamN);
  bench_q8_stream(kernel, "quantize", kStreamN, [&](const k::Q8QuantizeKernel& kk, int64_t n) {
    k::q8_quantize(kk, x.data(), 0.01f, 128, y.data(), n);
  });
}

void bench_Q8Dequantize(const k::Q8DequantizeKernel& kernel) {
  const std::vector<uint8_t> x = random_u8(kStreamN);
  std::vector<float> y(kStreamN);
  bench_q8_stream(kernel, "dequantize", kStreamN, [&](const k::Q8DequantizeKernel& kk, int64_t n) {
    k::q8_dequantize(kk, x.data(), 0.01f, 128, y.data(), n);
  });
}

void bench_Q8Lookup(const k::Q8LookupKernel& kernel) {
  const std::vector<uint8_t> x = random_u8(kStreamN), table = random_u8(256);
  std::vector<uint8_t> y(kStreamN);
  bench_q8_stream(kernel, "lookup", kStreamN, [&](const k::Q8LookupKernel& kk, int64_t n) {
    k::q8_lookup(kk, table.data(), x.data(), y.data(), n);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  const auto selected = [&](const char* name) { return filter == nullptr || std::strstr(name, filter) != nullptr; };
#define SLIM_BENCH_VARIANT(family, name) \
  if (cpu_runs(k::name.isa) && selected(#name)) bench_##family(k::name);
  SLIM_KERNELS(SLIM_BENCH_VARIANT)
#undef SLIM_BENCH_VARIANT
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    if (!cpu_runs(isa)) {
      std::printf("%s: not supported by this CPU, skipped\n", slim::isa_name(isa));
      continue;
    }
    const std::string label = std::string("mobilenet ") + slim::isa_name(isa);
    if (filter == nullptr || label.find(filter) != std::string::npos) bench_mobilenet_v2(isa);
    const std::string q8_label = std::string("mobilenet q8 ") + slim::isa_name(isa);
    if (filter == nullptr || q8_label.find(filter) != std::string::npos) bench_mobilenet_v2_q8(isa);
  }
  if (filter == nullptr || std::strstr("peak", filter) != nullptr) bench_peaks();
  if (filter == nullptr || std::strstr("q8vsf32", filter) != nullptr) bench_q8_vs_f32();
  return 0;
}
