// int8 pooling entry points: argument checks around the chosen q8_maxpool and q8_gavgpool variants.
#include <string>

#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {

void q8_max_pool2d(const Q8MaxPoolKernel& k, const Pool2dShape& s, const uint8_t* input, uint8_t* output,
                   Range rows) {
  const char* where = "q8_max_pool2d";
  validate(s);
  check_range(where, "rows", rows.begin, rows.end, s.out_rows());
  if (rows.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "output", output);
  k.fn(s, input, output, rows);
}

void q8_global_avg_pool(const Q8GlobalAvgPoolKernel& k, int64_t batch, int64_t pixels, int64_t channels,
                        const uint8_t* input, const QGlobalAvgPoolParams& p, uint8_t* output, Range channel_range) {
  const char* where = "q8_global_avg_pool";
  check_positive(where, "batch", batch);
  check_positive(where, "pixels", pixels);
  check_positive(where, "channels", channels);
  check_range(where, "channel_range", channel_range.begin, channel_range.end, channels);
  // The int32 sum of `pixels` bytes, less pixels * x_zp, must not overflow.
  constexpr int64_t kMaxPixels = 8421504;  // 2^31 / 255
  if (pixels > kMaxPixels) {
    fail_argument(where, "pixels " + std::to_string(pixels) + " > " + std::to_string(kMaxPixels) + " may overflow int32");
  }
  if (p.x_zp < 0 || p.x_zp > 255 || p.y_zp < 0 || p.y_zp > 255) {
    fail_argument(where, "zero points x_zp " + std::to_string(p.x_zp) + " / y_zp " + std::to_string(p.y_zp) +
                             " must be uint8 values");
  }
  if (channel_range.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "output", output);
  k.fn(batch, pixels, channels, input, p, output, channel_range);
}

}  // namespace slim::kernels
