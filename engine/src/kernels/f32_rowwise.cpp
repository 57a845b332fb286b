// Row-wise entry points (softmax, layer normalization): argument checks around
// the chosen f32_softmax and f32_layernorm variants.
#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {

void softmax(const F32SoftmaxKernel& k, const float* x, float* y, int64_t rows, int64_t n) {
  check_non_negative("softmax", "rows", rows);
  check_non_negative("softmax", "n", n);
  if (rows == 0 || n == 0) return;
  check_not_null("softmax", "x", x);
  check_not_null("softmax", "y", y);
  for (int64_t r = 0; r < rows; ++r) k.fn(x + r * n, y + r * n, n);
}

void layer_norm(const F32LayerNormKernel& k, const float* x, float* y, int64_t rows, int64_t n, const float* gamma,
                const float* beta, float eps, float* mean, float* inv_std) {
  check_non_negative("layer_norm", "rows", rows);
  if (rows == 0) return;
  check_positive("layer_norm", "n", n);
  check_not_null("layer_norm", "x", x);
  check_not_null("layer_norm", "y", y);
  check_not_null("layer_norm", "gamma", gamma);
  for (int64_t r = 0; r < rows; ++r) {
    float m = 0.0f, inv = 0.0f;
    k.fn(x + r * n, y + r * n, n, gamma, beta, eps, &m, &inv);
    if (mean != nullptr) mean[r] = m;
    if (inv_std != nullptr) inv_std[r] = inv;
  }
}

}  // namespace slim::kernels
