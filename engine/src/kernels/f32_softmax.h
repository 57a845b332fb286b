// The f32_softmax kernel: softmax over one contiguous row (the attention
// case), generic over vector traits V. Include only from a per-ISA
// translation unit, after its traits header.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/simd/math.h"

namespace slim::kernels {

// y = exp(x - max(x)) / sum(exp(x - max(x))) over n floats; y may equal x.
// A NaN anywhere in the row gives a row of NaN, as in ONNX Runtime.
template <class V>
void softmax_row(const float* x, float* y, int64_t n) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  R vmax = V::set1(-__builtin_inff());
  int64_t i = 0;
  for (; i + W <= n; i += W) vmax = V::max_nan(V::load(x + i), vmax);
  float mx = hmax<V>(vmax);
  for (; i < n; ++i) mx = (x[i] > mx || x[i] != x[i]) ? x[i] : mx;
  const R m = V::set1(mx);
  // Four vectors per step with their own sums: the exponential is a long
  // dependency chain, and one vector at a time left the core waiting on it.
  R s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
  for (i = 0; i + 4 * W <= n; i += 4 * W) {
    const R e0 = vexp_nonpositive<V>(V::sub(V::load(x + i), m));
    const R e1 = vexp_nonpositive<V>(V::sub(V::load(x + i + W), m));
    const R e2 = vexp_nonpositive<V>(V::sub(V::load(x + i + 2 * W), m));
    const R e3 = vexp_nonpositive<V>(V::sub(V::load(x + i + 3 * W), m));
    V::store(y + i, e0);
    V::store(y + i + W, e1);
    V::store(y + i + 2 * W, e2);
    V::store(y + i + 3 * W, e3);
    s0 = V::add(s0, e0);
    s1 = V::add(s1, e1);
    s2 = V::add(s2, e2);
    s3 = V::add(s3, e3);
  }
  R vsum = V::add(V::add(s0, s1), V::add(s2, s3));
  for (; i + W <= n; i += W) {
    const R e = vexp_nonpositive<V>(V::sub(V::load(x + i), m));
    V::store(y + i, e);
    vsum = V::add(vsum, e);
  }
  if (i < n) {
    const int left = static_cast<int>(n - i);
    // Masked-off lanes load 0 and would add exp(0 - max): zero them after the exp.
    const R e = vexp_nonpositive<V>(V::sub(V::load_partial(x + i, left), m));
    V::store_partial(y + i, e, left);
    float tail[W];
    V::store(tail, e);
    for (int l = left; l < W; ++l) tail[l] = 0.0f;
    vsum = V::add(vsum, V::load(tail));
  }
  const R inv = V::set1(1.0f / hsum<V>(vsum));
  for (i = 0; i + W <= n; i += W) V::store(y + i, V::mul(V::load(y + i), inv));
  if (i < n) {
    const int left = static_cast<int>(n - i);
    V::store_partial(y + i, V::mul(V::load_partial(y + i, left), inv), left);
  }
}

template <class V>
constexpr F32SoftmaxKernel softmax_kernel(const char* name) {
  return {name, V::kIsa, 1, V::kWidth, &softmax_row<V>};
}

}  // namespace slim::kernels
