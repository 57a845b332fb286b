// Conv (2-D): the scalar reference, NHWC, with groups, dilations, strides,
// asymmetric pads, auto_pad and the converter's fused activation. Fast SIMD
// variants register further kernels for the same op.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/op.h"
#include "ops/activation.h"
#ifdef SLIMLAB_HAVE_KERNELS
#include "kernels/kernels.h"
#endif

namespace slim {
namespace {

struct ConvGeometry {
  int64_t group = 1;
  int64_t kh = 0, kw = 0;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  std::string auto_pad = "NOTSET";
};

struct ConvState {
  ConvGeometry geo;
  FusedActivation act;
  // Repacked [group][kh][kw][C/group][M/group]: the reference's inner loop runs over
  // output channels (contiguous, no reduction), which compilers vectorize.
  std::vector<float> weight;
  std::vector<float> bias;    // M values (zeros when absent)
  // SIMD variants: weights packed for the kernels library at load.
  bool depthwise = false;
  std::vector<float> packed;
};

std::vector<int64_t> pair_attr(const Attributes& attrs, const char* name, int64_t fallback) {
  std::vector<int64_t> v = attrs.get_ints(name, {fallback, fallback});
  SLIM_CHECK(v.size() == 2, attrs.owner(), ": attribute '", name, "' must have 2 values for a 2-D Conv, got ",
             v.size());
  for (int64_t x : v) SLIM_CHECK(x >= 1, attrs.owner(), ": attribute '", name, "' must be >= 1");
  return v;
}

ConvGeometry read_geometry(const Attributes& attrs, const Shape& w_shape) {
  ConvGeometry g;
  SLIM_CHECK(w_shape.size() == 4, attrs.owner(), ": only 2-D Conv is supported (weight rank 4), got weight ",
             shape_str(w_shape));
  g.group = attrs.get_int("group", 1);
  SLIM_CHECK(g.group >= 1, attrs.owner(), ": attribute 'group' must be >= 1");
  g.kh = w_shape[2];
  g.kw = w_shape[3];
  if (attrs.has("kernel_shape")) {
    const auto ks = attrs.get_ints("kernel_shape");
    SLIM_CHECK(ks.size() == 2 && ks[0] == g.kh && ks[1] == g.kw, attrs.owner(),
               ": attribute 'kernel_shape' does not match the weight shape ", shape_str(w_shape));
  }
  const auto st = pair_attr(attrs, "strides", 1), dl = pair_attr(attrs, "dilations", 1);
  g.sh = st[0]; g.sw = st[1]; g.dh = dl[0]; g.dw = dl[1];
  g.auto_pad = attrs.get_string("auto_pad", "NOTSET");
  SLIM_CHECK(g.auto_pad == "NOTSET" || g.auto_pad == "VALID" || g.auto_pad == "SAME_UPPER" ||
                 g.auto_pad == "SAME_LOWER",
             attrs.owner(), ": unknown auto_pad '", g.auto_pad, "'");
  const auto pads = attrs.get_ints("pads", {0, 0, 0, 0});
  SLIM_CHECK(pads.size() == 4, attrs.owner(), ": attribute 'pads' must have 4 values, got ", pads.size());
  for (int64_t p : pads) SLIM_CHECK(p >= 0, attrs.owner(), ": attribute 'pads' must be >= 0");
  g.pad_top = pads[0]; g.pad_left = pads[1]; g.pad_bottom = pads[2]; g.pad_right = pads[3];
  return g;
}

// Resolves auto_pad for one spatial dim; returns the output extent.
int64_t spatial_out(int64_t in, int64_t k, int64_t s, int64_t d, const std::string& auto_pad, int64_t& pad_begin,
                    int64_t& pad_end) {
  const int64_t eff = (k - 1) * d + 1;
  if (auto_pad == "VALID") {
    pad_begin = pad_end = 0;
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
    pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pad_end = total - pad_begin;
  }
  const int64_t span = in + pad_begin + pad_end - eff;
  return span < 0 ? -1 : span / s + 1;
}

void infer_conv(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  const Shape& w = ctx.input_shape(1);
  if (x.size() != 4) ctx.error("expects a rank-4 input (N, C, H, W), got ", shape_str(x));
  ConvGeometry g = read_geometry(ctx.attrs(), w);
  if (x[1] != w[1] * g.group)
    ctx.error("input has ", x[1], " channels but weight ", shape_str(w), " with group ", g.group, " expects ",
              w[1] * g.group);
  if (w[0] % g.group != 0) ctx.error("output channels ", w[0], " are not divisible by group ", g.group);
  if (ctx.has_input(2) && ctx.input_shape(2) != Shape{w[0]})
    ctx.error("bias shape ", shape_str(ctx.input_shape(2)), " must be [", w[0], "]");
  const int64_t oh = spatial_out(x[2], g.kh, g.sh, g.dh, g.auto_pad, g.pad_top, g.pad_bottom);
  const int64_t ow = spatial_out(x[3], g.kw, g.sw, g.dw, g.auto_pad, g.pad_left, g.pad_right);
  if (oh < 1 || ow < 1)
    ctx.error("input ", shape_str(x), " is smaller than the (dilated, padded) kernel ", g.kh, "x", g.kw);
  ctx.set_output(0, DType::kFloat32, {x[0], w[0], oh, ow});
}

std::shared_ptr<void> prepare_conv(const PrepareContext& ctx) {
  const TensorRef* w = ctx.constant(1);
  if (w == nullptr) ctx.error("the weight (input 1) must be a constant");
  if (w->dtype != DType::kFloat32) ctx.error("weight dtype must be float32, got ", dtype_name(w->dtype));
  auto st = std::make_shared<ConvState>();
  st->geo = read_geometry(ctx.attrs, w->shape);
  st->act = parse_fused_activation(ctx.attrs);
  const int64_t m = w->shape[0], cg = w->shape[1], kh = w->shape[2], kw = w->shape[3];
  const float* src = w->ptr<const float>();
  st->weight.resize(static_cast<size_t>(m * kh * kw * cg));
  for (int64_t o = 0; o < m; ++o)
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j)
          st->weight[(((o / (m / st->geo.group)) * kh + i) * kw + j) * cg * (m / st->geo.group) +
                     c * (m / st->geo.group) + o % (m / st->geo.group)] = src[((o * cg + c) * kh + i) * kw + j];
  st->bias.assign(static_cast<size_t>(m), 0.0f);
  if (ctx.has_input(2)) {
    const TensorRef* b = ctx.constant(2);
    if (b == nullptr) ctx.error("the bias (input 2) must be a constant");
    if (b->dtype != DType::kFloat32 || b->numel() != m) ctx.error("bias must be float32 [", m, "]");
    std::memcpy(st->bias.data(), b->data, static_cast<size_t>(m) * sizeof(float));
  }
#ifdef SLIMLAB_HAVE_KERNELS
  if (ctx.isa != Isa::kScalar) {
    // Packing depends only on channels, kernel size and groups; the image size
    // is a placeholder that validate() accepts.
    kernels::Conv2dShape s;
    s.in_c = cg * st->geo.group;
    s.out_c = m;
    s.kernel_h = kh;
    s.kernel_w = kw;
    s.dilation_h = st->geo.dh;
    s.dilation_w = st->geo.dw;
    s.stride_h = st->geo.sh;
    s.stride_w = st->geo.sw;
    s.in_h = (kh - 1) * st->geo.dh + 1;
    s.in_w = (kw - 1) * st->geo.dw + 1;
    s.groups = st->geo.group;
    st->depthwise = s.is_depthwise();
    if (st->depthwise) {
      st->packed.resize(static_cast<size_t>(kernels::depthwise_packed_weight_floats(s)));
      kernels::depthwise_pack_weights(s, src, st->packed.data());
    } else {
      st->packed.resize(static_cast<size_t>(kernels::conv2d_packed_weight_floats(ctx.isa, s)));
      kernels::conv2d_pack_weights(ctx.isa, s, src, st->packed.data());
    }
  }
#endif
  return st;
}

void conv_scalar(const KernelContext& ctx) {
  const ConvState& st = ctx.state<ConvState>();
  const TensorRef& xin = ctx.inputs[0];
  const TensorRef& yout = ctx.outputs[0];
  const int64_t n = xin.shape[0], c = xin.shape[1], h = xin.shape[2], w = xin.shape[3];
  const int64_t m = yout.shape[1], oh = yout.shape[2], ow = yout.shape[3];
  const auto xs = logical_strides(xin.shape, xin.layout);
  const auto ys = logical_strides(yout.shape, yout.layout);
  ConvGeometry g = st.geo;
  spatial_out(h, g.kh, g.sh, g.dh, g.auto_pad, g.pad_top, g.pad_bottom);
  spatial_out(w, g.kw, g.sw, g.dw, g.auto_pad, g.pad_left, g.pad_right);
  const int64_t cg = c / g.group, mg = m / g.group;
  const float* x = xin.ptr<const float>();
  float* y = yout.ptr<float>();
  ctx.parallel_for(n * oh, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(m));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / oh, oy = row % oh;
      for (int64_t ox = 0; ox < ow; ++ox) {
        std::copy(st.bias.begin(), st.bias.end(), acc.begin());
        for (int64_t grp = 0; grp < g.group; ++grp) {
          float* a = acc.data() + grp * mg;
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t iy = oy * g.sh - g.pad_top + i * g.dh;
            if (iy < 0 || iy >= h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ix = ox * g.sw - g.pad_left + j * g.dw;
              if (ix < 0 || ix >= w) continue;
              const float* xp = x + b * xs[0] + iy * xs[2] + ix * xs[3] + grp * cg * xs[1];
              const float* wp = &st.weight[static_cast<size_t>(((grp * g.kh + i) * g.kw + j) * cg * mg)];
              for (int64_t ci = 0; ci < cg; ++ci) {
                const float xv = xp[ci * xs[1]];
                const float* wr = wp + ci * mg;
                for (int64_t o = 0; o < mg; ++o) a[o] += xv * wr[o];
              }
            }
          }
        }
        float* yp = y + b * ys[0] + oy * ys[2] + ox * ys[3];
        for (int64_t o = 0; o < m; ++o) yp[o * ys[1]] = st.act.apply(acc[o]);
      }
    }
  });
}

#ifdef SLIMLAB_HAVE_KERNELS
void conv_simd(const KernelContext& ctx) {
  const ConvState& st = ctx.state<ConvState>();
  const TensorRef& xin = ctx.inputs[0];
  const TensorRef& yout = ctx.outputs[0];
  // The executor hands activations over in NHWC; anything else takes the reference path.
  if (st.packed.empty() || xin.layout != Layout::kNhwc || yout.layout != Layout::kNhwc) return conv_scalar(ctx);
  ConvGeometry g = st.geo;
  spatial_out(xin.shape[2], g.kh, g.sh, g.dh, g.auto_pad, g.pad_top, g.pad_bottom);
  spatial_out(xin.shape[3], g.kw, g.sw, g.dw, g.auto_pad, g.pad_left, g.pad_right);
  kernels::Conv2dShape s;
  s.batch = xin.shape[0];
  s.in_c = xin.shape[1];
  s.in_h = xin.shape[2];
  s.in_w = xin.shape[3];
  s.out_c = yout.shape[1];
  s.kernel_h = g.kh;
  s.kernel_w = g.kw;
  s.stride_h = g.sh;
  s.stride_w = g.sw;
  s.dilation_h = g.dh;
  s.dilation_w = g.dw;
  s.pad_top = g.pad_top;
  s.pad_left = g.pad_left;
  s.pad_bottom = g.pad_bottom;
  s.pad_right = g.pad_right;
  s.groups = g.group;
  kernels::Epilogue ep;
  ep.bias = st.bias.data();
  ep.act = to_kernel_activation(st.act);
  const float* x = xin.ptr<const float>();
  float* y = yout.ptr<float>();
  if (st.depthwise) {
    ctx.parallel_for(s.out_rows(), 1, [&](int64_t b, int64_t e) {
      kernels::depthwise_conv2d(ctx.isa, s, x, st.packed.data(), y, ep, {b, e});
    });
    return;
  }
  const int64_t tile = kernels::gemm_tile_rows(ctx.isa);
  const int64_t pixels = s.out_pixels(), tiles = (pixels + tile - 1) / tile;
  const int64_t scratch = kernels::conv2d_scratch_floats(ctx.isa, s);
  ctx.parallel_for(tiles, 1, [&](int64_t b, int64_t e) {
    std::vector<float> buf(static_cast<size_t>(scratch));
    kernels::conv2d(ctx.isa, s, x, st.packed.data(), y, ep, {b * tile, std::min(pixels, e * tile)},
                    scratch ? buf.data() : nullptr);
  });
}
#endif

}  // namespace
}  // namespace slim

REGISTER_OP(Conv) {
  using namespace slim;
  return OpDef("Conv")
      .dtypes({DType::kFloat32})
      .inputs(2, 3)
      .outputs(1)
      .layout(LayoutPolicy::kNhwc)
      .infer(infer_conv)
      .prepare(prepare_conv)
      .kernel(Isa::kScalar, conv_scalar)
#ifdef SLIMLAB_HAVE_KERNELS
      .kernel(Isa::kAvx2, conv_simd)
      .kernel(Isa::kAvx512, conv_simd)
#endif
      ;
}
