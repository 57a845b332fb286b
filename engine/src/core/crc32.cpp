// CRC-32 (IEEE 802.3, zlib's) of the model file's sections, checked at every
// load: on a large weights section it was 40% of creating a session. With
// PCLMULQDQ (every x86-64 since 2010, checked at run time) the data is folded
// 64 bytes per step by carry-less multiplication (Intel's "Fast CRC
// Computation for Generic Polynomials Using PCLMULQDQ", as zlib's SIMD paths
// do), about ten times faster than tables; otherwise slicing-by-8.
#include <array>
#include <cstdint>
#include <cstring>

#include "core/loader.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SLIM_CRC_PCLMUL 1
#endif

namespace slim {

namespace {

using Tables = std::array<std::array<uint32_t, 256>, 8>;

const Tables& tables() {
  static const Tables t = [] {
    Tables r{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      r[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (size_t k = 1; k < 8; ++k) r[k][i] = (r[k - 1][i] >> 8) ^ r[0][r[k - 1][i] & 0xFF];
    return r;
  }();
  return t;
}

// `c` is the running (pre-inverted) value, as in the loop of zlib's crc32.
uint32_t crc_tables(uint32_t c, const uint8_t* p, size_t size) {
  const Tables& t = tables();
  for (; size >= 8; size -= 8, p += 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);  // little-endian hosts only, like the rest of the reader
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
        t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; size > 0; --size, ++p) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c;
}

#ifdef SLIM_CRC_PCLMUL
// Folds `size` bytes (a multiple of 16, at least 64) into the running value.
// The constants are x^(k) mod P for the bit-reflected polynomial: k1/k2 fold
// 512 bits ahead, k3/k4 128 bits, k5 64 bits; mu and P' for the final Barrett
// reduction.
#define SLIM_PCLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

SLIM_PCLMUL_TARGET inline __m128i load(const uint8_t* q) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
}

// x * k (both 64-bit halves, carry-less) + data: x carried 128 or 512 bits ahead.
SLIM_PCLMUL_TARGET inline __m128i fold(__m128i x, __m128i k, __m128i data) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), _mm_clmulepi64_si128(x, k, 0x00)), data);
}

SLIM_PCLMUL_TARGET uint32_t crc_pclmul(uint32_t crc, const uint8_t* p, size_t size) {
  const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  __m128i x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x2 = load(p + 16), x3 = load(p + 32), x4 = load(p + 48);
  p += 64;
  size -= 64;
  for (; size >= 64; size -= 64, p += 64) {
    x1 = fold(x1, k1k2, load(p));
    x2 = fold(x2, k1k2, load(p + 16));
    x3 = fold(x3, k1k2, load(p + 32));
    x4 = fold(x4, k1k2, load(p + 48));
  }
  x1 = fold(x1, k3k4, x2);
  x1 = fold(x1, k3k4, x3);
  x1 = fold(x1, k3k4, x4);
  for (; size >= 16; size -= 16, p += 16) x1 = fold(x1, k3k4, load(p));
  // 128 -> 64 bits
  const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i x2b = _mm_clmulepi64_si128(x1, k3k4, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2b);
  x2b = _mm_srli_si128(x1, 4);
  x1 = _mm_and_si128(x1, mask32);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k5k0, 0x00), x2b);
  // Barrett reduction to 32 bits
  x2b = _mm_and_si128(x1, mask32);
  x2b = _mm_clmulepi64_si128(x2b, poly, 0x10);
  x2b = _mm_and_si128(x2b, mask32);
  x2b = _mm_clmulepi64_si128(x2b, poly, 0x00);
  x1 = _mm_xor_si128(x1, x2b);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

bool has_pclmul() {
  static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return yes;
}
#endif

}  // namespace

uint32_t crc32(const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
#ifdef SLIM_CRC_PCLMUL
  if (size >= 64 && has_pclmul()) {
    const size_t folded = size & ~static_cast<size_t>(15);
    c = crc_pclmul(c, p, folded);
    p += folded;
    size -= folded;
  }
#endif
  return crc_tables(c, p, size) ^ 0xFFFFFFFFu;
}

}  // namespace slim
