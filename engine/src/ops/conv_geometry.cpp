// Conv and QLinearConv read the same attributes and weight shape into the kernels' Conv2dShape.
#include "ops/conv_geometry.h"

#include <algorithm>
#include <string>

#include "ops/common.h"

namespace slim {

AutoPad read_auto_pad(const Attributes& attrs) {
  const std::string s = enum_attr(attrs, "auto_pad", "NOTSET", {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"});
  if (s == "VALID") return AutoPad::kValid;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  return AutoPad::kNotSet;
}

// The attributes and weight shape [M, C / group, kh, kw] as a Conv2dShape; the
// input size is a placeholder (the smallest image the dilated kernel fits).
// Every field is range-checked here, once, so that the geometry arithmetic of
// shape inference and of the kernels stays far from int64 overflow.
kernels::Conv2dShape read_conv_geometry(const Attributes& attrs, const Shape& w_shape) {
  const std::string& owner = attrs.owner();
  SLIM_CHECK(w_shape.size() == 4, owner, ": only 2-D convolution is supported (weight rank 4), got weight ",
             shape_str(w_shape));
  for (int64_t d : w_shape)
    SLIM_CHECK(d >= 1, owner, ": weight ", shape_str(w_shape), " has an empty dim");
  kernels::Conv2dShape s;
  s.out_c = w_shape[0];
  // A group must split the output channels (and so the input channels) evenly.
  s.groups = int_attr(attrs, "group", 1, 1, s.out_c);
  SLIM_CHECK(s.out_c % s.groups == 0, owner, ": attribute 'group' = ", s.groups,
             " does not divide the weight's output channels ", s.out_c);
  s.in_c = mul_dims(owner, "input channels (weight dim 1 * group)", w_shape[1], s.groups);
  s.kernel_h = w_shape[2];
  s.kernel_w = w_shape[3];
  SLIM_CHECK(s.kernel_h <= kMaxWindow && s.kernel_w <= kMaxWindow, owner, ": kernel ", s.kernel_h, "x", s.kernel_w,
             " is larger than ", kMaxWindow);
  if (attrs.has("kernel_shape")) {
    const auto ks = attrs.get_ints("kernel_shape");
    SLIM_CHECK(ks.size() == 2 && ks[0] == s.kernel_h && ks[1] == s.kernel_w, owner,
               ": attribute 'kernel_shape' does not match the weight shape ", shape_str(w_shape));
  }
  const auto st = ints_attr(attrs, "strides", {1, 1}, 2, 1, kMaxWindow);
  const auto dl = ints_attr(attrs, "dilations", {1, 1}, 2, 1, kMaxWindow);
  s.stride_h = st[0];
  s.stride_w = st[1];
  s.dilation_h = dl[0];
  s.dilation_w = dl[1];
  read_auto_pad(attrs);
  const auto pads = ints_attr(attrs, "pads", {0, 0, 0, 0}, 4, 0, kMaxWindow);
  s.pad_top = pads[0];
  s.pad_left = pads[1];
  s.pad_bottom = pads[2];
  s.pad_right = pads[3];
  // Dilated kernel extents; < 2^40 each, since both factors are below 2^20.
  s.in_h = (s.kernel_h - 1) * s.dilation_h + 1;
  s.in_w = (s.kernel_w - 1) * s.dilation_w + 1;
  // A pad wider than the dilated kernel only adds outputs that see nothing
  // but padding; no exported network has one.
  SLIM_CHECK(s.pad_top <= s.in_h && s.pad_bottom <= s.in_h && s.pad_left <= s.in_w && s.pad_right <= s.in_w, owner,
             ": attribute 'pads' [", pads[0], ", ", pads[1], ", ", pads[2], ", ", pads[3],
             "] exceeds the dilated kernel ", s.in_h, "x", s.in_w);
  return s;
}

namespace {

// Pads of one spatial dim under auto_pad (explicit pads stay); false when the
// padded input is smaller than the dilated kernel.
bool resolve_pads(int64_t in, int64_t k, int64_t s, int64_t d, AutoPad auto_pad, int64_t& pad_begin,
                  int64_t& pad_end) {
  const int64_t eff = (k - 1) * d + 1;
  if (auto_pad == AutoPad::kValid) {
    pad_begin = pad_end = 0;
  } else if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
    pad_begin = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
    pad_end = total - pad_begin;
  }
  return in + pad_begin + pad_end >= eff;
}

}  // namespace

// The full geometry for input x [N, C, H, W]; false when the image is too small.
bool conv_at_input(kernels::Conv2dShape& s, AutoPad auto_pad, const Shape& x) {
  s.batch = x[0];
  s.in_h = x[2];
  s.in_w = x[3];
  return resolve_pads(s.in_h, s.kernel_h, s.stride_h, s.dilation_h, auto_pad, s.pad_top, s.pad_bottom) &&
         resolve_pads(s.in_w, s.kernel_w, s.stride_w, s.dilation_w, auto_pad, s.pad_left, s.pad_right);
}

}  // namespace slim
