// Vectorized exp/tanh/erf and horizontal reductions, generic over a vector traits type V (VScalar,
// VAvx2, VAvx512). Include only after the traits header of the TU's ISA: the
// templates are instantiated per ISA, so each instantiation has its own symbol
// and code compiled for one ISA never leaks into another.
#pragma once

#include <cmath>

// Complete unrolling of loops whose trip count is a template constant, so that
// tile arrays live in registers.
#if defined(__GNUC__) || defined(__clang__)
#define SLIM_UNROLL _Pragma("GCC unroll 32")
#else
#define SLIM_UNROLL
#endif

namespace slim::kernels {

// Horizontal reductions through memory: done once per row, so the
// shuffle-free form costs nothing that matters and works for every V.
template <class V>
inline float hmax(typename V::reg v) {
  float lanes[V::kWidth];
  V::store(lanes, v);
  float m = lanes[0];
  for (int i = 1; i < V::kWidth; ++i) m = (lanes[i] > m || lanes[i] != lanes[i]) ? lanes[i] : m;
  return m;
}

template <class V>
inline float hsum(typename V::reg v) {
  float lanes[V::kWidth];
  V::store(lanes, v);
  float s = 0.0f;
  for (int i = 0; i < V::kWidth; ++i) s += lanes[i];
  return s;
}

// The reduced exponential the exp-based functions share: exp(x) = p * 2^n with
// n = round(x / ln2), r = x - n ln2 in two parts (Cody-Waite), |r| <= ln2 / 2,
// and p = e^r from a degree-6 polynomial (Cephes expf coefficients). The
// callers clamp x first and decide how to apply 2^n.
template <class V>
inline typename V::reg exp_reduced(typename V::reg x, typename V::reg& n) {
  using R = typename V::reg;
  n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  R r = V::fmadd(n, V::set1(-0.693359375f), x);
  r = V::fmadd(n, V::set1(2.12194440e-4f), r);
  R p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  return V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
}

// exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2 / 2, then a
// degree-6 polynomial (Cephes expf coefficients), about 1 ulp. The scale 2^n
// is applied as two halves so that n in [-150, 128] stays exact: results
// underflow gradually through the denormals and overflow to +inf like std::exp.
template <class V>
inline typename V::reg vexp(typename V::reg x) {
  if constexpr (V::kExactMath) {
    return V::exp(x);
  } else {
    using R = typename V::reg;
    const R xc = V::min(V::set1(88.7228394f), V::max(V::set1(-103.972f), x));  // NaN passes through
    R n;
    const R p = exp_reduced<V>(xc, n);
    const R n1 = V::round(V::mul(n, V::set1(0.5f)));
    const R e = V::mul(V::mul(p, V::pow2(n1)), V::pow2(V::sub(n, n1)));
    // Beyond these the true result rounds to +inf / 0.
    const R over = V::select_lt(V::set1(88.7228394f), x, V::set1(HUGE_VALF), e);
    return V::select_lt(x, V::set1(-103.972f), V::zero(), over);
  }
}

// exp(x) for x <= 0 (a softmax row after its maximum is subtracted): no
// overflow side, and below -87.3 (results under 2^-126) it gives exactly 0, so
// one power of two suffices (vexp splits it in two for the denormals).
// NaN passes through. Same polynomial and accuracy as vexp elsewhere.
template <class V>
inline typename V::reg vexp_nonpositive(typename V::reg x) {
  if constexpr (V::kExactMath) {
    return V::exp(x);
  } else {
    using R = typename V::reg;
    const R lo = V::set1(-87.33654475f);
    const R xc = V::max(lo, x);  // NaN passes through (second operand)
    R n;
    const R p = exp_reduced<V>(xc, n);
    return V::select_lt(x, lo, V::zero(), V::mul(p, V::pow2(n)));
  }
}

// sigmoid(x) = 1 / (1 + exp(-x)). The SIMD form is the hot part of every SiLU
// epilogue (EfficientNet, MobileViT), so it skips what vexp spends on the
// range ends: beyond |x| = 88 the result is 0 or 1 to float precision, so
// exp(-x) only needs n in [-127, 127] (one power of two, no denormal path),
// and the division is a reciprocal estimate refined by one Newton step
// (rcp_approx's 2^-14 or better, squared: below float's half ulp, so that
// sigmoid saturates to exactly 1).
template <class V>
inline typename V::reg vsigmoid(typename V::reg x) {
  using R = typename V::reg;
  const R one = V::set1(1.0f);
  if constexpr (V::kExactMath) {
    return V::div(one, V::add(one, vexp<V>(V::sub(V::zero(), x))));
  } else {
    const R t = V::min(V::set1(88.0f), V::max(V::set1(-88.0f), V::sub(V::zero(), x)));  // NaN passes through
    R n;
    const R p = exp_reduced<V>(t, n);
    const R d = V::add(one, V::mul(p, V::pow2(n)));
    // y + y (1 - d y): the fused residual keeps the step exact near 1, where y (2 - d y) rounds short of it
    const R y = V::rcp_approx(d);
    return V::fmadd(y, V::fnmadd(d, y, one), y);
  }
}

// tanh: odd polynomial below |x| = 0.625 (where 1 - 2 / (e^2x + 1) would
// cancel), the exp form above; sign restored at the end.
template <class V>
inline typename V::reg vtanh(typename V::reg x) {
  if constexpr (V::kExactMath) {
    return V::tanh(x);
  } else {
    using R = typename V::reg;
    const R one = V::set1(1.0f);
    const R ax = V::abs(x);
    const R e = vexp<V>(V::add(ax, ax));
    const R big = V::sub(one, V::div(V::set1(2.0f), V::add(e, one)));
    const R z = V::mul(ax, ax);
    R p = V::set1(-5.70498872745e-3f);
    p = V::fmadd(p, z, V::set1(2.06390887954e-2f));
    p = V::fmadd(p, z, V::set1(-5.37397155531e-2f));
    p = V::fmadd(p, z, V::set1(1.33314422036e-1f));
    p = V::fmadd(p, z, V::set1(-3.33332819422e-1f));
    const R small = V::fmadd(V::mul(ax, z), p, ax);
    return V::copysign(V::select_lt(ax, V::set1(0.625f), small, big), x);
  }
}

// erf: Taylor series (to x^11) below |x| = 0.5, Abramowitz & Stegun 7.1.26
// above (1.5e-7 absolute); max abs error about 3e-7 in float.
template <class V>
inline typename V::reg verf(typename V::reg x) {
  if constexpr (V::kExactMath) {
    return V::erf(x);
  } else {
    using R = typename V::reg;
    const R ax = V::abs(x);
    const R z = V::mul(ax, ax);
    R s = V::set1(-1.1283791670955126f / 1320.0f);
    s = V::fmadd(s, z, V::set1(1.1283791670955126f / 216.0f));
    s = V::fmadd(s, z, V::set1(-1.1283791670955126f / 42.0f));
    s = V::fmadd(s, z, V::set1(1.1283791670955126f / 10.0f));
    s = V::fmadd(s, z, V::set1(-1.1283791670955126f / 3.0f));
    s = V::fmadd(s, z, V::set1(1.1283791670955126f));
    const R small = V::mul(s, ax);
    const R one = V::set1(1.0f);
    const R t = V::div(one, V::fmadd(V::set1(0.3275911f), ax, one));
    R q = V::set1(1.061405429f);
    q = V::fmadd(q, t, V::set1(-1.453152027f));
    q = V::fmadd(q, t, V::set1(1.421413741f));
    q = V::fmadd(q, t, V::set1(-0.284496736f));
    q = V::fmadd(q, t, V::set1(0.254829592f));
    q = V::mul(q, t);
    const R big = V::sub(one, V::mul(q, vexp<V>(V::sub(V::zero(), z))));
    return V::copysign(V::select_lt(ax, V::set1(0.5f), small, big), x);
  }
}

template <class V>
inline typename V::reg vclamp01(typename V::reg x) {
  return V::min(V::set1(1.0f), V::max(V::zero(), x));
}

}  // namespace slim::kernels
