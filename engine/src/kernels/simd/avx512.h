// AVX-512 (F/BW/DQ/VL) vector traits. Include only from *_avx512.cpp.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/isa.h"

namespace slim::kernels {

struct VAvx512 {
  using reg = __m512;
  static constexpr Isa kIsa = Isa::kAvx512;
  static constexpr int kWidth = 16;
  static constexpr bool kExactMath = false;
  // 8 x 32 tile: 16 accumulators, enough independent FMA chains to hide latency
  // on both two-FMA-port cores and double-pumped 256-bit ones, with registers to spare.
  static constexpr int kGemmMR = 8;
  static constexpr int kGemmNV = 2;
  static constexpr int64_t kGemmKC = 256;
  static constexpr int64_t kGemmNC = 512;

  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static __mmask16 tail_mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  // Masked: lanes >= n are neither read nor written (no out-of-bounds access).
  static reg load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
  static void store_partial(float* p, reg v, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  // max that returns NaN when either operand is NaN (maxps alone returns b).
  static reg max_nan(reg a, reg b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), _mm512_max_ps(a, b), a);
  }
  static reg abs(reg a) { return _mm512_abs_ps(a); }
  static reg copysign(reg mag, reg sign) {
    const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    const __m512i magnitude = _mm512_andnot_si512(sign_bit, _mm512_castps_si512(mag));
    return _mm512_castsi512_ps(_mm512_or_si512(magnitude, _mm512_and_si512(sign_bit, _mm512_castps_si512(sign))));
  }
  static reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2(reg n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static reg select_lt(reg x, reg t, reg a, reg b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, t, _CMP_LT_OQ), b, a);
  }
};

}  // namespace slim::kernels
