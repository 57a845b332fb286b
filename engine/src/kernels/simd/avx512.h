// AVX-512 (F/BW/DQ/VL) vector traits. Include only from *_avx512.cpp.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

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
  static reg fnmadd(reg a, reg b, reg c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a * b, one rounding
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg rcp_approx(reg a) { return _mm512_rcp14_ps(a); }  // relative error < 2^-14: callers refine it
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

// int8 traits (the q8_* families, engine/QUANTIZED.md) for AVX-512: 16 int32 /
// float lanes, 64 u8 lanes, byte masks for every partial access. Every
// operation matches Q8Scalar's lane for lane.
//
// A template so that the AVX-512 BW and the VNNI translation units each get
// their own symbols: the VNNI file is compiled with -mavx512vnni, and an
// inline member shared with the BW file could otherwise be the copy the
// linker keeps for both. kLevel picks the GEMM dot product: vpmaddwd on
// 16-bit halves (kAvx512, exact, as Q8Avx2 explains) or vpdpbusd (kAvx512Vnni:
// 4 u8 x s8 products summed into each int32 lane without saturation).
// The GEMM tile is kMR x (kNV * 16).
template <Isa kLevel, int kMR, int kNV>
struct Q8Avx512T {
  static constexpr Isa kIsa = kLevel;
  static constexpr bool kVnni = kLevel == Isa::kAvx512Vnni;
  static constexpr int kWidth = 16;
  static constexpr int kBytes = 64;
  using ireg = __m512i;
  using freg = __m512;
  using breg = __m512i;

  static constexpr int kGemmMR = kMR;
  static constexpr int kGemmNV = kNV;
  struct Whole {
    __m512i v;
  };
  struct Halves {
    __m512i even, odd;
  };
  using avec = std::conditional_t<kVnni, Whole, Halves>;
  using bvec = std::conditional_t<kVnni, Whole, Halves>;
  static bvec load_b(const int8_t* p) {
    const __m512i raw = _mm512_loadu_si512(p);
    if constexpr (kVnni) {
      return {raw};
    } else {
      return {_mm512_srai_epi16(_mm512_slli_epi16(raw, 8), 8), _mm512_srai_epi16(raw, 8)};
    }
  }
  static avec bcast_a(uint32_t a4) {
    const __m512i a = _mm512_set1_epi32(static_cast<int>(a4));
    if constexpr (kVnni) {
      return {a};
    } else {
      return {_mm512_and_si512(a, _mm512_set1_epi16(0xFF)), _mm512_srli_epi16(a, 8)};
    }
  }
  static ireg dot(ireg acc, avec a, bvec b) {
    if constexpr (kVnni) {
      return _mm512_dpbusd_epi32(acc, a.v, b.v);
    } else {
      return _mm512_add_epi32(acc,
                              _mm512_add_epi32(_mm512_madd_epi16(a.even, b.even), _mm512_madd_epi16(a.odd, b.odd)));
    }
  }

  static constexpr int kGapNV = 4;  // q8_gavgpool: 64 channels per step
  static constexpr int kEltNV = 2;  // elementwise: 32 elements per step

  static __mmask16 mask16(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static __mmask64 mask64(int n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }
  static ireg izero() { return _mm512_setzero_si512(); }
  static ireg iset1(int32_t x) { return _mm512_set1_epi32(x); }
  static ireg load_i32(const int32_t* p) { return _mm512_loadu_si512(p); }
  static ireg load_i32_partial(const int32_t* p, int n) { return _mm512_maskz_loadu_epi32(mask16(n), p); }
  static ireg iadd(ireg a, ireg b) { return _mm512_add_epi32(a, b); }
  static ireg isub(ireg a, ireg b) { return _mm512_sub_epi32(a, b); }
  static ireg imul(ireg a, ireg b) { return _mm512_mullo_epi32(a, b); }

  static freg fzero() { return _mm512_setzero_ps(); }
  static freg fset1(float x) { return _mm512_set1_ps(x); }
  static freg load_f32(const float* p) { return _mm512_loadu_ps(p); }
  static freg load_f32_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(mask16(n), p); }
  static void store_i32(int32_t* p, ireg v) { _mm512_storeu_si512(p, v); }
  static void store_i32_partial(int32_t* p, ireg v, int n) { _mm512_mask_storeu_epi32(p, mask16(n), v); }
  static void store_f32(float* p, freg v) { _mm512_storeu_ps(p, v); }
  static void store_f32_partial(float* p, freg v, int n) { _mm512_mask_storeu_ps(p, mask16(n), v); }
  static freg fadd(freg a, freg b) { return _mm512_add_ps(a, b); }
  static freg fmul(freg a, freg b) { return _mm512_mul_ps(a, b); }
  static freg fdiv(freg a, freg b) { return _mm512_div_ps(a, b); }
  static freg fmadd(freg a, freg b, freg c) { return _mm512_fmadd_ps(a, b, c); }
  static freg fmax(freg a, freg b) { return _mm512_max_ps(a, b); }
  static freg fmin(freg a, freg b) { return _mm512_min_ps(a, b); }
  static freg nan_to_zero(freg a) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, a, _CMP_ORD_Q), a); }
  static freg to_float(ireg a) { return _mm512_cvtepi32_ps(a); }
  static ireg to_int(freg a) { return _mm512_cvtps_epi32(a); }

  static ireg load_u8(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static ireg load_u8_partial(const uint8_t* p, int n) { return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask16(n), p)); }
  static ireg load_s8(const int8_t* p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static ireg load_s8_partial(const int8_t* p, int n) { return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask16(n), p)); }
  // vpmovdb truncates, which is exact for lanes already in [0, 255].
  static void store_u8(uint8_t* p, ireg v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(v)); }
  static void store_u8_partial(uint8_t* p, ireg v, int n) { _mm512_mask_cvtepi32_storeu_epi8(p, mask16(n), v); }

  static breg bzero() { return _mm512_setzero_si512(); }
  static breg load_bytes(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static breg load_bytes_partial(const uint8_t* p, int n) { return _mm512_maskz_loadu_epi8(mask64(n), p); }
  static void store_bytes(uint8_t* p, breg v) { _mm512_storeu_si512(p, v); }
  static void store_bytes_partial(uint8_t* p, breg v, int n) { _mm512_mask_storeu_epi8(p, mask64(n), v); }
  static breg max_u8(breg a, breg b) { return _mm512_max_epu8(a, b); }
};

// AVX-512 BW without VNNI: 8 x 32, 16 accumulators + 4 B halves + 2 A halves of the 32 zmm.
using Q8Avx512 = Q8Avx512T<Isa::kAvx512, 8, 2>;

}  // namespace slim::kernels
