// The requantization step every q8 family ends with, generic over int8
// traits Q (simd/<isa>.h: Q8Scalar, Q8Avx2, Q8Avx512...). Include only from a
// per-ISA translation unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/simd/math.h"

namespace slim::kernels {

// Per-call constants of y = clamp(nearbyint(float(v) * scale) + zp, qmin, qmax).
// The clamp is applied to the fp32 product, before the rounding, against
// [qmin - zp, qmax - zp]: the bounds are integers, so for every finite product
// this equals clamping after the rounding, and a product beyond int32 (a huge
// scale) saturates instead of becoming cvtps2dq's 0x80000000.
template <class Q>
struct Q8Requant {
  typename Q::freg lo, hi;
  typename Q::ireg zp;
};

template <class Q>
Q8Requant<Q> q8_requant_params(int32_t zero_point, int32_t qmin, int32_t qmax) {
  return {Q::fset1(static_cast<float>(qmin - zero_point)), Q::fset1(static_cast<float>(qmax - zero_point)),
          Q::iset1(zero_point)};
}

// clamp(nearbyint(f) + zp, qmin, qmax): int32 lanes ready for Q::store_u8.
template <class Q>
typename Q::ireg q8_round_clamp(typename Q::freg f, const Q8Requant<Q>& r) {
  return Q::iadd(Q::to_int(Q::fmin(Q::fmax(f, r.lo), r.hi)), r.zp);
}

// clamp(nearbyint(float(v) * scale) + zp, qmin, qmax).
template <class Q>
typename Q::ireg q8_requantize(typename Q::ireg v, typename Q::freg scale, const Q8Requant<Q>& r) {
  return q8_round_clamp<Q>(Q::fmul(Q::to_float(v), scale), r);
}

}  // namespace slim::kernels
