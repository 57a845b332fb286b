// Depthwise convolution entry points: weight packing and argument checks
// around the chosen f32_dwconv variant.
#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {
namespace {

void check_depthwise(const char* where, const Conv2dShape& s) {
  validate(s);
  if (!s.is_depthwise()) {
    fail_argument(where, "shape is not depthwise: groups " + std::to_string(s.groups) + ", in_c " +
                             std::to_string(s.in_c) + ", out_c " + std::to_string(s.out_c) + " must be equal");
  }
}

}  // namespace

int64_t depthwise_packed_weight_floats(const Conv2dShape& s) {
  check_depthwise("depthwise_packed_weight_floats", s);
  return s.kernel_h * s.kernel_w * s.in_c;
}

void depthwise_pack_weights(const Conv2dShape& s, const float* w_oihw, float* packed) {
  check_depthwise("depthwise_pack_weights", s);
  check_not_null("depthwise_pack_weights", "w_oihw", w_oihw);
  check_not_null("depthwise_pack_weights", "packed", packed);
  const int64_t taps = s.kernel_h * s.kernel_w;
  // [C, 1, KH, KW] -> [KH, KW, C]: channels contiguous, as the NHWC input.
  for (int64_t c = 0; c < s.in_c; ++c) {
    for (int64_t t = 0; t < taps; ++t) packed[t * s.in_c + c] = w_oihw[c * taps + t];
  }
}

void depthwise_conv2d(const F32DwconvKernel& k, const Conv2dShape& s, const float* input, const float* packed_w,
                      float* output, const Epilogue& ep, Range rows) {
  const char* where = "depthwise_conv2d";
  check_depthwise(where, s);
  check_range(where, "rows", rows.begin, rows.end, s.out_rows());
  if (rows.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "packed_w", packed_w);
  check_not_null(where, "output", output);
  k.fn(s, input, packed_w, output, ep, rows);
}

}  // namespace slim::kernels
