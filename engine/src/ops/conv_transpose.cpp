// ConvTranspose (2-D, groups, dilations, strides, pads, output_padding,
// output_shape, auto_pad, fused activation): scalar reference in plain
// layout; each thread owns whole (batch, output channel) planes.
#include <cstring>

#include "ops/activation.h"
#include "ops/common.h"

namespace slim {
namespace {

struct Deconv {
  int64_t group = 1, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0, oph = 0, opw = 0;
  int64_t oh = 0, ow = 0;
};

Deconv deconv_geometry(const Attributes& a, const Shape& x, const Shape& w) {
  Deconv g;
  SLIM_CHECK(x.size() == 4 && w.size() == 4, a.owner(), ": only 2-D ConvTranspose is supported, got input ",
             shape_str(x), " weight ", shape_str(w));
  g.group = a.get_int("group", 1);
  SLIM_CHECK(g.group >= 1 && x[1] == w[0] && w[0] % g.group == 0, a.owner(), ": input channels ", x[1],
             " do not match weight ", shape_str(w), " with group ", g.group);
  g.kh = w[2];
  g.kw = w[3];
  const auto s = a.get_ints("strides", {1, 1}), d = a.get_ints("dilations", {1, 1});
  const auto op = a.get_ints("output_padding", {0, 0});
  auto p = a.get_ints("pads", {0, 0, 0, 0});
  SLIM_CHECK(s.size() == 2 && d.size() == 2 && op.size() == 2 && p.size() == 4, a.owner(),
             ": strides/dilations/output_padding/pads have wrong lengths");
  g.sh = s[0]; g.sw = s[1]; g.dh = d[0]; g.dw = d[1]; g.oph = op[0]; g.opw = op[1];
  const int64_t eh = (g.kh - 1) * g.dh + 1, ew = (g.kw - 1) * g.dw + 1;
  const std::string auto_pad = a.get_string("auto_pad", "NOTSET");
  const auto out_shape = a.get_ints("output_shape", {});
  if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    const int64_t th = out_shape.empty() ? x[2] * g.sh : out_shape[out_shape.size() - 2];
    const int64_t tw = out_shape.empty() ? x[3] * g.sw : out_shape.back();
    const int64_t total_h = g.sh * (x[2] - 1) + g.oph + eh - th, total_w = g.sw * (x[3] - 1) + g.opw + ew - tw;
    const bool lower = auto_pad == "SAME_LOWER";
    p = {lower ? total_h - total_h / 2 : total_h / 2, lower ? total_w - total_w / 2 : total_w / 2, 0, 0};
    p[2] = total_h - p[0];
    p[3] = total_w - p[1];
  } else if (auto_pad == "VALID") {
    p = {0, 0, 0, 0};
  }
  g.pt = p[0]; g.pl = p[1]; g.pb = p[2]; g.pr = p[3];
  g.oh = g.sh * (x[2] - 1) + g.oph + eh - g.pt - g.pb;
  g.ow = g.sw * (x[3] - 1) + g.opw + ew - g.pl - g.pr;
  return g;
}

void infer_deconv(InferContext& ctx) {
  const Shape &x = ctx.input_shape(0), &w = ctx.input_shape(1);
  const Deconv g = deconv_geometry(ctx.attrs(), x, w);
  if (g.oh < 1 || g.ow < 1) ctx.error("output would be empty for input ", shape_str(x));
  ctx.set_output(0, DType::kFloat32, {x[0], w[1] * g.group, g.oh, g.ow});
}

void deconv_kernel(const KernelContext& ctx) {
  const TensorRef &xt = ctx.inputs[0], &wt = ctx.inputs[1], &yt = ctx.outputs[0];
  const Deconv g = deconv_geometry(ctx.attrs, xt.shape, wt.shape);
  const FusedActivation act = parse_fused_activation(ctx.attrs);
  const int64_t n = xt.shape[0], c = xt.shape[1], h = xt.shape[2], w = xt.shape[3];
  const int64_t m = yt.shape[1], cg = c / g.group, mg = m / g.group;
  const float* x = xt.ptr<const float>();
  const float* wp = wt.ptr<const float>();
  const float* bias = ctx.inputs.size() > 2 && ctx.inputs[2].data ? ctx.inputs[2].ptr<const float>() : nullptr;
  float* y = yt.ptr<float>();
  const int64_t plane = g.oh * g.ow;
  ctx.parallel_for(n * m, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / m, o = item % m, grp = o / mg, ol = o % mg;
      float* yp = y + item * plane;
      std::fill(yp, yp + plane, bias ? bias[o] : 0.0f);
      for (int64_t ci = grp * cg; ci < (grp + 1) * cg; ++ci) {
        const float* xp = x + (b * c + ci) * h * w;
        const float* wk = wp + (ci * mg + ol) * g.kh * g.kw;
        for (int64_t iy = 0; iy < h; ++iy)
          for (int64_t ix = 0; ix < w; ++ix) {
            const float v = xp[iy * w + ix];
            for (int64_t i = 0; i < g.kh; ++i) {
              const int64_t oy = iy * g.sh - g.pt + i * g.dh;
              if (oy < 0 || oy >= g.oh) continue;
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ox = ix * g.sw - g.pl + j * g.dw;
                if (ox < 0 || ox >= g.ow) continue;
                yp[oy * g.ow + ox] += v * wk[i * g.kw + j];
              }
            }
          }
      }
      apply_activation(act, yp, plane);
    }
  });
}

}  // namespace
}  // namespace slim

REGISTER_OP(ConvTranspose) {
  using namespace slim;
  return OpDef("ConvTranspose")
      .dtypes({DType::kFloat32})
      .inputs(2, 3)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_deconv)
      .kernel(Isa::kScalar, deconv_kernel);
}
