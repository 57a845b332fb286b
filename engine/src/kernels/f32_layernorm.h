// The f32_layernorm kernel: layer normalization of one contiguous row,
// generic over vector traits V. Include only from a per-ISA translation
// unit, after its traits header.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/simd/math.h"

namespace slim::kernels {

// y = (x - mean) / sqrt(var + eps) * gamma + beta over n floats (beta may be
// null); the row's mean and 1 / sqrt(var + eps) go to *mean and *inv_std.
// Two passes (mean, then the centred squares), as ONNX Runtime computes it:
// the one-pass E[x^2] - E[x]^2 cancels badly on rows with a large mean.
template <class V>
void layernorm_row(const float* x, float* y, int64_t n, const float* gamma, const float* beta, float eps,
                   float* mean, float* inv_std) {
  using R = typename V::reg;
  constexpr int W = V::kWidth;
  R acc = V::zero();
  int64_t i = 0;
  for (; i + W <= n; i += W) acc = V::add(acc, V::load(x + i));
  float sum = hsum<V>(acc);
  for (; i < n; ++i) sum += x[i];
  const float mu = sum / static_cast<float>(n);
  const R m = V::set1(mu);
  acc = V::zero();
  for (i = 0; i + W <= n; i += W) {
    const R d = V::sub(V::load(x + i), m);
    acc = V::fmadd(d, d, acc);
  }
  float sq = hsum<V>(acc);
  for (; i < n; ++i) sq += (x[i] - mu) * (x[i] - mu);
  const float inv = 1.0f / std::sqrt(sq / static_cast<float>(n) + eps);
  const R vinv = V::set1(inv);
  for (i = 0; i < n; i += W) {
    const int left = static_cast<int>(n - i < W ? n - i : W);
    const R g = V::load_partial(gamma + i, left);
    const R b = beta == nullptr ? V::zero() : V::load_partial(beta + i, left);
    const R v = V::fmadd(V::mul(V::sub(V::load_partial(x + i, left), m), vinv), g, b);
    V::store_partial(y + i, v, left);
  }
  *mean = mu;
  *inv_std = inv;
}

template <class V>
constexpr F32LayerNormKernel layernorm_kernel(const char* name) {
  return {name, V::kIsa, 1, V::kWidth, &layernorm_row<V>};
}

}  // namespace slim::kernels
