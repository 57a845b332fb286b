// Resize (opset 11+ inputs X, roi, scales, sizes): nearest (any rank, every
// coordinate mode and rounding), and linear and cubic (cubic_coeff_a,
// exclude_outside) over the last two axes of a rank-4 input. Layout agnostic
// through logical strides, so NHWC images resize with the channel vector as
// the inner loop.
#include <algorithm>
#include <cmath>

#include "ops/common.h"

namespace slim {
namespace {

struct ResizeSpec {
  Shape out;
  std::vector<float> scales;
};

ResizeSpec resize_spec(const InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const size_t rank = in.size();
  ResizeSpec s;
  const TensorRef* sizes = ctx.has_input(3) ? ctx.input_value(3) : nullptr;
  const TensorRef* scales = ctx.has_input(2) ? ctx.input_value(2) : nullptr;
  if (ctx.has_input(3) && sizes == nullptr) ctx.error("sizes (input 3) must be known when the graph is planned");
  if (ctx.has_input(2) && scales == nullptr) ctx.error("scales (input 2) must be known when the graph is planned");
  if (sizes != nullptr && sizes->numel() > 0) {
    if (ctx.attrs().has("axes")) ctx.error("attribute 'axes' is not supported");
    const auto v = int_values(*sizes, ctx.attrs().owner(), "sizes");
    if (v.size() != rank) ctx.error("sizes has ", v.size(), " values for rank ", rank);
    const std::string policy = ctx.attrs().get_string("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch") ctx.error("keep_aspect_ratio_policy '", policy, "' is not supported");
    s.out = v;
    for (size_t d = 0; d < rank; ++d) {
      if (v[d] < 0 || v[d] > kMaxElements) ctx.error("sizes[", d, "] = ", v[d], " is out of range");
      s.scales.push_back(in[d] == 0 ? 1.0f : static_cast<float>(v[d]) / static_cast<float>(in[d]));
    }
  } else if (scales != nullptr && scales->numel() > 0) {
    if (scales->dtype != DType::kFloat32 || static_cast<size_t>(scales->numel()) != rank)
      ctx.error("scales must be float32 with ", rank, " values");
    const float* p = scales->ptr<const float>();
    for (size_t d = 0; d < rank; ++d) {
      const double out = std::floor(static_cast<double>(in[d]) * p[d]);
      // Also refuses NaN and infinity, before a cast that would be undefined for them.
      if (!(p[d] > 0.0f) || !(out <= static_cast<double>(kMaxElements)))
        ctx.error("scale ", p[d], " of axis ", d, " is not positive or makes the axis too large");
      s.scales.push_back(p[d]);
      s.out.push_back(static_cast<int64_t>(out));
    }
  } else {
    ctx.error("needs scales (input 2) or sizes (input 3)");
  }
  return s;
}

void infer_resize(InferContext& ctx) {
  const std::string mode = enum_attr(ctx.attrs(), "mode", "nearest", {"nearest", "linear", "cubic"});
  int_attr(ctx.attrs(), "exclude_outside", 0, 0, 1);
  const float a = ctx.attrs().get_float("cubic_coeff_a", -0.75f);
  if (!std::isfinite(a)) ctx.error("attribute 'cubic_coeff_a' = ", a, " is not finite");
  enum_attr(ctx.attrs(), "nearest_mode", "round_prefer_floor", {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"});
  const ResizeSpec s = resize_spec(ctx);
  if (mode != "nearest" && ctx.input_dtype(0) != DType::kFloat32) ctx.error(mode, " mode needs float32");
  for (size_t d = 0; d < s.out.size(); ++d)
    if (ctx.input_shape(0)[d] == 0 && s.out[d] > 0) ctx.error("cannot resize the empty axis ", d, " to ", s.out[d]);
  if (mode != "nearest") {
    if (s.out.size() != 4 || s.out[0] != ctx.input_shape(0)[0] || s.out[1] != ctx.input_shape(0)[1])
      ctx.error(mode, " mode resizes only the last two axes of a rank-4 input");
  }
  const std::string ct = ctx.attrs().get_string("coordinate_transformation_mode", "half_pixel");
  if (ct != "half_pixel" && ct != "align_corners" && ct != "asymmetric" && ct != "pytorch_half_pixel" &&
      ct != "half_pixel_symmetric")
    ctx.error("coordinate_transformation_mode '", ct, "' is not supported");
  ctx.set_output(0, ctx.input_dtype(0), s.out);
}

// Source coordinate of output index `o` along one axis.
float source_coord(int64_t o, int64_t in, int64_t out, float scale, const std::string& mode) {
  const float x = static_cast<float>(o);
  if (mode == "align_corners") return out <= 1 ? 0.0f : x * static_cast<float>(in - 1) / static_cast<float>(out - 1);
  if (mode == "asymmetric") return x / scale;
  if (mode == "pytorch_half_pixel") return out > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (mode == "half_pixel_symmetric") {
    const float adj = static_cast<float>(out) / (scale * static_cast<float>(in));
    const float center = static_cast<float>(in) / 2.0f * (1.0f - adj);
    return (x + 0.5f) / scale - 0.5f + center;
  }
  return (x + 0.5f) / scale - 0.5f;  // half_pixel
}

int64_t nearest_index(float c, int64_t in, const std::string& rounding) {
  // Casting NaN or a value beyond int64 is undefined; clamp in float first.
  if (!(c == c)) c = 0.0f;
  c = std::clamp(c, -1.0f, static_cast<float>(in));
  int64_t i;
  if (rounding == "floor") i = static_cast<int64_t>(std::floor(c));
  else if (rounding == "ceil") i = static_cast<int64_t>(std::ceil(c));
  else if (rounding == "round_prefer_ceil") i = static_cast<int64_t>(std::floor(c + 0.5f));
  else i = (c - std::floor(c) == 0.5f) ? static_cast<int64_t>(std::floor(c)) : static_cast<int64_t>(std::round(c));
  return std::clamp<int64_t>(i, 0, in - 1);
}

// Cubic convolution (Keys) with coefficient a: 4 taps per axis around the source
// coordinate, clamped to the edge (ONNX pads with edge values); exclude_outside
// drops the taps outside the image and renormalizes the others.
struct CubicTaps {
  int64_t i[4];
  float w[4];
};

std::vector<CubicTaps> cubic_taps(int64_t in, int64_t out, float scale, const std::string& ct, float a,
                                  bool exclude_outside) {
  std::vector<CubicTaps> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double c = source_coord(o, in, out, scale, ct);
    // NaN, or a coordinate far outside (an extreme scale), reads the edge pixels
    if (!(c == c)) c = 0.0;
    c = std::clamp(c, -4.0, static_cast<double>(in) + 4.0);
    const double base = std::floor(c), t = c - base;
    const double ad = a;
    const double d[4] = {1.0 + t, t, 1.0 - t, 2.0 - t};  // distance of each tap from c
    CubicTaps& tp = taps[static_cast<size_t>(o)];
    double sum = 0.0;
    for (int k = 0; k < 4; ++k) {
      const double x = d[k];
      double w = x <= 1.0 ? ((ad + 2.0) * x - (ad + 3.0)) * x * x + 1.0
                          : ((ad * x - 5.0 * ad) * x + 8.0 * ad) * x - 4.0 * ad;
      const int64_t idx = static_cast<int64_t>(base) - 1 + k;
      if (exclude_outside && (idx < 0 || idx >= in)) w = 0.0;
      tp.i[k] = std::clamp<int64_t>(idx, 0, in - 1);
      tp.w[k] = static_cast<float>(w);
      sum += w;
    }
    if (exclude_outside && sum != 0.0)
      for (float& w : tp.w) w = static_cast<float>(w / sum);
  }
  return taps;
}

void cubic_resize(const KernelContext& ctx, const ResizeSpec& s, const std::string& ct) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  const auto xs = logical_strides(x.shape, x.layout), ys = logical_strides(y.shape, y.layout);
  const float a = ctx.attrs.get_float("cubic_coeff_a", -0.75f);
  const bool excl = ctx.attrs.get_int("exclude_outside", 0) != 0;
  const auto th = cubic_taps(x.shape[2], y.shape[2], s.scales[2], ct, a, excl);
  const auto tw = cubic_taps(x.shape[3], y.shape[3], s.scales[3], ct, a, excl);
  const int64_t n = y.shape[0], c = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(n * c * oh, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t oy = r % oh, ch = (r / oh) % c, b = r / (oh * c);
      const CubicTaps& ty = th[static_cast<size_t>(oy)];
      const float* plane = xp + b * xs[0] + ch * xs[1];
      for (int64_t ox = 0; ox < ow; ++ox) {
        const CubicTaps& tx = tw[static_cast<size_t>(ox)];
        float acc = 0.0f;
        for (int i = 0; i < 4; ++i) {
          const float* row = plane + ty.i[i] * xs[2];
          float h = 0.0f;
          for (int j = 0; j < 4; ++j) h += tx.w[j] * row[tx.i[j] * xs[3]];
          acc += ty.w[i] * h;
        }
        yp[b * ys[0] + ch * ys[1] + oy * ys[2] + ox * ys[3]] = acc;
      }
    }
  });
}

void resize_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  InferContext ictx(ctx.attrs, present_inputs(ctx), 1);
  const ResizeSpec s = resize_spec(ictx);
  const std::string mode = ctx.attrs.get_string("mode", "nearest");
  const std::string ct = ctx.attrs.get_string("coordinate_transformation_mode", "half_pixel");
  const int rank = y.rank();
  const auto xs = logical_strides(x.shape, x.layout), ys = logical_strides(y.shape, y.layout);
  if (y.numel() == 0) return;
  if (mode == "nearest") {
    const std::string rounding = ctx.attrs.get_string("nearest_mode", "round_prefer_floor");
    // Per axis: source offset of each output index; then one gather over the output.
    std::vector<std::vector<int64_t>> src(rank);
    for (int d = 0; d < rank; ++d)
      for (int64_t o = 0; o < y.shape[d]; ++o)
        src[d].push_back(nearest_index(source_coord(o, x.shape[d], y.shape[d], s.scales[d], ct), x.shape[d], rounding) *
                         xs[d]);
    dispatch_dtype(y.dtype, ctx.attrs.owner(), [&](auto z) {
      using T = decltype(z);
      const T* xp = x.ptr<const T>();
      T* yp = y.ptr<T>();
      ctx.parallel_for(y.numel(), 4096, [&](int64_t begin, int64_t end) {
        for (int64_t e = begin; e < end; ++e) {
          int64_t rest = e, so = 0, yo = 0;
          for (int d = rank - 1; d >= 0; --d) {
            const int64_t c = rest % y.shape[d];
            rest /= y.shape[d];
            so += src[d][c];
            yo += c * ys[d];
          }
          yp[yo] = xp[so];
        }
      });
    });
    return;
  }
  SLIM_CHECK(y.dtype == DType::kFloat32, ctx.attrs.owner(), ": ", mode, " mode needs float32");
  if (mode == "cubic") return cubic_resize(ctx, s, ct);
  struct Tap { int64_t i0, i1; float w; };
  auto taps = [&](int d) {
    std::vector<Tap> t;
    for (int64_t o = 0; o < y.shape[d]; ++o) {
      float c = source_coord(o, x.shape[d], y.shape[d], s.scales[d], ct);
      if (!(c == c)) c = 0.0f;
      c = std::clamp(c, 0.0f, static_cast<float>(x.shape[d] - 1));
      const int64_t i0 = static_cast<int64_t>(std::floor(c));
      const int64_t i1 = std::min<int64_t>(i0 + 1, x.shape[d] - 1);
      t.push_back({i0, i1, c - static_cast<float>(i0)});
    }
    return t;
  };
  const std::vector<Tap> th = taps(2), tw = taps(3);
  const int64_t n = y.shape[0], c = y.shape[1], oh = y.shape[2], ow = y.shape[3];
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(n * oh, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / oh, oy = row % oh;
      const Tap& ty = th[oy];
      for (int64_t ox = 0; ox < ow; ++ox) {
        const Tap& tx = tw[ox];
        const float* p00 = xp + b * xs[0] + ty.i0 * xs[2] + tx.i0 * xs[3];
        const float* p01 = xp + b * xs[0] + ty.i0 * xs[2] + tx.i1 * xs[3];
        const float* p10 = xp + b * xs[0] + ty.i1 * xs[2] + tx.i0 * xs[3];
        const float* p11 = xp + b * xs[0] + ty.i1 * xs[2] + tx.i1 * xs[3];
        float* q = yp + b * ys[0] + oy * ys[2] + ox * ys[3];
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t o = ch * xs[1];
          const float top = p00[o] + (p01[o] - p00[o]) * tx.w;
          const float bot = p10[o] + (p11[o] - p10[o]) * tx.w;
          q[ch * ys[1]] = top + (bot - top) * ty.w;
        }
      }
    }
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(Resize) {
  return OpDef("Resize")
      .dtypes({DType::kFloat32, DType::kInt64, DType::kInt32, DType::kUInt8, DType::kInt8})
      .inputs(1, 4)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_resize)
      .kernel(resize_kernel);
}
