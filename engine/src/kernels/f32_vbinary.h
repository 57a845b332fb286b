// The f32_vbinary kernel: y = a (op) b over a buffer, either operand possibly
// one broadcast scalar, generic over vector traits V. Include only from a
// per-ISA translation unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/simd/math.h"

namespace slim::kernels {

template <class V, BinaryOp Op>
inline typename V::reg apply_binary(typename V::reg a, typename V::reg b) {
  if constexpr (Op == BinaryOp::kAdd) return V::add(a, b);
  else if constexpr (Op == BinaryOp::kSub) return V::sub(a, b);
  else if constexpr (Op == BinaryOp::kMul) return V::mul(a, b);
  else return V::div(a, b);
}

// Vectors per loop step: enough independent loads and stores in flight to
// keep a memory-bound loop at the cache's bandwidth.
constexpr int kVbinaryVectors = 4;

// kA / kB: the operand walks the buffer (true) or is one broadcast value (false).
template <class V, BinaryOp Op, bool kA, bool kB>
void binary_buffer(const float* a, const float* b, float* y, int64_t n) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  constexpr int kBlock = kVbinaryVectors;
  const R a0 = kA ? V::zero() : V::set1(a[0]);
  const R b0 = kB ? V::zero() : V::set1(b[0]);
  int64_t i = 0;
  for (; i + kBlock * W <= n; i += kBlock * W) {
    R v[kBlock];
    SLIM_UNROLL for (int j = 0; j < kBlock; ++j) {
      v[j] = apply_binary<V, Op>(kA ? V::load(a + i + j * W) : a0, kB ? V::load(b + i + j * W) : b0);
    }
    SLIM_UNROLL for (int j = 0; j < kBlock; ++j) V::store(y + i + j * W, v[j]);
  }
  for (; i < n; i += W) {
    const int left = static_cast<int>(n - i < W ? n - i : W);
    const R va = kA ? V::load_partial(a + i, left) : a0;
    const R vb = kB ? V::load_partial(b + i, left) : b0;
    V::store_partial(y + i, apply_binary<V, Op>(va, vb), left);
  }
}

template <class V, BinaryOp Op>
void binary_op(const float* a, int64_t a_stride, const float* b, int64_t b_stride, float* y, int64_t n) {
  if (a_stride != 0 && b_stride != 0) return binary_buffer<V, Op, true, true>(a, b, y, n);
  if (a_stride != 0) return binary_buffer<V, Op, true, false>(a, b, y, n);
  if (b_stride != 0) return binary_buffer<V, Op, false, true>(a, b, y, n);
  return binary_buffer<V, Op, false, false>(a, b, y, n);
}

template <class V>
void binary(BinaryOp op, const float* a, int64_t a_stride, const float* b, int64_t b_stride, float* y, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd: return binary_op<V, BinaryOp::kAdd>(a, a_stride, b, b_stride, y, n);
    case BinaryOp::kSub: return binary_op<V, BinaryOp::kSub>(a, a_stride, b, b_stride, y, n);
    case BinaryOp::kMul: return binary_op<V, BinaryOp::kMul>(a, a_stride, b, b_stride, y, n);
    case BinaryOp::kDiv: return binary_op<V, BinaryOp::kDiv>(a, a_stride, b, b_stride, y, n);
  }
}

template <class V>
constexpr F32VbinaryKernel vbinary_kernel(const char* name) {
  return {name, V::kIsa, 1, kVbinaryVectors * V::kWidth, &binary<V>};
}

}  // namespace slim::kernels
