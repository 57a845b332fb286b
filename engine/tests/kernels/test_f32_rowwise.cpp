// Softmax and layer normalization rows against double-precision references,
// on the row lengths of the zoo's attention blocks (MobileViT: 64..256 tokens,
// 64..144 channels) and lengths that end in a partial vector.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace slim::kernels::test {
namespace {

std::vector<float> wave(int64_t n, float scale, float offset) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = offset + scale * std::sin(0.37f * static_cast<float>(i) + 0.5f);
  return v;
}

constexpr int64_t kLengths[] = {1, 7, 16, 17, 33, 64, 80, 144, 255, 256};

}  // namespace

KERNEL_TEST(F32Softmax, softmax_matches_reference) {
  for (int64_t n : kLengths) {
    const int64_t rows = 3;
    // Large logits: the max subtraction must keep exp() finite.
    const std::vector<float> x = wave(rows * n, 40.0f, 30.0f);
    std::vector<float> y(x.size() + 1, 12345.0f);
    softmax(kernel, x.data(), y.data(), rows, n);
    std::vector<double> ref(x.size()), tol(x.size(), 1e-7);
    for (int64_t r = 0; r < rows; ++r) {
      double mx = -INFINITY, sum = 0.0;
      for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, x[r * n + i]);
      for (int64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - mx);
      for (int64_t i = 0; i < n; ++i) ref[r * n + i] = std::exp(x[r * n + i] - mx) / sum;
    }
    expect_close("softmax n=" + std::to_string(n), y.data(), ref.data(), tol.data(), rows * n, 1e-5);
    EXPECT_TRUE(y.back() == 12345.0f, "softmax wrote past the last row");
    std::vector<float> z = x;
    softmax(kernel, z.data(), z.data(), rows, n);
    bool same = true;
    for (size_t i = 0; i < z.size(); ++i) same = same && z[i] == y[i];
    EXPECT_TRUE(same, "in-place softmax differs from out of place");
  }
}

KERNEL_TEST(F32Softmax, softmax_nan_row_and_bad_arguments) {
  std::vector<float> x = wave(40, 1.0f, 0.0f);
  x[37] = std::numeric_limits<float>::quiet_NaN();  // in the second row's tail
  std::vector<float> y(40);
  softmax(kernel, x.data(), y.data(), 2, 20);
  bool first_finite = true, second_nan = true;
  for (int i = 0; i < 20; ++i) first_finite = first_finite && std::isfinite(y[i]);
  for (int i = 20; i < 40; ++i) second_nan = second_nan && std::isnan(y[i]);
  EXPECT_TRUE(first_finite && second_nan, "a NaN must turn its own row, and only it, into NaN");
  expect_invalid_argument("negative n", [&] { softmax(kernel, x.data(), y.data(), 1, -1); }, "n must be >= 0");
  expect_invalid_argument("null x", [&] { softmax(kernel, nullptr, y.data(), 1, 4); }, "x is null");
}

KERNEL_TEST(F32LayerNorm, layer_norm_matches_reference) {
  for (int64_t n : kLengths) {
    const int64_t rows = 3;
    // A large mean against a small spread: a one-pass variance would cancel here.
    const std::vector<float> x = wave(rows * n, 0.5f, 10.0f);
    const std::vector<float> gamma = wave(n, 1.0f, 0.2f), beta = wave(n, 0.3f, -0.1f);
    for (bool with_beta : {true, false}) {
      std::vector<float> y(x.size() + 1, 12345.0f), mean(rows), inv(rows);
      layer_norm(kernel, x.data(), y.data(), rows, n, gamma.data(), with_beta ? beta.data() : nullptr, 1e-5f,
                 mean.data(), inv.data());
      std::vector<double> ref(x.size()), tol(x.size(), 2e-5);
      bool stats = true;
      for (int64_t r = 0; r < rows; ++r) {
        double mu = 0.0, var = 0.0;
        for (int64_t i = 0; i < n; ++i) mu += x[r * n + i];
        mu /= static_cast<double>(n);
        for (int64_t i = 0; i < n; ++i) var += (x[r * n + i] - mu) * (x[r * n + i] - mu);
        const double is = 1.0 / std::sqrt(var / static_cast<double>(n) + 1e-5);
        for (int64_t i = 0; i < n; ++i) {
          ref[r * n + i] = (x[r * n + i] - mu) * is * gamma[i] + (with_beta ? beta[i] : 0.0);
        }
        stats = stats && std::fabs(mean[r] - mu) <= 1e-4 && std::fabs(inv[r] - is) <= 1e-3 * is;
      }
      expect_close("layer_norm n=" + std::to_string(n), y.data(), ref.data(), tol.data(), rows * n, 1e-4);
      EXPECT_TRUE(stats, "layer_norm n=" + std::to_string(n) + ": row mean or inverse deviation");
      EXPECT_TRUE(y.back() == 12345.0f, "layer_norm wrote past the last row");
    }
  }
}

KERNEL_TEST(F32LayerNorm, layer_norm_rejects_bad_arguments) {
  float buf[4] = {1, 2, 3, 4};
  expect_invalid_argument("n = 0", [&] { layer_norm(kernel, buf, buf, 1, 0, buf, nullptr, 1e-5f, nullptr, nullptr); },
                          "n must be positive");
  expect_invalid_argument("null gamma", [&] { layer_norm(kernel, buf, buf, 1, 4, nullptr, nullptr, 1e-5f, nullptr, nullptr); },
                          "gamma is null");
}

}  // namespace slim::kernels::test
