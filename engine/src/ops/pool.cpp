// Pooling: MaxPool, AveragePool (N-D; 2-D runs NHWC with the channel vector as
// the inner loop), GlobalAveragePool and GlobalMaxPool.
#include <cmath>
#include <limits>

#include "ops/common.h"

namespace slim {
namespace {

// N-D geometry (spatial dims only); the 2-D case has an NHWC fast path.
struct PoolGeometry {
  std::vector<int64_t> k, s, d, pb, pe, out;
  bool ceil_mode = false, count_include_pad = false;
  std::string auto_pad;
};

int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t d, const PoolGeometry& g, int64_t& pb, int64_t& pe) {
  const int64_t eff = (k - 1) * d + 1;
  if (g.auto_pad == "VALID") {
    pb = pe = 0;
    return (in - eff) / s + 1;
  }
  if (g.auto_pad == "SAME_UPPER" || g.auto_pad == "SAME_LOWER") {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
    pb = g.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pe = total - pb;
    return out;
  }
  const int64_t span = in + pb + pe - eff;
  if (span < 0) return 0;
  int64_t out = (g.ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // ceil_mode must not start a window entirely inside the end padding.
  if (g.ceil_mode && (out - 1) * s >= in + pb) --out;
  return out;
}

PoolGeometry resolve(const Attributes& a, const Shape& x) {
  SLIM_CHECK(x.size() >= 3, a.owner(), ": expects an input of rank >= 3 (N, C, spatial...), got ", shape_str(x));
  const size_t n = x.size() - 2;
  PoolGeometry g;
  g.k = a.get_ints("kernel_shape");
  SLIM_CHECK(g.k.size() == n, a.owner(), ": kernel_shape has ", g.k.size(), " values for ", n, " spatial dims");
  g.s = a.get_ints("strides", std::vector<int64_t>(n, 1));
  g.d = a.get_ints("dilations", std::vector<int64_t>(n, 1));
  const auto p = a.get_ints("pads", std::vector<int64_t>(2 * n, 0));
  SLIM_CHECK(g.s.size() == n && g.d.size() == n && p.size() == 2 * n, a.owner(),
             ": strides/dilations/pads have wrong lengths for ", n, " spatial dims");
  g.ceil_mode = a.get_int("ceil_mode", 0) != 0;
  g.count_include_pad = a.get_int("count_include_pad", 0) != 0;
  g.auto_pad = a.get_string("auto_pad", "NOTSET");
  g.pb.assign(p.begin(), p.begin() + static_cast<int64_t>(n));
  g.pe.assign(p.begin() + static_cast<int64_t>(n), p.end());
  for (size_t i = 0; i < n; ++i) {
    SLIM_CHECK(g.k[i] >= 1 && g.s[i] >= 1 && g.d[i] >= 1 && g.pb[i] >= 0 && g.pe[i] >= 0, a.owner(),
               ": kernel_shape, strides and dilations must be >= 1 and pads >= 0");
    g.out.push_back(pool_out(x[i + 2], g.k[i], g.s[i], g.d[i], g, g.pb[i], g.pe[i]));
  }
  return g;
}

void infer_pool(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  const PoolGeometry g = resolve(ctx.attrs(), x);
  Shape out = {x[0], x[1]};
  for (int64_t o : g.out) {
    if (o < 1) ctx.error("input ", shape_str(x), " is smaller than the pooling window");
    out.push_back(o);
  }
  ctx.set_output(0, DType::kFloat32, out);
}

// Window divisor for AveragePool at window start `start` along one dim.
int64_t window_count(int64_t start, int64_t k, int64_t d, int64_t in, int64_t pb, int64_t pe, bool include_pad) {
  const int64_t lo = include_pad ? -pb : 0, hi = include_pad ? in + pe : in;
  int64_t c = 0;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t p = start + i * d;
    if (p >= lo && p < hi) ++c;
  }
  return c;
}

template <bool kMax>
void pool_2d(const KernelContext& ctx, const PoolGeometry& g) {
  const TensorRef &xt = ctx.inputs[0], &yt = ctx.outputs[0];
  const int64_t n = xt.shape[0], c = xt.shape[1], h = xt.shape[2], w = xt.shape[3];
  const int64_t oh = g.out[0], ow = g.out[1];
  const auto xs = logical_strides(xt.shape, xt.layout), ys = logical_strides(yt.shape, yt.layout);
  const float* x = xt.ptr<const float>();
  float* y = yt.ptr<float>();
  ctx.parallel_for(n * oh, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(c));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / oh, oy = row % oh;
      for (int64_t ox = 0; ox < ow; ++ox) {
        std::fill(acc.begin(), acc.end(), kMax ? -std::numeric_limits<float>::infinity() : 0.0f);
        const int64_t y0 = oy * g.s[0] - g.pb[0], x0 = ox * g.s[1] - g.pb[1];
        for (int64_t i = 0; i < g.k[0]; ++i) {
          const int64_t iy = y0 + i * g.d[0];
          if (iy < 0 || iy >= h) continue;
          for (int64_t j = 0; j < g.k[1]; ++j) {
            const int64_t ix = x0 + j * g.d[1];
            if (ix < 0 || ix >= w) continue;
            const float* xp = x + b * xs[0] + iy * xs[2] + ix * xs[3];
            for (int64_t ch = 0; ch < c; ++ch) {
              const float v = xp[ch * xs[1]];
              if constexpr (kMax) acc[ch] = (v > acc[ch] || v != v) ? v : acc[ch];
              else acc[ch] += v;
            }
          }
        }
        float scale = 1.0f;
        if (!kMax) {
          const int64_t divisor = window_count(y0, g.k[0], g.d[0], h, g.pb[0], g.pe[0], g.count_include_pad) *
                                  window_count(x0, g.k[1], g.d[1], w, g.pb[1], g.pe[1], g.count_include_pad);
          scale = divisor > 0 ? 1.0f / static_cast<float>(divisor) : 0.0f;
        }
        float* yp = y + b * ys[0] + oy * ys[2] + ox * ys[3];
        for (int64_t ch = 0; ch < c; ++ch) yp[ch * ys[1]] = kMax ? acc[ch] : acc[ch] * scale;
      }
    }
  });
}

// Any number of spatial dims, plain layout (rank != 4 is never NHWC).
template <bool kMax>
void pool_nd(const KernelContext& ctx, const PoolGeometry& g) {
  const TensorRef &xt = ctx.inputs[0], &yt = ctx.outputs[0];
  const int nd = static_cast<int>(g.k.size());
  const Shape in(xt.shape.begin() + 2, xt.shape.end());
  const int64_t planes = xt.shape[0] * xt.shape[1], in_plane = numel(in), out_plane = numel(g.out);
  const int64_t window = numel(g.k);
  const float* x = xt.ptr<const float>();
  float* y = yt.ptr<float>();
  ctx.parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> start(nd);
    for (int64_t pl = begin; pl < end; ++pl) {
      for (int64_t o = 0; o < out_plane; ++o) {
        int64_t rest = o;
        for (int d = nd - 1; d >= 0; --d) {
          start[d] = (rest % g.out[d]) * g.s[d] - g.pb[d];
          rest /= g.out[d];
        }
        float acc = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
        for (int64_t t = 0; t < window; ++t) {
          int64_t r2 = t, off = 0, stride = 1;
          bool inside = true;
          for (int d = nd - 1; d >= 0; --d) {
            const int64_t p = start[d] + (r2 % g.k[d]) * g.d[d];
            r2 /= g.k[d];
            if (p < 0 || p >= in[d]) inside = false;
            off += p * stride;
            stride *= in[d];
          }
          if (!inside) continue;
          const float v = x[pl * in_plane + off];
          if constexpr (kMax) acc = (v > acc || v != v) ? v : acc;
          else acc += v;
        }
        if (!kMax) {
          int64_t divisor = 1;
          for (int d = 0; d < nd; ++d)
            divisor *= window_count(start[d], g.k[d], g.d[d], in[d], g.pb[d], g.pe[d], g.count_include_pad);
          acc = divisor > 0 ? acc / static_cast<float>(divisor) : 0.0f;
        }
        y[pl * out_plane + o] = acc;
      }
    }
  });
}

template <bool kMax>
void pool_kernel(const KernelContext& ctx) {
  const PoolGeometry g = resolve(ctx.attrs, ctx.inputs[0].shape);
  if (g.k.size() == 2) pool_2d<kMax>(ctx, g);
  else pool_nd<kMax>(ctx, g);
}

void infer_global(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  if (x.size() < 3) ctx.error("expects an input of rank >= 3, got ", shape_str(x));
  Shape out = x;
  for (size_t d = 2; d < out.size(); ++d) out[d] = 1;
  ctx.set_output(0, DType::kFloat32, out);
}

template <bool kMax>
void global_kernel(const KernelContext& ctx) {
  const TensorRef &xt = ctx.inputs[0], &yt = ctx.outputs[0];
  const int64_t n = xt.shape[0], c = xt.shape[1], spatial = xt.numel() / std::max<int64_t>(1, n * c);
  const float* x = xt.ptr<const float>();
  float* y = yt.ptr<float>();  // [N, C, 1...]: identical memory in either layout
  const bool nhwc = xt.layout == Layout::kNhwc && xt.rank() == 4;
  ctx.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      float* yp = y + b * c;
      if (nhwc) {
        // Sum whole channel vectors pixel by pixel: contiguous and vectorizable.
        const float* xp = x + b * spatial * c;
        for (int64_t ch = 0; ch < c; ++ch) yp[ch] = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
        for (int64_t p = 0; p < spatial; ++p)
          for (int64_t ch = 0; ch < c; ++ch) {
            const float v = xp[p * c + ch];
            if constexpr (kMax) yp[ch] = (v > yp[ch] || v != v) ? v : yp[ch];
            else yp[ch] += v;
          }
      } else {
        for (int64_t ch = 0; ch < c; ++ch) {
          const float* xp = x + (b * c + ch) * spatial;
          float acc = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
          for (int64_t p = 0; p < spatial; ++p) {
            if constexpr (kMax) acc = (xp[p] > acc || xp[p] != xp[p]) ? xp[p] : acc;
            else acc += xp[p];
          }
          yp[ch] = acc;
        }
      }
      if (!kMax)
        for (int64_t ch = 0; ch < c; ++ch) yp[ch] /= static_cast<float>(spatial);
    }
  });
}

OpDef pool_def(const char* type, InferFn infer, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kNhwc)
      .infer(std::move(infer))
      .kernel(Isa::kScalar, std::move(fn));
}

}  // namespace
}  // namespace slim

REGISTER_OP(MaxPool) { return slim::pool_def("MaxPool", slim::infer_pool, slim::pool_kernel<true>); }
REGISTER_OP(AveragePool) { return slim::pool_def("AveragePool", slim::infer_pool, slim::pool_kernel<false>); }
REGISTER_OP(GlobalAveragePool) {
  return slim::pool_def("GlobalAveragePool", slim::infer_global, slim::global_kernel<false>);
}
REGISTER_OP(GlobalMaxPool) { return slim::pool_def("GlobalMaxPool", slim::infer_global, slim::global_kernel<true>); }
