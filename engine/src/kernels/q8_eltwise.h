// The elementwise int8 kernels: q8_add, q8_mul, q8_quantize, q8_dequantize
// and q8_lookup, generic over int8 traits Q. Every variant evaluates the same
// fp32 expression in the same order (no fused multiply-add: the files are
// compiled with -ffp-contract=off), so they agree bit for bit. Include only
// from a per-ISA translation unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/q8_requant.h"

namespace slim::kernels {

// Calls step(i, lanes, tail) over [0, n) in vectors of W lanes, NV at a time
// while whole steps remain.
template <class Q, class Step>
void q8_for_each_vector(int64_t n, Step&& step) {
  constexpr int W = Q::kWidth;
  constexpr int NV = Q::kEltNV;
  int64_t i = 0;
  for (; i + NV * W <= n; i += NV * W) {
    SLIM_UNROLL for (int v = 0; v < NV; ++v) step(i + v * W, W, false);
  }
  for (; i + W <= n; i += W) step(i, W, false);
  if (i < n) step(i, static_cast<int>(n - i), true);
}

// (a - a_zp) or (b - b_zp) for the lanes at i; b_stride 0 repeats b[0].
template <class Q>
typename Q::ireg q8_load_centered(const uint8_t* p, int64_t i, int lanes, bool tail, typename Q::ireg zp) {
  return Q::isub(tail ? Q::load_u8_partial(p + i, lanes) : Q::load_u8(p + i), zp);
}

template <class Q>
void q8_store(uint8_t* y, int64_t i, typename Q::ireg v, int lanes, bool tail) {
  if (tail) {
    Q::store_u8_partial(y + i, v, lanes);
  } else {
    Q::store_u8(y + i, v);
  }
}

// y = clamp(nearbyint(float(a - a_zp) * a_mult + float(b - b_zp) * b_mult) + y_zp, qmin, qmax)
template <class Q>
void q8_add_impl(const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride, uint8_t* y,
                 int64_t n) {
  using I = typename Q::ireg;
  using F = typename Q::freg;
  const Q8Requant<Q> rq = q8_requant_params<Q>(p.y_zp, p.qmin, p.qmax);
  const I azp = Q::iset1(p.a_zp), bzp = Q::iset1(p.b_zp);
  const F am = Q::fset1(p.a_multiplier), bm = Q::fset1(p.b_multiplier);
  const F b_scalar = Q::fmul(Q::to_float(Q::iset1(static_cast<int32_t>(b[0]) - p.b_zp)), bm);
  q8_for_each_vector<Q>(n, [&](int64_t i, int lanes, bool tail) {
    const F fa = Q::fmul(Q::to_float(q8_load_centered<Q>(a, i, lanes, tail, azp)), am);
    const F fb = b_stride == 0 ? b_scalar : Q::fmul(Q::to_float(q8_load_centered<Q>(b, i, lanes, tail, bzp)), bm);
    q8_store<Q>(y, i, q8_round_clamp<Q>(Q::fadd(fa, fb), rq), lanes, tail);
  });
}

// y = clamp(nearbyint(float((a - a_zp) * (b - b_zp)) * a_mult) + y_zp, qmin, qmax)
// (the integer product is at most 255^2, exact in fp32).
template <class Q>
void q8_mul_impl(const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride, uint8_t* y,
                 int64_t n) {
  using I = typename Q::ireg;
  using F = typename Q::freg;
  const Q8Requant<Q> rq = q8_requant_params<Q>(p.y_zp, p.qmin, p.qmax);
  const I azp = Q::iset1(p.a_zp), bzp = Q::iset1(p.b_zp);
  const F am = Q::fset1(p.a_multiplier);
  const I b_scalar = Q::iset1(static_cast<int32_t>(b[0]) - p.b_zp);
  q8_for_each_vector<Q>(n, [&](int64_t i, int lanes, bool tail) {
    const I ia = q8_load_centered<Q>(a, i, lanes, tail, azp);
    const I ib = b_stride == 0 ? b_scalar : q8_load_centered<Q>(b, i, lanes, tail, bzp);
    q8_store<Q>(y, i, q8_requantize<Q>(Q::imul(ia, ib), am, rq), lanes, tail);
  });
}

// y = clamp(nearbyint(x / scale) + zp, 0, 255), NaN -> zp.
template <class Q>
void q8_quantize_impl(const float* x, float scale, int32_t zero_point, uint8_t* y, int64_t n) {
  using F = typename Q::freg;
  const Q8Requant<Q> rq = q8_requant_params<Q>(zero_point, 0, 255);
  const F s = Q::fset1(scale);
  q8_for_each_vector<Q>(n, [&](int64_t i, int lanes, bool tail) {
    const F v = tail ? Q::load_f32_partial(x + i, lanes) : Q::load_f32(x + i);
    q8_store<Q>(y, i, q8_round_clamp<Q>(Q::nan_to_zero(Q::fdiv(v, s)), rq), lanes, tail);
  });
}

// y = float(x - zp) * scale.
template <class Q>
void q8_dequantize_impl(const uint8_t* x, float scale, int32_t zero_point, float* y, int64_t n) {
  using F = typename Q::freg;
  const typename Q::ireg zp = Q::iset1(zero_point);
  const F s = Q::fset1(scale);
  q8_for_each_vector<Q>(n, [&](int64_t i, int lanes, bool tail) {
    const F v = Q::fmul(Q::to_float(q8_load_centered<Q>(x, i, lanes, tail, zp)), s);
    if (tail) {
      Q::store_f32_partial(y + i, v, lanes);
    } else {
      Q::store_f32(y + i, v);
    }
  });
}

// y = table[x]: plain loads; a 256-byte table has no cheap SIMD lookup below
// AVX-512 VBMI (vpermb), and the loop runs at about one byte per cycle.
template <class Q>
void q8_lookup_impl(const uint8_t* table, const uint8_t* x, uint8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[x[i]];
}

template <class Q>
constexpr Q8AddKernel q8_add_kernel(const char* name) {
  return {name, Q::kIsa, 1, Q::kEltNV * Q::kWidth, &q8_add_impl<Q>};
}
template <class Q>
constexpr Q8MulKernel q8_mul_kernel(const char* name) {
  return {name, Q::kIsa, 1, Q::kEltNV * Q::kWidth, &q8_mul_impl<Q>};
}
template <class Q>
constexpr Q8QuantizeKernel q8_quantize_kernel(const char* name) {
  return {name, Q::kIsa, 1, Q::kEltNV * Q::kWidth, &q8_quantize_impl<Q>};
}
template <class Q>
constexpr Q8DequantizeKernel q8_dequantize_kernel(const char* name) {
  return {name, Q::kIsa, 1, Q::kEltNV * Q::kWidth, &q8_dequantize_impl<Q>};
}
template <class Q>
constexpr Q8LookupKernel q8_lookup_kernel(const char* name) {
  return {name, Q::kIsa, 1, 1, &q8_lookup_impl<Q>};
}

}  // namespace slim::kernels
