// Vectorized exp/tanh/erf and the activation functions, generic over a vector
// traits type V (VScalar, VAvx2, VAvx512). Include only after the traits header
// of the TU's ISA: the templates are instantiated per ISA, so each instantiation
// has its own symbol and code compiled for one ISA never leaks into another.
#pragma once

#include <cmath>

#include "kernels/kernels.h"

// NaN propagation: V::max/V::min return their second operand when either is
// NaN (the x86 maxps/minps rule, mirrored by VScalar), so data always goes
// second and relu(NaN) = NaN, clip(NaN) = NaN like ONNX Runtime.

// Complete unrolling of loops whose trip count is a template constant, so that
// tile arrays live in registers.
#if defined(__GNUC__) || defined(__clang__)
#define SLIM_UNROLL _Pragma("GCC unroll 32")
#else
#define SLIM_UNROLL
#endif

namespace slim::kernels {

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
    const R n = V::round(V::mul(xc, V::set1(1.44269504088896341f)));
    R r = V::fmadd(n, V::set1(-0.693359375f), xc);
    r = V::fmadd(n, V::set1(2.12194440e-4f), r);
    R p = V::set1(1.9875691500e-4f);
    p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
    p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
    p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
    p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
    p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
    p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
    const R n1 = V::round(V::mul(n, V::set1(0.5f)));
    const R e = V::mul(V::mul(p, V::pow2(n1)), V::pow2(V::sub(n, n1)));
    // Beyond these the true result rounds to +inf / 0.
    const R over = V::select_lt(V::set1(88.7228394f), x, V::set1(HUGE_VALF), e);
    return V::select_lt(x, V::set1(-103.972f), V::zero(), over);
  }
}

template <class V>
inline typename V::reg vsigmoid(typename V::reg x) {
  const typename V::reg one = V::set1(1.0f);
  return V::div(one, V::add(one, vexp<V>(V::sub(V::zero(), x))));
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

// Applies one activation to `count` registers (count a compile-time constant
// so the loop unrolls over a register tile). The switch runs once per call.
template <class V, int kCount>
inline void activate_regs(typename V::reg* v, const Activation& act) {
  using R = typename V::reg;
  switch (act.kind) {
    case ActKind::kNone:
      break;
    case ActKind::kRelu:
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = V::max(V::zero(), v[i]);
      break;
    case ActKind::kClip: {
      const R lo = V::set1(act.alpha), hi = V::set1(act.beta);
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = V::min(hi, V::max(lo, v[i]));
      break;
    }
    case ActKind::kLeakyRelu: {
      // max(x, 0) + alpha * min(x, 0) is exact for either sign of x.
      const R a = V::set1(act.alpha);
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) {
        v[i] = V::fmadd(a, V::min(V::zero(), v[i]), V::max(V::zero(), v[i]));
      }
      break;
    }
    case ActKind::kHardSigmoid: {
      const R a = V::set1(act.alpha), b = V::set1(act.beta);
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = vclamp01<V>(V::fmadd(a, v[i], b));
      break;
    }
    case ActKind::kHardSwish: {
      const R a = V::set1(1.0f / 6.0f), b = V::set1(0.5f);
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = V::mul(v[i], vclamp01<V>(V::fmadd(a, v[i], b)));
      break;
    }
    case ActKind::kSigmoid:
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = vsigmoid<V>(v[i]);
      break;
    case ActKind::kSilu:
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = V::mul(v[i], vsigmoid<V>(v[i]));
      break;
    case ActKind::kGelu: {
      const R half = V::set1(0.5f), one = V::set1(1.0f), rsqrt2 = V::set1(0.70710678118654752f);
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) {
        v[i] = V::mul(V::mul(half, v[i]), V::add(one, verf<V>(V::mul(v[i], rsqrt2))));
      }
      break;
    }
    case ActKind::kGeluTanh: {
      const R half = V::set1(0.5f), one = V::set1(1.0f);
      const R c0 = V::set1(0.7978845608028654f), c1 = V::set1(0.044715f);
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) {
        const R x = v[i];
        const R inner = V::mul(c0, V::fmadd(V::mul(c1, x), V::mul(x, x), x));
        v[i] = V::mul(V::mul(half, x), V::add(one, vtanh<V>(inner)));
      }
      break;
    }
    case ActKind::kTanh:
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = vtanh<V>(v[i]);
      break;
    case ActKind::kExp:
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = vexp<V>(v[i]);
      break;
    case ActKind::kErf:
      SLIM_UNROLL for (int i = 0; i < kCount; ++i) v[i] = verf<V>(v[i]);
      break;
  }
}

// y[i] = act(x[i]) over a buffer (y may equal x).
template <class V>
void activate_buffer(const Activation& act, const float* x, float* y, int64_t n) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  constexpr int kBlock = 4;
  int64_t i = 0;
  for (; i + kBlock * W <= n; i += kBlock * W) {
    R v[kBlock];
    SLIM_UNROLL for (int j = 0; j < kBlock; ++j) v[j] = V::load(x + i + j * W);
    activate_regs<V, kBlock>(v, act);
    SLIM_UNROLL for (int j = 0; j < kBlock; ++j) V::store(y + i + j * W, v[j]);
  }
  for (; i < n; i += W) {
    const int left = static_cast<int>(n - i < W ? n - i : W);
    R v[1] = {V::load_partial(x + i, left)};
    activate_regs<V, 1>(v, act);
    V::store_partial(y + i, v[0], left);
  }
}

}  // namespace slim::kernels
