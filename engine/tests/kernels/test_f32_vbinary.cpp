// Elementwise Add/Sub/Mul/Div against the plain C++ expression: IEEE
// single-precision arithmetic is exact to the bit in every variant.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace slim::kernels::test {
namespace {

constexpr BinaryOp kOps[] = {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv};

float reference(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
  }
  return 0.0f;
}

bool same_bits(float x, float y) { return x == y || (std::isnan(x) && std::isnan(y)); }

std::vector<float> ramp(int64_t n, float start, float step) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + step * static_cast<float>(i % 97);
  return v;
}

}  // namespace

KERNEL_TEST(F32Vbinary, binary_matches_reference) {
  // Lengths around every ISA's vector and unrolled-block widths, and the zoo's channel counts.
  for (int64_t n : {1, 3, 15, 16, 17, 31, 63, 64, 65, 96, 255, 1003}) {
    const std::vector<float> a = ramp(n, -3.7f, 0.11f), b = ramp(n + 1, 0.5f, 0.07f);
    for (BinaryOp op : kOps) {
      for (int64_t sa : {0, 1}) {
        for (int64_t sb : {0, 1}) {
          std::vector<float> y(static_cast<size_t>(n) + 1, 12345.0f);
          binary(kernel, op, a.data(), sa, b.data() + 1, sb, y.data(), n);
          bool ok = true;
          for (int64_t i = 0; i < n && ok; ++i) {
            ok = same_bits(y[i], reference(op, a[i * sa], b[1 + i * sb]));
          }
          EXPECT_TRUE(ok, std::string(binary_op_name(op)) + " n=" + std::to_string(n) + " strides " +
                              std::to_string(sa) + "," + std::to_string(sb) + " differs from a (op) b");
          EXPECT_TRUE(y.back() == 12345.0f, "binary wrote past n");
        }
      }
    }
  }
}

KERNEL_TEST(F32Vbinary, binary_in_place_and_nan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a = ramp(37, 1.0f, 0.5f), b = ramp(37, 2.0f, 0.25f);
  a[3] = nan;
  b[36] = nan;
  std::vector<float> want(37);
  for (int i = 0; i < 37; ++i) want[i] = a[i] * b[i];
  binary(kernel, BinaryOp::kMul, a.data(), 1, b.data(), 1, a.data(), 37);  // y aliases a
  bool ok = true;
  for (int i = 0; i < 37; ++i) ok = ok && same_bits(a[i], want[i]);
  EXPECT_TRUE(ok, "in-place Mul differs from out of place");
  EXPECT_TRUE(std::isnan(a[3]) && std::isnan(a[36]), "NaN not propagated");
  const float zero = 0.0f, one = 1.0f;
  float y = 0.0f;
  binary(kernel, BinaryOp::kDiv, &one, 0, &zero, 0, &y, 1);
  EXPECT_TRUE(std::isinf(y) && y > 0, "1 / 0 must be +inf");
}

KERNEL_TEST(F32Vbinary, binary_rejects_bad_arguments) {
  float buf[4] = {0, 0, 0, 0};
  expect_invalid_argument("negative n", [&] { binary(kernel, BinaryOp::kAdd, buf, 1, buf, 1, buf, -1); },
                          "n must be >= 0");
  expect_invalid_argument("stride 2", [&] { binary(kernel, BinaryOp::kAdd, buf, 2, buf, 1, buf, 2); },
                          "strides must be 0");
  expect_invalid_argument("null y", [&] { binary(kernel, BinaryOp::kAdd, buf, 1, buf, 1, nullptr, 4); },
                          "y is null");
}

}  // namespace slim::kernels::test
