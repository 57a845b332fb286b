// ConvTranspose (2-D, groups, dilations, strides, pads, output_padding,
// output_shape, auto_pad, fused activation) in plain layout; each thread owns
// whole (batch, output channel) planes, scattering every input pixel through
// the kernel. The fused activation runs the f32_vact variant chosen at load.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "ops/common.h"
#include "ops/fused_activation.h"

namespace slim {
namespace {

// The geometry as the convolution this op transposes: that convolution maps
// the ConvTranspose output [N, M, out_h, out_w] (its in_h, in_w, in_c) to the
// ConvTranspose input [N, C, H, W] (its out_c), so input pixel (iy, ix) and
// tap (i, j) meet at output row iy * stride_h - pad_top + i * dilation_h.
kernels::Conv2dShape deconv_geometry(const Attributes& a, const Shape& x, const Shape& w) {
  const std::string& owner = a.owner();
  SLIM_CHECK(x.size() == 4 && w.size() == 4, owner, ": only 2-D ConvTranspose is supported, got input ",
             shape_str(x), " weight ", shape_str(w));
  for (int64_t d : w) SLIM_CHECK(d >= 1, owner, ": weight ", shape_str(w), " has an empty dim");
  kernels::Conv2dShape g;
  g.groups = int_attr(a, "group", 1, 1, w[0]);
  SLIM_CHECK(x[1] == w[0] && w[0] % g.groups == 0, owner, ": input channels ", x[1], " do not match weight ",
             shape_str(w), " with group ", g.groups);
  g.batch = x[0];
  g.out_c = x[1];
  g.in_c = mul_dims(owner, "output channels (weight dim 1 * group)", w[1], g.groups);
  g.kernel_h = w[2];
  g.kernel_w = w[3];
  SLIM_CHECK(g.kernel_h <= kMaxWindow && g.kernel_w <= kMaxWindow, owner, ": kernel ", g.kernel_h, "x", g.kernel_w,
             " is larger than ", kMaxWindow);
  if (a.has("kernel_shape")) {
    const auto ks = a.get_ints("kernel_shape");
    SLIM_CHECK(ks.size() == 2 && ks[0] == g.kernel_h && ks[1] == g.kernel_w, owner,
               ": attribute 'kernel_shape' does not match the weight shape ", shape_str(w));
  }
  const auto s = ints_attr(a, "strides", {1, 1}, 2, 1, kMaxWindow);
  const auto d = ints_attr(a, "dilations", {1, 1}, 2, 1, kMaxWindow);
  const auto op = ints_attr(a, "output_padding", {0, 0}, 2, 0, kMaxWindow);
  auto p = ints_attr(a, "pads", {0, 0, 0, 0}, 4, 0, kMaxWindow);
  g.stride_h = s[0];
  g.stride_w = s[1];
  g.dilation_h = d[0];
  g.dilation_w = d[1];
  // ONNX: output_padding adds rows the stride or the dilation leaves uncovered.
  SLIM_CHECK(op[0] < std::max(s[0], d[0]) && op[1] < std::max(s[1], d[1]), owner, ": attribute 'output_padding' [",
             op[0], ", ", op[1], "] must be smaller than the strides or dilations");
  const int64_t eh = (g.kernel_h - 1) * g.dilation_h + 1, ew = (g.kernel_w - 1) * g.dilation_w + 1;
  const std::string auto_pad = enum_attr(a, "auto_pad", "NOTSET", {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"});
  // Full (unpadded) output extent; x dims < 2^40 and the factors < 2^20, so this cannot overflow.
  const int64_t full_h = g.stride_h * (x[2] - 1) + op[0] + eh, full_w = g.stride_w * (x[3] - 1) + op[1] + ew;
  const auto out_shape = ints_attr(a, "output_shape", {}, 0, 0, kMaxElements);
  SLIM_CHECK(out_shape.empty() || out_shape.size() == 2 || out_shape.size() == 4, owner,
             ": attribute 'output_shape' must have 2 (H, W) or 4 values, got ", out_shape.size());
  if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    const int64_t th = out_shape.empty() ? x[2] * g.stride_h : out_shape[out_shape.size() - 2];
    const int64_t tw = out_shape.empty() ? x[3] * g.stride_w : out_shape.back();
    // A negative total pads the output beyond the full extent (rows that only get the bias), as ONNX allows.
    const int64_t total_h = full_h - th, total_w = full_w - tw;
    const bool lower = auto_pad == "SAME_LOWER";
    p = {lower ? total_h - total_h / 2 : total_h / 2, lower ? total_w - total_w / 2 : total_w / 2, 0, 0};
    p[2] = total_h - p[0];
    p[3] = total_w - p[1];
  } else if (auto_pad == "VALID") {
    p = {0, 0, 0, 0};
  }
  g.pad_top = p[0];
  g.pad_left = p[1];
  g.pad_bottom = p[2];
  g.pad_right = p[3];
  g.in_h = full_h - g.pad_top - g.pad_bottom;
  g.in_w = full_w - g.pad_left - g.pad_right;
  return g;
}

void infer_deconv(InferContext& ctx) {
  const Shape &x = ctx.input_shape(0), &w = ctx.input_shape(1);
  require_dtype(ctx, 1, {DType::kFloat32}, "weight");
  const kernels::Conv2dShape g = deconv_geometry(ctx.attrs(), x, w);
  if (x[2] < 1 || x[3] < 1) ctx.error("input ", shape_str(x), " has an empty spatial dim");
  if (g.in_h < 1 || g.in_w < 1) ctx.error("output would be empty for input ", shape_str(x));
  if (ctx.has_input(2)) {
    require_dtype(ctx, 2, {DType::kFloat32}, "bias");
    if (ctx.input_shape(2) != Shape{g.in_c}) ctx.error("bias shape ", shape_str(ctx.input_shape(2)), " must be [", g.in_c, "]");
  }
  ctx.set_output(0, DType::kFloat32, {x[0], g.in_c, g.in_h, g.in_w});
}

struct DeconvState {
  kernels::Activation act;
  const kernels::F32VactKernel* vact = nullptr;
};

std::shared_ptr<void> prepare_deconv(PrepareContext& ctx) {
  auto st = std::make_shared<DeconvState>();
  st->act = parse_fused_activation(ctx.attrs);
  if (st->act.kind != kernels::ActKind::kNone) st->vact = ctx.use(ctx.kernels.f32_vact);
  return st;
}

void deconv_kernel(const KernelContext& ctx) {
  const DeconvState& st = ctx.state<DeconvState>();
  const TensorRef &xt = ctx.inputs[0], &wt = ctx.inputs[1], &yt = ctx.outputs[0];
  const kernels::Conv2dShape g = deconv_geometry(ctx.attrs, xt.shape, wt.shape);
  const int64_t n = xt.shape[0], c = xt.shape[1], h = xt.shape[2], w = xt.shape[3];
  const int64_t m = yt.shape[1], cg = c / g.groups, mg = m / g.groups;
  const int64_t oh = g.in_h, ow = g.in_w;
  const float* x = xt.ptr<const float>();
  const float* wp = wt.ptr<const float>();
  const float* bias = ctx.inputs.size() > 2 && ctx.inputs[2].data ? ctx.inputs[2].ptr<const float>() : nullptr;
  float* y = yt.ptr<float>();
  const int64_t plane = oh * ow;
  ctx.parallel_for(n * m, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / m, o = item % m, grp = o / mg, ol = o % mg;
      float* yp = y + item * plane;
      std::fill(yp, yp + plane, bias ? bias[o] : 0.0f);
      for (int64_t ci = grp * cg; ci < (grp + 1) * cg; ++ci) {
        const float* xp = x + (b * c + ci) * h * w;
        const float* wk = wp + (ci * mg + ol) * g.kernel_h * g.kernel_w;
        for (int64_t iy = 0; iy < h; ++iy)
          for (int64_t ix = 0; ix < w; ++ix) {
            const float v = xp[iy * w + ix];
            for (int64_t i = 0; i < g.kernel_h; ++i) {
              const int64_t oy = iy * g.stride_h - g.pad_top + i * g.dilation_h;
              if (oy < 0 || oy >= oh) continue;
              for (int64_t j = 0; j < g.kernel_w; ++j) {
                const int64_t ox = ix * g.stride_w - g.pad_left + j * g.dilation_w;
                if (ox < 0 || ox >= ow) continue;
                yp[oy * ow + ox] += v * wk[i * g.kernel_w + j];
              }
            }
          }
      }
      if (st.vact != nullptr) kernels::activation(*st.vact, st.act, yp, yp, plane);
    }
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(ConvTranspose) {
  return OpDef("ConvTranspose")
      .dtypes({DType::kFloat32})
      .inputs(2, 3)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_deconv)
      .prepare(prepare_deconv)
      .kernel(deconv_kernel);
}
