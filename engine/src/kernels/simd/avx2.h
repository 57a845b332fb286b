// AVX2+FMA vector traits. Include only from *_avx2.cpp (compiled with -mavx2 -mfma).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/isa.h"

namespace slim::kernels {

struct VAvx2 {
  using reg = __m256;
  static constexpr Isa kIsa = Isa::kAvx2;
  static constexpr int kWidth = 8;
  static constexpr bool kExactMath = false;
  // 6 x 16 tile: 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
  static constexpr int kGemmMR = 6;
  static constexpr int kGemmNV = 2;
  static constexpr int64_t kGemmKC = 256;
  static constexpr int64_t kGemmNC = 256;

  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // Masked: lanes >= n are neither read nor written (no out-of-bounds access).
  static reg load_partial(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  static void store_partial(float* p, reg v, int n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  // max that returns NaN when either operand is NaN (maxps alone returns b).
  static reg max_nan(reg a, reg b) {
    return _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  static reg abs(reg a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
  // Magnitude of `mag` with the sign of `sign`.
  static reg copysign(reg mag, reg sign) {
    const __m256 sign_bit = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
    return _mm256_or_ps(abs(mag), _mm256_and_ps(sign, sign_bit));
  }
  static reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n for integral n in [-126, 127], built in the exponent field.
  static reg pow2(reg n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  // x < t ? a : b, lane-wise.
  static reg select_lt(reg x, reg t, reg a, reg b) {
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, t, _CMP_LT_OQ));
  }
};

}  // namespace slim::kernels
