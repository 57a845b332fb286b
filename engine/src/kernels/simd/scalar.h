// Width-1 "vector" traits: lets the SIMD templates compile to the portable
// scalar reference. Math functions are the std:: ones, so the scalar variant
// doubles as the accuracy reference for the SIMD approximations.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/isa.h"

namespace slim::kernels {

struct VScalar {
  using reg = float;
  static constexpr Isa kIsa = Isa::kScalar;
  static constexpr int kWidth = 1;
  static constexpr bool kExactMath = true;
  // GEMM micro-tile: kGemmMR rows x (kGemmNV * kWidth) columns; 16 scalar
  // accumulators fit the register file of any 64-bit target without spilling.
  static constexpr int kGemmMR = 4;
  static constexpr int kGemmNV = 4;
  static constexpr int64_t kGemmKC = 256;
  static constexpr int64_t kGemmNC = 256;

  static reg zero() { return 0.0f; }
  static reg set1(float x) { return x; }
  static reg load(const float* p) { return *p; }
  static void store(float* p, reg v) { *p = v; }
  static reg load_partial(const float* p, int n) { return n > 0 ? *p : 0.0f; }
  static void store_partial(float* p, reg v, int n) {
    if (n > 0) *p = v;
  }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static reg fnmadd(reg a, reg b, reg c) { return c - a * b; }
  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg div(reg a, reg b) { return a / b; }
  static reg rcp_approx(reg a) { return 1.0f / a; }
  // Unordered (NaN) comparisons return b, exactly like x86 maxps/minps.
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg min(reg a, reg b) { return a < b ? a : b; }
  // max that returns NaN when either operand is NaN.
  static reg max_nan(reg a, reg b) { return a != a ? a : max(a, b); }
  static reg exp(reg x) { return std::exp(x); }
  static reg erf(reg x) { return std::erf(x); }
  static reg tanh(reg x) { return std::tanh(x); }
};

// int8 traits (the q8_* families, engine/QUANTIZED.md) for portable C++: one
// lane, written so that every SIMD variant can reproduce it bit for bit.
// Integer sums wrap through uint32 as the vector instructions do (the
// converter rules out overflow; this only keeps the reference free of UB).
struct Q8Scalar {
  static constexpr Isa kIsa = Isa::kScalar;
  static constexpr int kWidth = 1;  // int32 / float lanes of ireg / freg
  static constexpr int kBytes = 1;  // u8 lanes of breg
  using ireg = int32_t;
  using freg = float;
  using breg = uint8_t;

  // q8_gemm: 4 x 4 tile; a "vector" of B is one column's 4 consecutive k bytes.
  static constexpr int kGemmMR = 4;
  static constexpr int kGemmNV = 4;
  using avec = uint32_t;
  using bvec = uint32_t;
  static bvec load_b(const int8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  static avec bcast_a(uint32_t a4) { return a4; }
  static ireg dot(ireg acc, avec a, bvec b) {
    uint32_t s = static_cast<uint32_t>(acc);
    for (int i = 0; i < 4; ++i) {
      const int32_t x = static_cast<int32_t>((a >> (8 * i)) & 0xFFu);
      const int32_t w = static_cast<int8_t>(static_cast<uint8_t>(b >> (8 * i)));
      s += static_cast<uint32_t>(x * w);
    }
    return static_cast<int32_t>(s);
  }

  static ireg izero() { return 0; }
  static ireg iset1(int32_t x) { return x; }
  static ireg load_i32(const int32_t* p) { return *p; }
  static ireg load_i32_partial(const int32_t* p, int n) { return n > 0 ? *p : 0; }
  static ireg iadd(ireg a, ireg b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
  static ireg isub(ireg a, ireg b) { return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)); }
  static ireg imul(ireg a, ireg b) { return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b)); }

  static freg fzero() { return 0.0f; }
  static freg fset1(float x) { return x; }
  static freg load_f32(const float* p) { return *p; }
  static freg load_f32_partial(const float* p, int n) { return n > 0 ? *p : 0.0f; }
  static void store_i32(int32_t* p, ireg v) { *p = v; }
  static void store_i32_partial(int32_t* p, ireg v, int n) {
    if (n > 0) *p = v;
  }
  static void store_f32(float* p, freg v) { *p = v; }
  static void store_f32_partial(float* p, freg v, int n) {
    if (n > 0) *p = v;
  }
  static freg fadd(freg a, freg b) { return a + b; }
  static freg fmul(freg a, freg b) { return a * b; }
  static freg fdiv(freg a, freg b) { return a / b; }
  // Used only where every partial sum is an exact integer below 2^24 (depthwise), so fused or not is the same.
  static freg fmadd(freg a, freg b, freg c) { return a * b + c; }
  // x86 maxps / minps: an unordered comparison returns b.
  static freg fmax(freg a, freg b) { return a > b ? a : b; }
  static freg fmin(freg a, freg b) { return a < b ? a : b; }
  // NaN -> +0, everything else unchanged (cmpordps + andps).
  static freg nan_to_zero(freg a) { return a == a ? a : 0.0f; }
  static freg to_float(ireg a) { return static_cast<float>(a); }
  // cvtps2dq in the default rounding mode: nearest, ties to even. Only called
  // on values already clamped into int32 range.
  static ireg to_int(freg a) { return static_cast<int32_t>(std::nearbyint(a)); }

  static ireg load_u8(const uint8_t* p) { return *p; }
  static ireg load_u8_partial(const uint8_t* p, int n) { return n > 0 ? *p : 0; }
  static ireg load_s8(const int8_t* p) { return *p; }
  static ireg load_s8_partial(const int8_t* p, int n) { return n > 0 ? *p : 0; }
  // Lanes must already hold values in [0, 255].
  static void store_u8(uint8_t* p, ireg v) { *p = static_cast<uint8_t>(v); }
  static void store_u8_partial(uint8_t* p, ireg v, int n) {
    if (n > 0) *p = static_cast<uint8_t>(v);
  }

  static constexpr int kGapNV = 1;  // q8_gavgpool: vectors of channels per step
  static constexpr int kEltNV = 1;  // q8_add ... q8_dequantize: vectors per step

  static breg bzero() { return 0; }
  static breg load_bytes(const uint8_t* p) { return *p; }
  static breg load_bytes_partial(const uint8_t* p, int n) { return n > 0 ? *p : 0; }
  static void store_bytes(uint8_t* p, breg v) { *p = v; }
  static void store_bytes_partial(uint8_t* p, breg v, int n) {
    if (n > 0) *p = v;
  }
  static breg max_u8(breg a, breg b) { return a > b ? a : b; }
};

}  // namespace slim::kernels
