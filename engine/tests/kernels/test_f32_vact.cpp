// Vectorized activations against double-precision std:: math.
#include <cmath>
#include <limits>
#include <vector>

#include "test_util.h"

namespace slim::kernels::test {
namespace {

// A dense grid over [lo, hi] plus values where approximations switch branch
// or lose precision. Length 1003 so every ISA hits a partial vector at the end.
std::vector<float> probe_inputs(float lo, float hi) {
  std::vector<float> x;
  const int n = 960;
  for (int i = 0; i < n; ++i) x.push_back(lo + (hi - lo) * static_cast<float>(i) / (n - 1));
  for (float v : {0.0f, 1e-7f, -1e-7f, 1e-4f, -1e-4f, 0.4999f, 0.5f, 0.5001f, 0.6249f, 0.625f, 0.6251f, -0.625f,
                  3.0f, -3.0f, 2.5e-3f, -2.5e-3f}) {
    x.push_back(v);
  }
  while (x.size() < 1003) x.push_back(0.25f * static_cast<float>(x.size() % 7) - 0.8f);
  return x;
}

void check_activation(const F32VactKernel& kernel, const Activation& act, float lo, float hi, double rtol, double atol) {
  const std::vector<float> x = probe_inputs(lo, hi);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(x.size() + 1, 12345.0f);  // one guard element past the end
  activation(kernel, act, x.data(), y.data(), n);
  std::vector<double> ref(x.size()), tol(x.size(), atol);
  for (size_t i = 0; i < x.size(); ++i) ref[i] = reference_activation(act, x[i]);
  expect_close(std::string(act_name(act.kind)), y.data(), ref.data(), tol.data(), n, rtol);
  EXPECT_TRUE(y.back() == 12345.0f, "activation wrote past n");

  // In place must give the same bits as out of place.
  std::vector<float> z = x;
  activation(kernel, act, z.data(), z.data(), n);
  bool same = true;
  for (int64_t i = 0; i < n; ++i) same = same && (z[i] == y[i] || (std::isnan(z[i]) && std::isnan(y[i])));
  EXPECT_TRUE(same, std::string(act_name(act.kind)) + " in place differs from out of place");
}

}  // namespace

KERNEL_TEST(F32Vact, activation_piecewise_linear) {
  for (const Activation& act : {Activation::none(), Activation::relu(), Activation::clip(-1.5f, 2.0f),
                                Activation::leaky_relu(0.2f), Activation::hard_sigmoid(0.25f, 0.4f),
                                Activation::hard_swish()}) {
    check_activation(kernel, act, -8.0f, 8.0f, 1e-6, 1e-7);
  }
}

KERNEL_TEST(F32Vact, activation_transcendental) {
  check_activation(kernel, Activation::sigmoid(), -30.0f, 30.0f, 1e-5, 1e-7);
  check_activation(kernel, Activation::silu(), -30.0f, 30.0f, 1e-5, 1e-6);
  check_activation(kernel, Activation::tanh(), -12.0f, 12.0f, 1e-5, 1e-7);
  check_activation(kernel, Activation::gelu(), -10.0f, 10.0f, 1e-5, 1e-6);
  check_activation(kernel, Activation::gelu_tanh(), -10.0f, 10.0f, 1e-5, 1e-6);
  check_activation(kernel, Activation::exp(), -87.0f, 88.5f, 1e-5, 0.0);
  // Gradual underflow: denormal results to within a few of their (coarse) ulps.
  check_activation(kernel, Activation::exp(), -103.0f, -87.5f, 1e-3, 1e-44);
}

KERNEL_TEST(F32Vact, activation_erf_abs_error_below_1e6) {
  // The Gelu epilogue relies on this bound (max abs error vs std::erf < 1e-6).
  std::vector<float> x;
  for (int i = -60000; i <= 60000; ++i) x.push_back(static_cast<float>(i) * 1e-4f);
  std::vector<float> y(x.size());
  activation(kernel, Activation::erf(), x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::fmax(worst, std::fabs(static_cast<double>(y[i]) - std::erf(static_cast<double>(x[i]))));
  }
  EXPECT_TRUE(worst < 1e-6, "erf max abs error " + std::to_string(worst));
  // Relative accuracy near zero, where a 1 - q formula would cancel.
  check_activation(kernel, Activation::erf(), -0.01f, 0.01f, 1e-5, 0.0);
}

KERNEL_TEST(F32Vact, activation_propagates_nan_and_saturates_at_infinity) {
  // NaN in -> NaN out for every activation (a NaN in a model's output must not be hidden).
  std::vector<Activation> acts = epilogue_activations();
  acts.push_back(Activation::exp());
  acts.push_back(Activation::erf());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const Activation& act : acts) {
    std::vector<float> x(37, 0.5f);  // NaN both in a full vector and in the tail
    x[3] = nan;
    x[36] = nan;
    std::vector<float> y(x.size());
    activation(kernel, act, x.data(), y.data(), static_cast<int64_t>(x.size()));
    EXPECT_TRUE(std::isnan(y[3]) && std::isnan(y[36]), std::string(act_name(act.kind)) + " swallowed NaN");
  }
  const std::vector<float> x = {inf, -inf};
  std::vector<float> y(2);
  activation(kernel, Activation::relu(), x.data(), y.data(), 2);
  EXPECT_TRUE(y[0] == inf && y[1] == 0.0f, "relu(+-inf)");
  activation(kernel, Activation::sigmoid(), x.data(), y.data(), 2);
  EXPECT_TRUE(y[0] == 1.0f && y[1] >= 0.0f && y[1] < 1e-30f, "sigmoid(+-inf)");
  activation(kernel, Activation::tanh(), x.data(), y.data(), 2);
  EXPECT_TRUE(y[0] == 1.0f && y[1] == -1.0f, "tanh(+-inf)");
  activation(kernel, Activation::erf(), x.data(), y.data(), 2);
  EXPECT_TRUE(y[0] == 1.0f && y[1] == -1.0f, "erf(+-inf)");
  activation(kernel, Activation::exp(), x.data(), y.data(), 2);
  EXPECT_TRUE(y[0] == inf && y[1] == 0.0f, "exp(+-inf)");
  const std::vector<float> big = {88.8f, 200.0f, -110.0f};
  std::vector<float> e(3);
  activation(kernel, Activation::exp(), big.data(), e.data(), 3);
  EXPECT_TRUE(e[0] == inf && e[1] == inf && e[2] == 0.0f, "exp overflow to inf / underflow to 0");
}

KERNEL_TEST(F32Vact, activation_rejects_bad_arguments) {
  float buf[4] = {0, 0, 0, 0};
  expect_invalid_argument("negative n", [&] { activation(kernel, Activation::relu(), buf, buf, -1); }, "n must be >= 0");
  expect_invalid_argument("null x", [&] { activation(kernel, Activation::relu(), nullptr, buf, 4); }, "x is null");
}

}  // namespace slim::kernels::test
