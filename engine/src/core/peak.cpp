// The machine's measured f32 FMA peak: what the engine's GFLOP/s figures are
// a fraction of (measure.peak_fraction). Independent FMA chains on registers
// only, so neither memory nor latency limits them: on a core with two FMA
// ports 12 chains of 4-cycle latency keep both busy. Compiled per ISA with
// function target attributes and chosen from the CPU at run time, like the
// kernels; threads run the loop at once, as a model's ops would.
#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "core/isa.h"
#include "kernels/kernels.h"
#include "slimlab/engine.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SLIM_PEAK_X86 1
#endif

namespace slim {

namespace {

constexpr int kChains = 12;

// Returns a value derived from the sums so the loop cannot be removed.
float fma_scalar(int64_t steps) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = static_cast<float>(c) * 1e-3f;
  const float a = 0.999f, b = 1e-4f;
  for (int64_t s = 0; s < steps; ++s)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;
  float sum = 0.0f;
  for (float v : acc) sum += v;
  return sum;
}

#ifdef SLIM_PEAK_X86
__attribute__((target("avx2,fma"))) float fma_avx2(int64_t steps) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(static_cast<float>(c) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
  for (int64_t s = 0; s < steps; ++s)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  return _mm256_cvtss_f32(sum);
}

__attribute__((target("avx512f"))) float fma_avx512(int64_t steps) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-4f);
  for (int64_t s = 0; s < steps; ++s)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);  // not _mm512_reduce_add_ps: GCC 12 warns inside it (-Wuninitialized)
  float total = 0.0f;
  for (float v : lanes) total += v;
  return total;
}
#endif

}  // namespace

PeakInfo measure_fma_peak(int threads, double seconds) {
  threads = std::max(1, threads);
  const Isa isa = kernels::cpu_isa();
  int width = 1;
  float (*loop)(int64_t) = fma_scalar;
#ifdef SLIM_PEAK_X86
  if (isa >= Isa::kAvx512) {
    width = 16;
    loop = fma_avx512;
  } else if (isa >= Isa::kAvx2) {
    width = 8;
    loop = fma_avx2;
  }
#endif
  // Steps per timing: long enough to dwarf the clock, short enough to take the best of many (a shared host's
  // other load only ever slows a timing down).
  constexpr int64_t kSteps = 1 << 16;
  const double flops_per_call = 2.0 * kChains * width * static_cast<double>(kSteps);
  std::vector<double> best(static_cast<size_t>(threads), 0.0);
  std::vector<float> sink(static_cast<size_t>(threads), 0.0f);
  auto work = [&](int t) {
    const auto stop = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < stop) {
      const auto a = std::chrono::steady_clock::now();
      sink[static_cast<size_t>(t)] += loop(kSteps);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
      if (s > 0) best[static_cast<size_t>(t)] = std::max(best[static_cast<size_t>(t)], flops_per_call / s);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  PeakInfo info;
  info.isa = isa_name(isa);
  info.threads = threads;
  for (double b : best) info.gflops += b / 1e9;
  info.checksum = 0.0f;
  for (float v : sink) info.checksum += v;
  return info;
}

}  // namespace slim
