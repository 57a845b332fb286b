// Entry points of the elementwise int8 kernels: argument checks around the chosen variants.
#include <string>

#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {
namespace {

bool check_binary(const char* where, const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride,
                  const uint8_t* y, int64_t n) {
  check_non_negative(where, "n", n);
  if (b_stride != 0 && b_stride != 1) {
    fail_argument(where, "b_stride " + std::to_string(b_stride) + " must be 0 (broadcast b[0]) or 1");
  }
  if (p.qmin < 0 || p.qmin > p.qmax || p.qmax > 255) {
    fail_argument(where, "qmin " + std::to_string(p.qmin) + " / qmax " + std::to_string(p.qmax) +
                             " must satisfy 0 <= qmin <= qmax <= 255");
  }
  if (p.a_zp < 0 || p.a_zp > 255 || p.b_zp < 0 || p.b_zp > 255 || p.y_zp < 0 || p.y_zp > 255) {
    fail_argument(where, "zero points a_zp " + std::to_string(p.a_zp) + " / b_zp " + std::to_string(p.b_zp) +
                             " / y_zp " + std::to_string(p.y_zp) + " must be uint8 values");
  }
  if (n == 0) return false;
  check_not_null(where, "a", a);
  check_not_null(where, "b", b);
  check_not_null(where, "y", y);
  return true;
}

bool check_unary(const char* where, const void* x, const void* y, int64_t n) {
  check_non_negative(where, "n", n);
  if (n == 0) return false;
  check_not_null(where, "x", x);
  check_not_null(where, "y", y);
  return true;
}

void check_zero_point(const char* where, int32_t zero_point) {
  if (zero_point < 0 || zero_point > 255) {
    fail_argument(where, "zero_point " + std::to_string(zero_point) + " is not a uint8 value");
  }
}

}  // namespace

void q8_add(const Q8AddKernel& k, const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride,
            uint8_t* y, int64_t n) {
  if (check_binary("q8_add", p, a, b, b_stride, y, n)) k.fn(p, a, b, b_stride, y, n);
}

void q8_mul(const Q8MulKernel& k, const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride,
            uint8_t* y, int64_t n) {
  if (check_binary("q8_mul", p, a, b, b_stride, y, n)) k.fn(p, a, b, b_stride, y, n);
}

void q8_quantize(const Q8QuantizeKernel& k, const float* x, float scale, int32_t zero_point, uint8_t* y, int64_t n) {
  check_zero_point("q8_quantize", zero_point);
  if (check_unary("q8_quantize", x, y, n)) k.fn(x, scale, zero_point, y, n);
}

void q8_dequantize(const Q8DequantizeKernel& k, const uint8_t* x, float scale, int32_t zero_point, float* y,
                   int64_t n) {
  check_zero_point("q8_dequantize", zero_point);
  if (check_unary("q8_dequantize", x, y, n)) k.fn(x, scale, zero_point, y, n);
}

void q8_lookup(const Q8LookupKernel& k, const uint8_t* table, const uint8_t* x, uint8_t* y, int64_t n) {
  check_not_null("q8_lookup", "table", table);
  if (check_unary("q8_lookup", x, y, n)) k.fn(table, x, y, n);
}

}  // namespace slim::kernels
