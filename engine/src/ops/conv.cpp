// Conv (2-D): groups, dilations, strides, asymmetric pads, auto_pad and the
// converter's fused activation, on the kernels library's f32_gemm (dense and
// grouped, via im2col) or f32_dwconv (depthwise) variant chosen at load.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"
#include "ops/fused_activation.h"

namespace slim {
namespace {

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

struct ConvState {
  // Everything but the input size (batch, in_h, in_w, and pads under auto_pad).
  kernels::Conv2dShape shape;
  AutoPad auto_pad = AutoPad::kNotSet;
  kernels::Activation act;
  std::vector<float> bias;  // out_c values (zeros when absent)
  const kernels::F32GemmKernel* gemm = nullptr;      // dense and grouped
  const kernels::F32DwconvKernel* dwconv = nullptr;  // depthwise
  std::vector<float> packed;                         // weights packed for the chosen variant
};

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
kernels::Conv2dShape read_geometry(const Attributes& attrs, const Shape& w_shape) {
  const std::string& owner = attrs.owner();
  SLIM_CHECK(w_shape.size() == 4, owner, ": only 2-D Conv is supported (weight rank 4), got weight ",
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

// The full geometry for input x [N, C, H, W]; false when the image is too small.
bool at_input(kernels::Conv2dShape& s, AutoPad auto_pad, const Shape& x) {
  s.batch = x[0];
  s.in_h = x[2];
  s.in_w = x[3];
  return resolve_pads(s.in_h, s.kernel_h, s.stride_h, s.dilation_h, auto_pad, s.pad_top, s.pad_bottom) &&
         resolve_pads(s.in_w, s.kernel_w, s.stride_w, s.dilation_w, auto_pad, s.pad_left, s.pad_right);
}

void infer_conv(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  const Shape& w = ctx.input_shape(1);
  if (x.size() != 4) ctx.error("expects a rank-4 input (N, C, H, W), got ", shape_str(x));
  require_dtype(ctx, 1, {DType::kFloat32}, "weight");
  kernels::Conv2dShape s = read_geometry(ctx.attrs(), w);
  if (x[1] != s.in_c)
    ctx.error("input has ", x[1], " channels but weight ", shape_str(w), " with group ", s.groups, " expects ", s.in_c);
  if (ctx.has_input(2)) {
    require_dtype(ctx, 2, {DType::kFloat32}, "bias");
    if (ctx.input_shape(2) != Shape{w[0]}) ctx.error("bias shape ", shape_str(ctx.input_shape(2)), " must be [", w[0], "]");
  }
  if (!at_input(s, read_auto_pad(ctx.attrs()), x))
    ctx.error("input ", shape_str(x), " is smaller than the (dilated, padded) kernel ", s.kernel_h, "x", s.kernel_w);
  // Padding alone can fit the kernel; an image of no pixels is still an error.
  if (x[2] == 0 || x[3] == 0) ctx.error("input ", shape_str(x), " has an empty spatial dim");
  ctx.set_output(0, DType::kFloat32, {x[0], w[0], s.out_h(), s.out_w()});
}

std::shared_ptr<void> prepare_conv(PrepareContext& ctx) {
  const TensorRef* w = ctx.constant(1);
  if (w == nullptr) ctx.error("the weight (input 1) must be a constant");
  if (w->dtype != DType::kFloat32) ctx.error("weight dtype must be float32, got ", dtype_name(w->dtype));
  auto st = std::make_shared<ConvState>();
  st->shape = read_geometry(ctx.attrs, w->shape);
  st->auto_pad = read_auto_pad(ctx.attrs);
  st->act = parse_fused_activation(ctx.attrs);
  const kernels::Conv2dShape& s = st->shape;
  st->bias.assign(static_cast<size_t>(s.out_c), 0.0f);
  if (ctx.has_input(2)) {
    const TensorRef* b = ctx.constant(2);
    if (b == nullptr) ctx.error("the bias (input 2) must be a constant");
    if (b->dtype != DType::kFloat32 || b->numel() != s.out_c) ctx.error("bias must be float32 [", s.out_c, "]");
    std::memcpy(st->bias.data(), b->data, static_cast<size_t>(s.out_c) * sizeof(float));
  }
  // Packing depends only on channels, kernel size and groups, not on the image.
  const float* src = w->ptr<const float>();
  if (s.is_depthwise()) {
    st->dwconv = ctx.use(ctx.kernels.f32_dwconv);
    st->packed.resize(static_cast<size_t>(kernels::depthwise_packed_weight_floats(s)));
    kernels::depthwise_pack_weights(s, src, st->packed.data());
  } else {
    st->gemm = ctx.use(ctx.kernels.f32_gemm);
    st->packed.resize(static_cast<size_t>(kernels::conv2d_packed_weight_floats(*st->gemm, s)));
    kernels::conv2d_pack_weights(*st->gemm, s, src, st->packed.data());
  }
  return st;
}

void conv_kernel(const KernelContext& ctx) {
  const ConvState& st = ctx.state<ConvState>();
  if (ctx.outputs[0].numel() == 0) return;  // batch 0
  kernels::Conv2dShape s = st.shape;
  at_input(s, st.auto_pad, ctx.inputs[0].shape);
  kernels::Epilogue ep;
  ep.bias = st.bias.data();
  ep.act = st.act;
  run_nhwc(ctx, ctx.inputs[0], ctx.outputs[0], [&](const float* x, float* y) {
    if (st.dwconv != nullptr) {
      ctx.parallel_for(s.out_rows(), 1, [&](int64_t b, int64_t e) {
        kernels::depthwise_conv2d(*st.dwconv, s, x, st.packed.data(), y, ep, {b, e});
      });
      return;
    }
    // Work split in whole micro-tiles of output pixels, each thread with its own im2col scratch.
    const int64_t tile = st.gemm->tile_rows;
    const int64_t pixels = s.out_pixels(), tiles = (pixels + tile - 1) / tile;
    const int64_t scratch = kernels::conv2d_scratch_floats(*st.gemm, s);
    ctx.parallel_for(tiles, 1, [&](int64_t b, int64_t e) {
      std::vector<float> buf(static_cast<size_t>(scratch));
      kernels::conv2d(*st.gemm, s, x, st.packed.data(), y, ep, {b * tile, std::min(pixels, e * tile)},
                      scratch ? buf.data() : nullptr);
    });
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(Conv) {
  return OpDef("Conv")
      .dtypes({DType::kFloat32})
      .inputs(2, 3)
      .outputs(1)
      .layout(LayoutPolicy::kNhwc)
      .infer(infer_conv)
      .prepare(prepare_conv)
      .kernel(conv_kernel);
}
