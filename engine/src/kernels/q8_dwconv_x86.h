// Vector ops of the integer q8_dwconv kernel (q8_dwconv_int.h) on x86, one
// struct per register width: kBits / 4 channels per block. kVnni: vpdpbusd
// over groups of 4 kernel rows (u8 x s8 summed into int32 without
// saturation); otherwise vpmaddwd over pairs of rows widened to 16 bits
// (exact, where vpmaddubsw would saturate). kMasked: AVX-512 BW/VL byte masks
// for the channel tail; without them (AVX2) the tail goes through a buffer.
// Each per-ISA translation unit instantiates its own argument set, so the
// units, compiled with different flags, never share a symbol.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace slim::kernels {

// The registers of one width (a specialization rather than std::conditional_t:
// vector types as template arguments lose their attributes, a GCC warning).
template <int kBits>
struct Q8DwX86Regs;
template <>
struct Q8DwX86Regs<512> {
  using reg = __m512i;
  using freg = __m512;
};
template <>
struct Q8DwX86Regs<256> {
  using reg = __m256i;
  using freg = __m256;
};
template <>
struct Q8DwX86Regs<128> {
  using reg = __m128i;
  using freg = __m128;
};

template <int kBits, bool kVnni, bool kMasked>
struct Q8DwX86 {
  static_assert(kBits == 512 || kBits == 256 || kBits == 128, "register width");
  static_assert(kMasked || (kBits < 512 && !kVnni), "AVX2 has neither zmm, nor byte masks, nor VNNI");
  using reg = typename Q8DwX86Regs<kBits>::reg;
  using freg = typename Q8DwX86Regs<kBits>::freg;
  static constexpr int kCh = kBits / 8;
  static constexpr int kRowsPerGroup = kVnni ? 4 : 2;
  // Channel tails of fewer than kCh / 2 run the next narrower block.
  using Narrow = std::conditional_t<kBits == 128, void, Q8DwX86<kBits / 2, kVnni, kMasked>>;
  // Output pixels per run sharing input columns (chosen with slim_kernels_bench).
  static constexpr int kU3 = 4;
  static constexpr int kU5 = 2;

  static reg zero() {
    if constexpr (kBits == 512) return _mm512_setzero_si512();
    else if constexpr (kBits == 256) return _mm256_setzero_si256();
    else return _mm_setzero_si128();
  }
  static reg set1_u8(uint8_t v) {
    const char c = static_cast<char>(v);
    if constexpr (kBits == 512) return _mm512_set1_epi8(c);
    else if constexpr (kBits == 256) return _mm256_set1_epi8(c);
    else return _mm_set1_epi8(c);
  }
  static reg set1_i16(int16_t v) {
    if constexpr (kBits == 512) return _mm512_set1_epi16(v);
    else if constexpr (kBits == 256) return _mm256_set1_epi16(v);
    else return _mm_set1_epi16(v);
  }
  static reg load(const void* p) {
    if constexpr (kBits == 512) return _mm512_loadu_si512(p);
    else if constexpr (kBits == 256) return _mm256_loadu_si256(static_cast<const __m256i*>(p));
    else return _mm_loadu_si128(static_cast<const __m128i*>(p));
  }
  static freg load_f32(const float* p) {
    if constexpr (kBits == 512) return _mm512_loadu_ps(p);
    else if constexpr (kBits == 256) return _mm256_loadu_ps(p);
    else return _mm_loadu_ps(p);
  }
  static freg fset1(float x) {
    if constexpr (kBits == 512) return _mm512_set1_ps(x);
    else if constexpr (kBits == 256) return _mm256_set1_ps(x);
    else return _mm_set1_ps(x);
  }
  static void store(uint8_t* p, reg v) {
    if constexpr (kBits == 512) _mm512_storeu_si512(p, v);
    else if constexpr (kBits == 256) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
    else _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
  }
  static reg load_partial(const void* p, int n) {
    if constexpr (kMasked) {
      const uint64_t m = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
      if constexpr (kBits == 512) return _mm512_maskz_loadu_epi8(m, p);
      else if constexpr (kBits == 256) return _mm256_maskz_loadu_epi8(static_cast<__mmask32>(m), p);
      else return _mm_maskz_loadu_epi8(static_cast<__mmask16>(m), p);
    } else {
      alignas(32) uint8_t buf[kCh] = {};
      std::memcpy(buf, p, static_cast<size_t>(n));
      return load(buf);
    }
  }
  static void store_partial(uint8_t* p, reg v, int n) {
    if constexpr (kMasked) {
      const uint64_t m = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
      if constexpr (kBits == 512) _mm512_mask_storeu_epi8(p, m, v);
      else if constexpr (kBits == 256) _mm256_mask_storeu_epi8(p, static_cast<__mmask32>(m), v);
      else _mm_mask_storeu_epi8(p, static_cast<__mmask16>(m), v);
    } else {
      alignas(32) uint8_t buf[kCh];
      store(buf, v);
      std::memcpy(p, buf, static_cast<size_t>(n));
    }
  }

  // In-lane (128-bit) unpacks; the same instructions at every width.
  static reg unpacklo8(reg a, reg b) {
    if constexpr (kBits == 512) return _mm512_unpacklo_epi8(a, b);
    else if constexpr (kBits == 256) return _mm256_unpacklo_epi8(a, b);
    else return _mm_unpacklo_epi8(a, b);
  }
  static reg unpackhi8(reg a, reg b) {
    if constexpr (kBits == 512) return _mm512_unpackhi_epi8(a, b);
    else if constexpr (kBits == 256) return _mm256_unpackhi_epi8(a, b);
    else return _mm_unpackhi_epi8(a, b);
  }
  static reg unpacklo16(reg a, reg b) {
    if constexpr (kBits == 512) return _mm512_unpacklo_epi16(a, b);
    else if constexpr (kBits == 256) return _mm256_unpacklo_epi16(a, b);
    else return _mm_unpacklo_epi16(a, b);
  }
  static reg unpackhi16(reg a, reg b) {
    if constexpr (kBits == 512) return _mm512_unpackhi_epi16(a, b);
    else if constexpr (kBits == 256) return _mm256_unpackhi_epi16(a, b);
    else return _mm_unpackhi_epi16(a, b);
  }
  // 0xFF in each byte of `a` that is negative.
  static reg sign_bytes(reg a) {
    if constexpr (kBits == 512) return _mm512_movm_epi8(_mm512_cmplt_epi8_mask(a, zero()));
    else if constexpr (kBits == 256) return _mm256_cmpgt_epi8(zero(), a);
    else return _mm_cmpgt_epi8(zero(), a);
  }

  // r[0..kRowsPerGroup) -> out[q]: lane L, dword i = the rows' values of channel 16 L + 4 q + i.
  static void interleave(const reg* r, reg* out) {
    if constexpr (kVnni) {
      const reg a = unpacklo8(r[0], r[1]), b = unpackhi8(r[0], r[1]);
      const reg c = unpacklo8(r[2], r[3]), d = unpackhi8(r[2], r[3]);
      out[0] = unpacklo16(a, c);
      out[1] = unpackhi16(a, c);
      out[2] = unpacklo16(b, d);
      out[3] = unpackhi16(b, d);
    } else {
      widen_pairs(r, zero(), zero(), out);
    }
  }
  // The weights: as the input for vpdpbusd; sign-extended to 16 bits for vpmaddwd.
  static void interleave_w(const reg* r, reg* out) {
    if constexpr (kVnni) {
      interleave(r, out);
    } else {
      widen_pairs(r, sign_bytes(r[0]), sign_bytes(r[1]), out);
    }
  }
  static void widen_pairs(const reg* r, reg hi0, reg hi1, reg* out) {
    const reg a_lo = unpacklo8(r[0], hi0), a_hi = unpackhi8(r[0], hi0);
    const reg b_lo = unpacklo8(r[1], hi1), b_hi = unpackhi8(r[1], hi1);
    out[0] = unpacklo16(a_lo, b_lo);
    out[1] = unpackhi16(a_lo, b_lo);
    out[2] = unpacklo16(a_hi, b_hi);
    out[3] = unpackhi16(a_hi, b_hi);
  }
  static reg dot(reg acc, reg x, reg w) {
    if constexpr (kVnni) {
      if constexpr (kBits == 512) return _mm512_dpbusd_epi32(acc, x, w);
      else if constexpr (kBits == 256) return _mm256_dpbusd_epi32(acc, x, w);
      else return _mm_dpbusd_epi32(acc, x, w);
    } else {
      if constexpr (kBits == 512) return _mm512_add_epi32(acc, _mm512_madd_epi16(x, w));
      else if constexpr (kBits == 256) return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
      else return _mm_add_epi32(acc, _mm_madd_epi16(x, w));
    }
  }

  static freg to_float(reg a) {
    if constexpr (kBits == 512) return _mm512_cvtepi32_ps(a);
    else if constexpr (kBits == 256) return _mm256_cvtepi32_ps(a);
    else return _mm_cvtepi32_ps(a);
  }
  static reg to_int(freg a) {
    if constexpr (kBits == 512) return _mm512_cvtps_epi32(a);
    else if constexpr (kBits == 256) return _mm256_cvtps_epi32(a);
    else return _mm_cvtps_epi32(a);
  }
  static freg fmul(freg a, freg b) {
    if constexpr (kBits == 512) return _mm512_mul_ps(a, b);
    else if constexpr (kBits == 256) return _mm256_mul_ps(a, b);
    else return _mm_mul_ps(a, b);
  }
  static freg fmax(freg a, freg b) {
    if constexpr (kBits == 512) return _mm512_max_ps(a, b);
    else if constexpr (kBits == 256) return _mm256_max_ps(a, b);
    else return _mm_max_ps(a, b);
  }
  static freg fmin(freg a, freg b) {
    if constexpr (kBits == 512) return _mm512_min_ps(a, b);
    else if constexpr (kBits == 256) return _mm256_min_ps(a, b);
    else return _mm_min_ps(a, b);
  }
  // y[q] lies in [qmin - zp, qmax - zp] (within int16) and + zp in [0, 255],
  // so neither saturating pack changes a value; being in-lane, the packs undo
  // the interleave's channel order.
  static reg pack(const reg* y, reg zp16) {
    if constexpr (kBits == 512) {
      const reg p01 = _mm512_adds_epi16(_mm512_packs_epi32(y[0], y[1]), zp16);
      const reg p23 = _mm512_adds_epi16(_mm512_packs_epi32(y[2], y[3]), zp16);
      return _mm512_packus_epi16(p01, p23);
    } else if constexpr (kBits == 256) {
      const reg p01 = _mm256_adds_epi16(_mm256_packs_epi32(y[0], y[1]), zp16);
      const reg p23 = _mm256_adds_epi16(_mm256_packs_epi32(y[2], y[3]), zp16);
      return _mm256_packus_epi16(p01, p23);
    } else {
      const reg p01 = _mm_adds_epi16(_mm_packs_epi32(y[0], y[1]), zp16);
      const reg p23 = _mm_adds_epi16(_mm_packs_epi32(y[2], y[3]), zp16);
      return _mm_packus_epi16(p01, p23);
    }
  }
};

}  // namespace slim::kernels
