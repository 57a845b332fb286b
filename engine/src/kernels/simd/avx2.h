// AVX2+FMA vector traits. Include only from *_avx2.cpp (compiled with -mavx2 -mfma).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

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
  static reg fnmadd(reg a, reg b, reg c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a * b, one rounding
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  // rcpps gives 12 bits; one Newton step here brings it to about 2^-22, like AVX-512's rcp14 refined.
  static reg rcp_approx(reg a) {
    const reg y = _mm256_rcp_ps(a);
    return _mm256_fmadd_ps(y, _mm256_fnmadd_ps(a, y, _mm256_set1_ps(1.0f)), y);
  }
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

// int8 traits (the q8_* families, engine/QUANTIZED.md) for AVX2: 8 int32 /
// float lanes, 32 u8 lanes. Every operation matches Q8Scalar's lane for lane.
struct Q8Avx2 {
  static constexpr Isa kIsa = Isa::kAvx2;
  static constexpr int kWidth = 8;
  static constexpr int kBytes = 32;
  using ireg = __m256i;
  using freg = __m256;
  using breg = __m256i;

  // q8_gemm without VNNI: vpmaddwd on 16-bit operands, exact (a u8 times an s8
  // fits int16, a pair sum int32) where vpmaddubsw would saturate. A column's 4
  // packed bytes w0..w3 form one int32 lane; its even bytes (w0, w2) and odd
  // bytes (w1, w3) are sign-extended in place into two int16 pairs, and A's 4
  // bytes split the same way, so two vpmaddwd give the whole 4-term dot per
  // lane with no horizontal reduction.
  // 4 x 16: 8 accumulators + 4 B halves + 2 A halves + temporaries in 16 ymm.
  static constexpr int kGemmMR = 4;
  static constexpr int kGemmNV = 2;
  struct avec {
    __m256i even, odd;
  };
  struct bvec {
    __m256i even, odd;
  };
  static bvec load_b(const int8_t* p) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm256_srai_epi16(_mm256_slli_epi16(raw, 8), 8), _mm256_srai_epi16(raw, 8)};
  }
  static avec bcast_a(uint32_t a4) {
    const __m256i a = _mm256_set1_epi32(static_cast<int>(a4));
    return {_mm256_and_si256(a, _mm256_set1_epi16(0xFF)), _mm256_srli_epi16(a, 8)};
  }
  static ireg dot(ireg acc, avec a, bvec b) {
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(a.even, b.even), _mm256_madd_epi16(a.odd, b.odd)));
  }

  static constexpr int kGapNV = 4;  // q8_gavgpool: 32 channels per step
  static constexpr int kEltNV = 2;  // elementwise: 16 elements per step

  static __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static ireg izero() { return _mm256_setzero_si256(); }
  static ireg iset1(int32_t x) { return _mm256_set1_epi32(x); }
  static ireg load_i32(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static ireg load_i32_partial(const int32_t* p, int n) {
    return _mm256_maskload_epi32(reinterpret_cast<const int*>(p), tail_mask(n));
  }
  static ireg iadd(ireg a, ireg b) { return _mm256_add_epi32(a, b); }
  static ireg isub(ireg a, ireg b) { return _mm256_sub_epi32(a, b); }
  static ireg imul(ireg a, ireg b) { return _mm256_mullo_epi32(a, b); }

  static freg fzero() { return _mm256_setzero_ps(); }
  static freg fset1(float x) { return _mm256_set1_ps(x); }
  static freg load_f32(const float* p) { return _mm256_loadu_ps(p); }
  static freg load_f32_partial(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  static void store_i32(int32_t* p, ireg v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static void store_i32_partial(int32_t* p, ireg v, int n) {
    _mm256_maskstore_epi32(reinterpret_cast<int*>(p), tail_mask(n), v);
  }
  static void store_f32(float* p, freg v) { _mm256_storeu_ps(p, v); }
  static void store_f32_partial(float* p, freg v, int n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
  static freg fadd(freg a, freg b) { return _mm256_add_ps(a, b); }
  static freg fmul(freg a, freg b) { return _mm256_mul_ps(a, b); }
  static freg fdiv(freg a, freg b) { return _mm256_div_ps(a, b); }
  static freg fmadd(freg a, freg b, freg c) { return _mm256_fmadd_ps(a, b, c); }
  static freg fmax(freg a, freg b) { return _mm256_max_ps(a, b); }
  static freg fmin(freg a, freg b) { return _mm256_min_ps(a, b); }
  static freg nan_to_zero(freg a) { return _mm256_and_ps(a, _mm256_cmp_ps(a, a, _CMP_ORD_Q)); }
  static freg to_float(ireg a) { return _mm256_cvtepi32_ps(a); }
  static ireg to_int(freg a) { return _mm256_cvtps_epi32(a); }

  // Partial byte loads and stores go through a small buffer: AVX2 has no byte masks.
  static ireg load_u8(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static ireg load_u8_partial(const uint8_t* p, int n) {
    uint8_t buf[8] = {};
    std::memcpy(buf, p, static_cast<size_t>(n));
    return load_u8(buf);
  }
  static ireg load_s8(const int8_t* p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static ireg load_s8_partial(const int8_t* p, int n) {
    int8_t buf[8] = {};
    std::memcpy(buf, p, static_cast<size_t>(n));
    return load_s8(buf);
  }
  static __m128i pack_u8(ireg v) {
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_packus_epi16(w, w);
  }
  static void store_u8(uint8_t* p, ireg v) { _mm_storel_epi64(reinterpret_cast<__m128i*>(p), pack_u8(v)); }
  static void store_u8_partial(uint8_t* p, ireg v, int n) {
    uint8_t buf[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(buf), pack_u8(v));
    std::memcpy(p, buf, static_cast<size_t>(n));
  }

  static breg bzero() { return _mm256_setzero_si256(); }
  static breg load_bytes(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static breg load_bytes_partial(const uint8_t* p, int n) {
    uint8_t buf[32] = {};
    std::memcpy(buf, p, static_cast<size_t>(n));
    return load_bytes(buf);
  }
  static void store_bytes(uint8_t* p, breg v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static void store_bytes_partial(uint8_t* p, breg v, int n) {
    uint8_t buf[32];
    store_bytes(buf, v);
    std::memcpy(p, buf, static_cast<size_t>(n));
  }
  static breg max_u8(breg a, breg b) { return _mm256_max_epu8(a, b); }
};

}  // namespace slim::kernels
