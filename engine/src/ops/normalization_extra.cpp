// The rarer normalizations: LpNormalization, RMSNormalization (opset 23),
// GroupNormalization (opset 18 and 21), MeanVarianceNormalization, LRN. Plain
// layout; statistics accumulate in double so that long rows keep float
// accuracy whatever the thread split.
#include <algorithm>
#include <cmath>

#include "ops/common.h"

namespace slim {
namespace {

// x seen as [outer, n, inner] around one axis
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisSplit split_at(const Shape& s, int axis) {
  AxisSplit a;
  for (int d = 0; d < axis; ++d) a.outer *= s[d];
  a.n = s[axis];
  for (size_t d = axis + 1; d < s.size(); ++d) a.inner *= s[d];
  return a;
}

// ---- LpNormalization --------------------------------------------------------
void infer_lp_norm(InferContext& c) {
  normalize_axis(c.attrs().get_int("axis", -1), static_cast<int>(c.input_shape(0).size()), "axis");
  int_attr(c.attrs(), "p", 2, 1, 2);
  c.set_output(0, DType::kFloat32, c.input_shape(0));
}

void lp_norm_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const AxisSplit a = split_at(x.shape, normalize_axis(ctx.attrs.get_int("axis", -1), x.rank(), "axis"));
  const bool l1 = ctx.attrs.get_int("p", 2) == 1;
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(a.outer * a.inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(a.n, 1)),
                   [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t base = (r / a.inner) * a.n * a.inner + r % a.inner;
      double acc = 0.0;
      for (int64_t j = 0; j < a.n; ++j) {
        const double v = xp[base + j * a.inner];
        acc += l1 ? std::fabs(v) : v * v;
      }
      // A zero vector stays zero (ONNX Runtime), rather than 0 / 0.
      const float norm = static_cast<float>(l1 ? acc : std::sqrt(acc));
      for (int64_t j = 0; j < a.n; ++j) {
        const float v = xp[base + j * a.inner];
        yp[base + j * a.inner] = norm == 0.0f ? v * 0.0f : v / norm;
      }
    }
  });
}

// ---- RMSNormalization (opset 23) --------------------------------------------
// Over axes [axis, rank); scale broadcasts to those trailing dims.
void infer_rms(InferContext& c) {
  const Shape& x = c.input_shape(0);
  const int axis = normalize_axis(c.attrs().get_int("axis", -1), static_cast<int>(x.size()), "axis");
  require_dtype(c, 1, {DType::kFloat32}, "scale");
  const Shape& s = c.input_shape(1);
  if (s.size() > x.size() - axis)
    c.error("scale shape ", shape_str(s), " has more dims than the normalized shape of ", shape_str(x));
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t want = x[x.size() - s.size() + i];
    if (s[i] != 1 && s[i] != want) c.error("scale shape ", shape_str(s), " does not broadcast to ", shape_str(x));
  }
  const float eps = c.attrs().get_float("epsilon", 1e-5f);
  if (!(eps >= 0.0f)) c.error("epsilon ", eps, " must be >= 0");
  int_attr(c.attrs(), "stash_type", 1, 1, 1);
  c.set_output(0, DType::kFloat32, x);
}

void rms_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &sc = ctx.inputs[1], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int axis = normalize_axis(ctx.attrs.get_int("axis", -1), x.rank(), "axis");
  const float eps = ctx.attrs.get_float("epsilon", 1e-5f);
  int64_t rows = 1, n = 1;
  for (int d = 0; d < axis; ++d) rows *= x.shape[d];
  for (int d = axis; d < x.rank(); ++d) n *= x.shape[d];
  // the scale broadcast over one normalized row, once
  const Shape row_shape(x.shape.begin() + axis, x.shape.end());
  std::vector<float> scale(static_cast<size_t>(n));
  const auto ss = broadcast_strides(sc, static_cast<int>(row_shape.size()));
  for (int64_t j = 0; j < n; ++j) {
    int64_t rest = j, off = 0;
    for (int d = static_cast<int>(row_shape.size()) - 1; d >= 0; --d) {
      off += (rest % row_shape[d]) * ss[d];
      rest /= row_shape[d];
    }
    scale[static_cast<size_t>(j)] = sc.ptr<const float>()[off];
  }
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = xp + r * n;
      double acc = 0.0;
      for (int64_t j = 0; j < n; ++j) acc += static_cast<double>(xr[j]) * xr[j];
      const float inv = static_cast<float>(1.0 / std::sqrt(acc / static_cast<double>(n) + eps));
      for (int64_t j = 0; j < n; ++j) yp[r * n + j] = xr[j] * inv * scale[static_cast<size_t>(j)];
    }
  });
}

// ---- GroupNormalization (opset 18: scale/bias per group; 21: per channel) ----
// The two opsets differ only in the length of scale and bias ([G] or [C]); with
// C == G they agree, so the length says which one a model means.
void infer_group_norm(InferContext& c) {
  const Shape& x = c.input_shape(0);
  if (x.size() < 2) c.error("input must have rank >= 2 (N, C, ...), got ", shape_str(x));
  const int64_t g = int_attr(c.attrs(), "num_groups", 0, 1, kMaxElements);
  if (x[1] % g != 0) c.error("channels ", x[1], " are not divisible into num_groups ", g);
  for (size_t i = 1; i <= 2; ++i) {
    require_dtype(c, i, {DType::kFloat32}, i == 1 ? "scale" : "bias");
    const Shape& s = c.input_shape(i);
    if (s.size() != 1 || (s[0] != g && s[0] != x[1]))
      c.error(i == 1 ? "scale" : "bias", " shape ", shape_str(s), " must be [", g, "] or [", x[1], "]");
  }
  if (c.input_shape(1) != c.input_shape(2)) c.error("scale and bias shapes differ");
  const float eps = c.attrs().get_float("epsilon", 1e-5f);
  if (!(eps >= 0.0f)) c.error("epsilon ", eps, " must be >= 0");
  int_attr(c.attrs(), "stash_type", 1, 1, 1);
  c.set_output(0, DType::kFloat32, x);
}

void group_norm_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int64_t groups = ctx.attrs.get_int("num_groups"), ch = x.shape[1];
  const float eps = ctx.attrs.get_float("epsilon", 1e-5f);
  const int64_t cpg = ch / groups, spatial = x.numel() / (x.shape[0] * ch), len = cpg * spatial;
  const bool per_channel = ctx.inputs[1].shape[0] == ch;
  const float* scale = ctx.inputs[1].ptr<const float>();
  const float* bias = ctx.inputs[2].ptr<const float>();
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(x.shape[0] * groups, 1, [&](int64_t b, int64_t e) {
    for (int64_t ng = b; ng < e; ++ng) {
      const float* xg = xp + ng * len;
      double sum = 0.0;
      for (int64_t j = 0; j < len; ++j) sum += xg[j];
      const double mean = sum / static_cast<double>(len);
      double var = 0.0;
      for (int64_t j = 0; j < len; ++j) var += (xg[j] - mean) * (xg[j] - mean);
      const float inv = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(len) + eps));
      const float m = static_cast<float>(mean);
      const int64_t g = ng % groups;
      for (int64_t c = 0; c < cpg; ++c) {
        const int64_t k = per_channel ? g * cpg + c : g;
        const float s = scale[k] * inv, bb = bias[k];
        for (int64_t j = 0; j < spatial; ++j) yp[ng * len + c * spatial + j] = (xg[c * spatial + j] - m) * s + bb;
      }
    }
  });
}

// ---- MeanVarianceNormalization ----------------------------------------------
// ONNX's definition: (x - mean) / (sqrt(var) + 1e-9) over `axes` (default N, H, W).
std::vector<bool> mvn_reduced(const Attributes& a, int rank) {
  const auto axes = ints_attr(a, "axes", {0, 2, 3}, 0, -rank, rank - 1);
  std::vector<bool> red(static_cast<size_t>(rank), false);
  for (int64_t ax : axes) red[static_cast<size_t>(normalize_axis(ax, rank, "axes"))] = true;
  return red;
}

void infer_mvn(InferContext& c) {
  mvn_reduced(c.attrs(), static_cast<int>(c.input_shape(0).size()));
  c.set_output(0, DType::kFloat32, c.input_shape(0));
}

void mvn_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int rank = x.rank();
  const auto red = mvn_reduced(ctx.attrs, rank);
  const auto st = logical_strides(x.shape, Layout::kPlain);
  // kept dims index the groups, reduced dims the members of a group
  Shape kept, reduced;
  std::vector<int64_t> ks, rs;
  for (int d = 0; d < rank; ++d) {
    (red[d] ? reduced : kept).push_back(x.shape[d]);
    (red[d] ? rs : ks).push_back(st[d]);
  }
  const int64_t groups = numel(kept), members = numel(reduced);
  const auto offset = [](int64_t i, const Shape& dims, const std::vector<int64_t>& strides) {
    int64_t off = 0;
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      off += (i % dims[d]) * strides[d];
      i /= dims[d];
    }
    return off;
  };
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(groups, 1, [&](int64_t b, int64_t e) {
    std::vector<int64_t> offs(static_cast<size_t>(members));
    for (int64_t m = 0; m < members; ++m) offs[static_cast<size_t>(m)] = offset(m, reduced, rs);
    for (int64_t g = b; g < e; ++g) {
      const int64_t base = offset(g, kept, ks);
      double sum = 0.0;
      for (int64_t o : offs) sum += xp[base + o];
      const double mean = sum / static_cast<double>(members);
      double var = 0.0;
      for (int64_t o : offs) var += (xp[base + o] - mean) * (xp[base + o] - mean);
      const double denom = std::sqrt(var / static_cast<double>(members)) + 1e-9;
      for (int64_t o : offs) yp[base + o] = static_cast<float>((xp[base + o] - mean) / denom);
    }
  });
}

// ---- LRN ----------------------------------------------------------------------
void infer_lrn(InferContext& c) {
  const Shape& x = c.input_shape(0);
  if (x.size() < 3) c.error("input must have rank >= 3 (N, C, ...), got ", shape_str(x));
  int_attr(c.attrs(), "size", 0, 1, kMaxWindow);
  c.set_output(0, DType::kFloat32, x);
}

void lrn_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int64_t size = ctx.attrs.get_int("size");
  const float alpha = ctx.attrs.get_float("alpha", 1e-4f), beta = ctx.attrs.get_float("beta", 0.75f);
  const float bias = ctx.attrs.get_float("bias", 1.0f);
  const int64_t n = x.shape[0], ch = x.shape[1], spatial = x.numel() / (n * ch);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;  // floor and ceil of (size - 1) / 2
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(n * ch, 1, [&](int64_t b, int64_t e) {
    for (int64_t nc = b; nc < e; ++nc) {
      const int64_t in = nc / ch, c = nc % ch;
      const int64_t c0 = std::max<int64_t>(0, c - before), c1 = std::min(ch - 1, c + after);
      for (int64_t j = 0; j < spatial; ++j) {
        float sq = 0.0f;
        for (int64_t k = c0; k <= c1; ++k) {
          const float v = xp[(in * ch + k) * spatial + j];
          sq += v * v;
        }
        const float v = xp[nc * spatial + j];
        yp[nc * spatial + j] = v / std::pow(bias + alpha / static_cast<float>(size) * sq, beta);
      }
    }
  });
}

OpDef float_def(const char* type, int in_min, int in_max, InferFn infer, KernelFn kernel) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(in_min, in_max)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(std::move(infer))
      .kernel(std::move(kernel));
}

}  // namespace
}  // namespace slim

DEFINE_OP(LpNormalization) { return float_def("LpNormalization", 1, 1, infer_lp_norm, lp_norm_kernel); }
DEFINE_OP(RMSNormalization) { return float_def("RMSNormalization", 2, 2, infer_rms, rms_kernel); }
DEFINE_OP(GroupNormalization) {
  return float_def("GroupNormalization", 3, 3, infer_group_norm, group_norm_kernel);
}
DEFINE_OP(MeanVarianceNormalization) { return float_def("MeanVarianceNormalization", 1, 1, infer_mvn, mvn_kernel); }
DEFINE_OP(LRN) { return float_def("LRN", 1, 1, infer_lrn, lrn_kernel); }
