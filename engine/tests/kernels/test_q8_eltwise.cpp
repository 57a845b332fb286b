// q8_add, q8_mul, q8_quantize, q8_dequantize, q8_lookup: every variant
// bit-exact against the scalar reference, and the scalar reference against
// QUANTIZED.md's formulas written here.
#include <cmath>
#include <limits>
#include <vector>

#include "test_q8_util.h"

namespace slim::kernels::test {
namespace {

const int64_t kSizes[] = {1, 7, 16, 31, 64, 65, 1000, 4099};

QBinaryParams random_params(std::mt19937& rng, bool add) {
  QBinaryParams p;
  p.a_zp = random_int(rng, 0, 255);
  p.b_zp = random_int(rng, 0, 255);
  p.y_zp = random_int(rng, 0, 255);
  p.a_multiplier = add ? random_float(rng, 0.1f, 2.0f) : random_float(rng, 0.001f, 0.05f);
  p.b_multiplier = random_float(rng, 0.1f, 2.0f);
  if (random_int(rng, 0, 1) == 1) {
    p.qmin = random_int(rng, 0, 100);
    p.qmax = random_int(rng, 150, 255);
  }
  return p;
}

int32_t clamp_round(float f, int32_t zp, int32_t qmin, int32_t qmax) {
  double r = std::nearbyint(static_cast<double>(f)) + zp;
  return static_cast<int32_t>(r < qmin ? qmin : (r > qmax ? qmax : r));
}

uint8_t reference_add(const QBinaryParams& p, int a, int b) {
  const float fa = static_cast<float>(a - p.a_zp) * p.a_multiplier;
  const float fb = static_cast<float>(b - p.b_zp) * p.b_multiplier;
  return static_cast<uint8_t>(clamp_round(fa + fb, p.y_zp, p.qmin, p.qmax));
}

uint8_t reference_mul(const QBinaryParams& p, int a, int b) {
  return static_cast<uint8_t>(
      clamp_round(static_cast<float>((a - p.a_zp) * (b - p.b_zp)) * p.a_multiplier, p.y_zp, p.qmin, p.qmax));
}

template <class K, class Ref>
void check_binary(const K& kernel, const K& scalar, bool add, Ref ref, uint32_t seed) {
  std::mt19937 rng(seed);
  const auto run_op = [&](const K& k, const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t stride,
                          uint8_t* y, int64_t n) {
    if constexpr (K::family == Family::kQ8Add) {
      q8_add(k, p, a, b, stride, y, n);
    } else {
      q8_mul(k, p, a, b, stride, y, n);
    }
  };
  for (const int64_t n : kSizes) {
    for (const int64_t stride : {int64_t{1}, int64_t{0}}) {
      const QBinaryParams p = random_params(rng, add);
      const std::vector<uint8_t> a = random_u8(rng, n), b = random_u8(rng, n);
      std::vector<uint8_t> got(static_cast<size_t>(n), 0xA5), want(got);
      run_op(kernel, p, a.data(), b.data(), stride, got.data(), n);
      run_op(scalar, p, a.data(), b.data(), stride, want.data(), n);
      const std::string what = "n=" + std::to_string(n) + " b_stride=" + std::to_string(stride);
      expect_equal(std::string(kernel.name) + " vs scalar " + what, got, want);
      if (&kernel == &scalar) {
        std::vector<uint8_t> formula(got.size());
        for (int64_t i = 0; i < n; ++i) formula[static_cast<size_t>(i)] = ref(p, a[static_cast<size_t>(i)], b[static_cast<size_t>(stride * i)]);
        expect_equal("scalar vs formula " + what, got, formula);
      }
      // In place (y == a) gives the same.
      std::vector<uint8_t> inplace = a;
      run_op(kernel, p, inplace.data(), b.data(), stride, inplace.data(), n);
      expect_equal(std::string(kernel.name) + " in place " + what, inplace, want);
    }
  }
}

}  // namespace

KERNEL_TEST(Q8Add, q8_add_matches_reference) {
  check_binary(kernel, q8_add_u1_scalar, true, reference_add, 11);
  // Ties: multipliers 0.5 and 0, odd (a - a_zp): x.5 rounds to even.
  QBinaryParams p;
  p.a_multiplier = 0.5f;
  p.b_multiplier = 0.0f;
  p.a_zp = 100;
  p.y_zp = 50;
  std::vector<uint8_t> a(64), b(64, 0), y(64);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(90 + i);
  q8_add(kernel, p, a.data(), b.data(), 1, y.data(), 64);
  for (size_t i = 0; i < a.size(); ++i) {
    const double half = (static_cast<double>(a[i]) - 100) / 2;
    EXPECT_TRUE(y[i] == static_cast<uint8_t>(50 + std::nearbyint(half)), "tie at a = " + std::to_string(a[i]));
  }
  EXPECT_TRUE(y[11] == 50 && y[13] == 52 && y[9] == 50 && y[7] == 48, "0.5 -> 0, 1.5 -> 2, -0.5 -> 0, -1.5 -> -2");
  expect_invalid_argument("b_stride", [&] { q8_add(kernel, p, a.data(), b.data(), 2, y.data(), 4); }, "b_stride");
}

KERNEL_TEST(Q8Mul, q8_mul_matches_reference) {
  check_binary(kernel, q8_mul_u1_scalar, false, reference_mul, 12);
  QBinaryParams p;
  p.a_multiplier = 0.5f;
  p.y_zp = 100;
  const std::vector<uint8_t> a = {1, 3, 5, 7, 255, 255, 0, 9}, b = {1, 1, 1, 1, 255, 1, 0, 1};
  std::vector<uint8_t> y(8);
  q8_mul(kernel, p, a.data(), b.data(), 1, y.data(), 8);
  const std::vector<uint8_t> want = {100, 102, 102, 104, 255, 228, 100, 104};
  expect_equal("mul ties and saturation", y, want);
}

KERNEL_TEST(Q8Quantize, q8_quantize_matches_reference) {
  std::mt19937 rng(13);
  for (const int64_t n : kSizes) {
    const float scale = random_float(rng, 0.001f, 0.1f);
    const int32_t zp = random_int(rng, 0, 255);
    std::vector<float> x = random_floats(rng, n, -20.0f * scale * 128, 20.0f * scale * 128);
    const float inf = std::numeric_limits<float>::infinity();
    const float specials[] = {std::nanf(""), inf, -inf, 0.0f, -0.0f, 2.5f * scale, -2.5f * scale, 3.5f * scale};
    for (size_t i = 0; i < x.size() && i < 8; ++i) x[i * 3 % x.size()] = specials[i];
    std::vector<uint8_t> got(static_cast<size_t>(n), 0xA5), want(got);
    q8_quantize(kernel, x.data(), scale, zp, got.data(), n);
    q8_quantize(q8_quantize_u1_scalar, x.data(), scale, zp, want.data(), n);
    expect_equal(std::string(kernel.name) + " vs scalar n=" + std::to_string(n), got, want);
    if (&kernel == &q8_quantize_u1_scalar) {
      std::vector<uint8_t> formula(got.size());
      for (int64_t i = 0; i < n; ++i) {
        const float q = x[static_cast<size_t>(i)] / scale;
        formula[static_cast<size_t>(i)] = std::isnan(q) ? static_cast<uint8_t>(zp)
                                                        : static_cast<uint8_t>(clamp_round(q, zp, 0, 255));
      }
      expect_equal("scalar vs formula n=" + std::to_string(n), got, formula);
    }
  }
  // Explicit: ties to even, NaN -> zero point, saturation, fp32 division (not a multiply by 1 / scale).
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, std::nanf(""), 1e30f, -1e30f, 300.0f, -300.0f};
  std::vector<uint8_t> y(x.size());
  q8_quantize(kernel, x.data(), 1.0f, 128, y.data(), static_cast<int64_t>(x.size()));
  const std::vector<uint8_t> want = {128, 130, 130, 128, 126, 128, 255, 0, 255, 0};
  expect_equal("quantize specials", y, want);
  expect_invalid_argument("zero point", [&] { q8_quantize(kernel, x.data(), 1.0f, 256, y.data(), 1); }, "zero_point");
}

KERNEL_TEST(Q8Dequantize, q8_dequantize_matches_reference) {
  std::mt19937 rng(14);
  for (const int64_t n : kSizes) {
    const float scale = random_float(rng, 0.001f, 0.1f);
    const int32_t zp = random_int(rng, 0, 255);
    const std::vector<uint8_t> x = random_u8(rng, n);
    std::vector<float> got(static_cast<size_t>(n), -1.0f), want(got), formula(got);
    q8_dequantize(kernel, x.data(), scale, zp, got.data(), n);
    q8_dequantize(q8_dequantize_u1_scalar, x.data(), scale, zp, want.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      formula[static_cast<size_t>(i)] = static_cast<float>(x[static_cast<size_t>(i)] - zp) * scale;
    }
    expect_equal(std::string(kernel.name) + " vs formula n=" + std::to_string(n), got, formula);
    expect_equal(std::string(kernel.name) + " vs scalar n=" + std::to_string(n), got, want);
  }
}

KERNEL_TEST(Q8Lookup, q8_lookup_matches_reference) {
  std::mt19937 rng(15);
  const std::vector<uint8_t> table = random_u8(rng, 256);
  for (const int64_t n : kSizes) {
    const std::vector<uint8_t> x = random_u8(rng, n);
    std::vector<uint8_t> got(static_cast<size_t>(n)), want(got);
    q8_lookup(kernel, table.data(), x.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) want[static_cast<size_t>(i)] = table[x[static_cast<size_t>(i)]];
    expect_equal(std::string(kernel.name) + " n=" + std::to_string(n), got, want);
  }
  expect_invalid_argument("null table", [&] {
    uint8_t b = 0;
    q8_lookup(kernel, nullptr, &b, &b, 1);
  }, "table");
}

}  // namespace slim::kernels::test
