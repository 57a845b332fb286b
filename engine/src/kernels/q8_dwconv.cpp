// int8 depthwise convolution entry points: weight packing (with the column
// sums the caller folds the input zero point with) and argument checks around
// the chosen q8_dwconv variant.
#include <string>

#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {
namespace {

// kh * kw * 255 * 128 < 2^24 up to 514 taps: the fp32 sum stays exact.
constexpr int64_t kMaxTaps = 514;

void check_q8_depthwise(const char* where, const Conv2dShape& s) {
  validate(s);
  if (!s.is_depthwise()) {
    fail_argument(where, "shape is not depthwise: groups " + std::to_string(s.groups) + ", in_c " +
                             std::to_string(s.in_c) + ", out_c " + std::to_string(s.out_c) + " must be equal");
  }
  if (s.kernel_h * s.kernel_w > kMaxTaps) {
    fail_argument(where, "kernel " + std::to_string(s.kernel_h) + "x" + std::to_string(s.kernel_w) + " has more than " +
                             std::to_string(kMaxTaps) + " taps (the fp32 sum would not be exact)");
  }
}

}  // namespace

int64_t q8_depthwise_packed_weight_bytes(const Conv2dShape& s) {
  check_q8_depthwise("q8_depthwise_packed_weight_bytes", s);
  return s.kernel_h * s.kernel_w * s.in_c;
}

void q8_depthwise_pack_weights(const Conv2dShape& s, const int8_t* w_oihw, int8_t* packed, int32_t* col_sums) {
  const char* where = "q8_depthwise_pack_weights";
  check_q8_depthwise(where, s);
  check_not_null(where, "w_oihw", w_oihw);
  check_not_null(where, "packed", packed);
  const int64_t taps = s.kernel_h * s.kernel_w;
  for (int64_t c = 0; c < s.in_c; ++c) {
    int32_t sum = 0;
    for (int64_t t = 0; t < taps; ++t) {
      packed[t * s.in_c + c] = w_oihw[c * taps + t];
      sum += w_oihw[c * taps + t];
    }
    if (col_sums != nullptr) col_sums[c] = sum;
  }
}

void q8_depthwise_conv2d(const Q8DwconvKernel& k, const Conv2dShape& s, const uint8_t* input, uint8_t pad_value,
                         const int8_t* packed_w, uint8_t* output, const QEpilogue& ep, Range rows) {
  const char* where = "q8_depthwise_conv2d";
  check_q8_depthwise(where, s);
  check_range(where, "rows", rows.begin, rows.end, s.out_rows());
  if (rows.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "packed_w", packed_w);
  check_not_null(where, "output", output);
  check_not_null(where, "ep.scale", ep.scale);
  if (ep.f32_output) fail_argument(where, "ep.f32_output: a depthwise convolution writes uint8");
  if (ep.qmin < 0 || ep.qmin > ep.qmax || ep.qmax > 255) {
    fail_argument(where, "ep.qmin " + std::to_string(ep.qmin) + " / ep.qmax " + std::to_string(ep.qmax) +
                             " must satisfy 0 <= qmin <= qmax <= 255");
  }
  if (ep.zero_point < 0 || ep.zero_point > 255) {
    fail_argument(where, "ep.zero_point " + std::to_string(ep.zero_point) + " is not a uint8 value");
  }
  k.fn(s, input, pad_value, packed_w, output, ep, rows);
}

}  // namespace slim::kernels
