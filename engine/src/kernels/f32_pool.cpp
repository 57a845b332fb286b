// Pooling entry points: output geometry and argument checks around the chosen
// pooling variants.
#include <string>

#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {
namespace {

int64_t pooled_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                    int64_t dilation, bool ceil_mode) {
  const int64_t span = in + pad_begin + pad_end - dilation * (kernel - 1) - 1;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // The last window must start inside the image or its leading padding.
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

void check_pool_call(const char* where, const Pool2dShape& s, const float* input, float* output, Range rows) {
  validate(s);
  check_range(where, "rows", rows.begin, rows.end, s.out_rows());
  if (rows.size() == 0) return;
  check_not_null(where, "input", input);
  check_not_null(where, "output", output);
}

// Whether there is work (an empty channel range is none).
bool check_global_pool_call(const char* where, int64_t batch, int64_t pixels, int64_t channels, const float* input,
                            float* output, Range channel_range) {
  check_positive(where, "batch", batch);
  check_positive(where, "pixels", pixels);
  check_positive(where, "channels", channels);
  check_range(where, "channel_range", channel_range.begin, channel_range.end, channels);
  if (channel_range.size() == 0) return false;
  check_not_null(where, "input", input);
  check_not_null(where, "output", output);
  return true;
}

}  // namespace

int64_t Pool2dShape::out_h() const {
  return pooled_size(in_h, pad_top, pad_bottom, kernel_h, stride_h, dilation_h, ceil_mode);
}
int64_t Pool2dShape::out_w() const {
  return pooled_size(in_w, pad_left, pad_right, kernel_w, stride_w, dilation_w, ceil_mode);
}
int64_t Pool2dShape::out_rows() const { return batch * out_h(); }

void validate(const Pool2dShape& s) {
  const char* where = "Pool2dShape";
  check_positive(where, "batch", s.batch);
  check_positive(where, "in_h", s.in_h);
  check_positive(where, "in_w", s.in_w);
  check_positive(where, "channels", s.channels);
  check_positive(where, "kernel_h", s.kernel_h);
  check_positive(where, "kernel_w", s.kernel_w);
  check_positive(where, "stride_h", s.stride_h);
  check_positive(where, "stride_w", s.stride_w);
  check_positive(where, "dilation_h", s.dilation_h);
  check_positive(where, "dilation_w", s.dilation_w);
  check_non_negative(where, "pad_top", s.pad_top);
  check_non_negative(where, "pad_left", s.pad_left);
  check_non_negative(where, "pad_bottom", s.pad_bottom);
  check_non_negative(where, "pad_right", s.pad_right);
  if (s.in_h + s.pad_top + s.pad_bottom < s.dilation_h * (s.kernel_h - 1) + 1) {
    fail_argument(where, "padded input height is smaller than the dilated kernel height");
  }
  if (s.in_w + s.pad_left + s.pad_right < s.dilation_w * (s.kernel_w - 1) + 1) {
    fail_argument(where, "padded input width is smaller than the dilated kernel width");
  }
}

void max_pool2d(const F32MaxPoolKernel& k, const Pool2dShape& s, const float* input, float* output, Range rows) {
  check_pool_call("max_pool2d", s, input, output, rows);
  if (rows.size() > 0) k.fn(s, input, output, rows);
}

void avg_pool2d(const F32AvgPoolKernel& k, const Pool2dShape& s, const float* input, float* output, Range rows) {
  check_pool_call("avg_pool2d", s, input, output, rows);
  if (rows.size() > 0) k.fn(s, input, output, rows);
}

void global_avg_pool(const F32GlobalAvgPoolKernel& k, int64_t batch, int64_t pixels, int64_t channels,
                     const float* input, float* output, Range channel_range) {
  if (check_global_pool_call("global_avg_pool", batch, pixels, channels, input, output, channel_range)) {
    k.fn(batch, pixels, channels, input, output, channel_range);
  }
}

void global_max_pool(const F32GlobalMaxPoolKernel& k, int64_t batch, int64_t pixels, int64_t channels,
                     const float* input, float* output, Range channel_range) {
  if (check_global_pool_call("global_max_pool", batch, pixels, channels, input, output, channel_range)) {
    k.fn(batch, pixels, channels, input, output, channel_range);
  }
}

}  // namespace slim::kernels
