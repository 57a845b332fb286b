// The f32_vact kernel: activations over registers (also the epilogue of the
// GEMM and depthwise kernels) and over a buffer, generic over vector traits V.
// Include only from a per-ISA translation unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/simd/math.h"

// NaN propagation: V::max/V::min return their second operand when either is
// NaN (the x86 maxps/minps rule, mirrored by VScalar), so data always goes
// second and relu(NaN) = NaN, clip(NaN) = NaN like ONNX Runtime.

namespace slim::kernels {

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

// Vectors per loop step of activate_buffer: independent chains for the
// transcendental activations' long dependency chains.
constexpr int kVactVectors = 4;

// y[i] = act(x[i]) over a buffer (y may equal x).
template <class V>
void activate_buffer(const Activation& act, const float* x, float* y, int64_t n) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  constexpr int kBlock = kVactVectors;
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

template <class V>
constexpr F32VactKernel vact_kernel(const char* name) {
  return {name, V::kIsa, 1, kVactVectors * V::kWidth, &activate_buffer<V>};
}

}  // namespace slim::kernels
