// Width-1 "vector" traits: lets the SIMD templates compile to the portable
// scalar reference. Math functions are the std:: ones, so the scalar variant
// doubles as the accuracy reference for the SIMD approximations.
#pragma once

#include <cmath>
#include <cstdint>

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
  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg div(reg a, reg b) { return a / b; }
  // Unordered (NaN) comparisons return b, exactly like x86 maxps/minps.
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg min(reg a, reg b) { return a < b ? a : b; }
  // max that returns NaN when either operand is NaN.
  static reg max_nan(reg a, reg b) { return a != a ? a : max(a, b); }
  static reg exp(reg x) { return std::exp(x); }
  static reg erf(reg x) { return std::erf(x); }
  static reg tanh(reg x) { return std::tanh(x); }
};

}  // namespace slim::kernels
