// Pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, LpPool. 2-D
// windows on NHWC activations and all global pools run the kernels library's
// pooling variants chosen at load; other ranks (1-D, 3-D) and a plain 2-D
// input (a constant) walk the window directly. MaxPool also takes uint8
// (quantized activations: the max commutes with quantization) on q8_maxpool.
// LpPool ((sum |x|^p)^(1/p), padding counting as zeros) and MaxPool's Indices
// output walk the window too.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace slim {
namespace {

// N-D geometry (spatial dims only) with auto_pad resolved for one input shape.
struct PoolGeometry {
  std::vector<int64_t> k, s, d, pb, pe, out;
  bool ceil_mode = false, count_include_pad = false;
  std::string auto_pad;
};

int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t d, const PoolGeometry& g, int64_t& pb, int64_t& pe) {
  const int64_t eff = (k - 1) * d + 1;
  if (g.auto_pad == "VALID") {
    pb = pe = 0;
    return in < eff ? 0 : (in - eff) / s + 1;
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
  g.k = ints_attr(a, "kernel_shape", {}, n, 1, kMaxWindow);
  g.s = ints_attr(a, "strides", std::vector<int64_t>(n, 1), n, 1, kMaxWindow);
  g.d = ints_attr(a, "dilations", std::vector<int64_t>(n, 1), n, 1, kMaxWindow);
  const auto p = ints_attr(a, "pads", std::vector<int64_t>(2 * n, 0), 2 * n, 0, kMaxWindow);
  g.ceil_mode = a.get_int("ceil_mode", 0) != 0;
  g.count_include_pad = a.get_int("count_include_pad", 0) != 0;
  g.auto_pad = enum_attr(a, "auto_pad", "NOTSET", {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"});
  g.pb.assign(p.begin(), p.begin() + static_cast<int64_t>(n));
  g.pe.assign(p.begin() + static_cast<int64_t>(n), p.end());
  for (size_t i = 0; i < n; ++i) {
    // As ONNX Runtime: a pad as wide as the window would make windows of padding only.
    const int64_t eff = (g.k[i] - 1) * g.d[i] + 1;
    SLIM_CHECK(g.pb[i] < eff && g.pe[i] < eff, a.owner(), ": attribute 'pads' (", g.pb[i], ", ", g.pe[i],
               ") on spatial axis ", i, " must be smaller than the dilated kernel ", eff);
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
  ctx.set_output(0, ctx.input_dtype(0), out);
  if (ctx.num_outputs() > 1) {  // MaxPool's Indices
    if (ctx.input_dtype(0) != DType::kFloat32) ctx.error("Indices (output 1) needs a float32 input");
    int_attr(ctx.attrs(), "storage_order", 0, 0, 1);
    ctx.set_output(1, DType::kInt64, out);
  }
}

// MaxPool with its second output, Indices: the flat position of each maximum in the
// input (N * C planes, row-major within a plane, or column-major for storage_order 1),
// as ONNX Runtime computes it; the first maximum of a window wins, a NaN wins over numbers.
// Any layout: inputs and outputs are addressed through their logical strides.
void max_pool_indices(const KernelContext& ctx, const PoolGeometry& g) {
  const TensorRef &xt = ctx.inputs[0], &yt = ctx.outputs[0], &it = ctx.outputs[1];
  if (yt.numel() == 0) return;
  const int nd = static_cast<int>(g.k.size());
  const Shape in(xt.shape.begin() + 2, xt.shape.end());
  const bool col_major = ctx.attrs.get_int("storage_order", 0) != 0;
  const auto xs = logical_strides(xt.shape, xt.layout), ys = logical_strides(yt.shape, yt.layout);
  const auto is = logical_strides(it.shape, it.layout);
  // the Indices numbering of each spatial dim within a plane
  std::vector<int64_t> flat(static_cast<size_t>(nd), 1);
  for (int d = 0; d < nd; ++d)
    for (int e = 0; e < nd; ++e)
      if (col_major ? e < d : e > d) flat[d] *= in[e];
  const int64_t channels = xt.shape[1], in_plane = numel(in), out_plane = numel(g.out);
  const float* x = xt.ptr<const float>();
  float* y = yt.ptr<float>();
  int64_t* ix = it.ptr<int64_t>();
  ctx.parallel_for(xt.shape[0] * channels, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> start(nd), t0(nd), t1(nd), t(nd), opos(nd);
    for (int64_t pl = begin; pl < end; ++pl) {
      const int64_t n = pl / channels, c = pl % channels;
      for (int64_t o = 0; o < out_plane; ++o) {
        int64_t rest = o;
        bool any = true;
        for (int d = nd - 1; d >= 0; --d) {
          opos[d] = rest % g.out[d];
          rest /= g.out[d];
          start[d] = opos[d] * g.s[d] - g.pb[d];
          t0[d] = start[d] >= 0 ? 0 : (-start[d] + g.d[d] - 1) / g.d[d];
          const int64_t last = in[d] - 1 - start[d];
          t1[d] = last < 0 ? 0 : std::min(g.k[d], last / g.d[d] + 1);
          if (t1[d] <= t0[d]) any = false;
        }
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_at = -1;
        if (any) {
          t = t0;
          for (;;) {
            int64_t xo = n * xs[0] + c * xs[1], at = 0;
            for (int d = 0; d < nd; ++d) {
              const int64_t p = start[d] + t[d] * g.d[d];
              xo += p * xs[d + 2];
              at += p * flat[d];
            }
            const float v = x[xo];
            if (best_at < 0 || v > best || (v != v && best == best)) {
              best = v;
              best_at = at;
            }
            int d = nd - 1;
            while (d >= 0 && ++t[d] == t1[d]) t[d] = t0[d], --d;
            if (d < 0) break;
          }
        }
        int64_t yo = n * ys[0] + c * ys[1], io = n * is[0] + c * is[1];
        for (int d = 0; d < nd; ++d) {
          yo += opos[d] * ys[d + 2];
          io += opos[d] * is[d + 2];
        }
        y[yo] = best;
        ix[io] = best_at < 0 ? 0 : pl * in_plane + best_at;
      }
    }
  });
}

// The variants of both pools are kept: MaxPool uses one, AveragePool the other.
struct PoolState {
  const kernels::F32MaxPoolKernel* max_pool = nullptr;
  const kernels::Q8MaxPoolKernel* q8_max_pool = nullptr;  // MaxPool on uint8
  const kernels::F32AvgPoolKernel* avg_pool = nullptr;
  const kernels::F32GlobalMaxPoolKernel* global_max_pool = nullptr;
  const kernels::F32GlobalAvgPoolKernel* global_avg_pool = nullptr;
};

template <bool kMax>
std::shared_ptr<void> prepare_pool(PrepareContext& ctx) {
  auto st = std::make_shared<PoolState>();
  if (kMax && ctx.inputs[0]->dtype == DType::kUInt8) st->q8_max_pool = ctx.use(ctx.kernels.q8_maxpool);
  else if (kMax) st->max_pool = ctx.use(ctx.kernels.f32_maxpool);
  else st->avg_pool = ctx.use(ctx.kernels.f32_avgpool);
  return st;
}

template <bool kMax>
std::shared_ptr<void> prepare_global(PrepareContext& ctx) {
  auto st = std::make_shared<PoolState>();
  if (kMax) st->global_max_pool = ctx.use(ctx.kernels.f32_gmaxpool);
  else st->global_avg_pool = ctx.use(ctx.kernels.f32_gavgpool);
  return st;
}

// Window divisor for AveragePool at window start `start` along one dim: the
// taps that land in [lo, hi), counted without walking the window.
int64_t window_count(int64_t start, int64_t k, int64_t d, int64_t in, int64_t pb, int64_t pe, bool include_pad) {
  const int64_t lo = include_pad ? -pb : 0, hi = include_pad ? in + pe : in;
  const int64_t first = start >= lo ? 0 : (lo - start + d - 1) / d;
  const int64_t last = hi - 1 - start;
  const int64_t end = last < 0 ? 0 : std::min(k, last / d + 1);
  return std::max<int64_t>(0, end - first);
}

// Any number of spatial dims, plain layout. Each window visits only its taps
// inside the image, so the work per output is bounded by the input, not by
// the kernel size.
template <bool kMax, typename T = float, bool kLp = false>
void pool_nd(const KernelContext& ctx, const PoolGeometry& g) {
  static_assert(!(kMax && kLp), "LpPool sums");
  [[maybe_unused]] const float p = kLp ? static_cast<float>(ctx.attrs.get_int("p", 2)) : 1.0f;
  const TensorRef &xt = ctx.inputs[0], &yt = ctx.outputs[0];
  if (yt.numel() == 0) return;
  const int nd = static_cast<int>(g.k.size());
  const Shape in(xt.shape.begin() + 2, xt.shape.end());
  const int64_t planes = xt.shape[0] * xt.shape[1], in_plane = numel(in), out_plane = numel(g.out);
  const T* x = xt.ptr<const T>();
  T* y = yt.ptr<T>();
  ctx.parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> start(nd), t0(nd), t1(nd), t(nd);
    for (int64_t pl = begin; pl < end; ++pl) {
      for (int64_t o = 0; o < out_plane; ++o) {
        int64_t rest = o;
        bool any = true;
        for (int d = nd - 1; d >= 0; --d) {
          start[d] = (rest % g.out[d]) * g.s[d] - g.pb[d];
          rest /= g.out[d];
          // Taps [t0, t1) of this dim land inside the image.
          t0[d] = start[d] >= 0 ? 0 : (-start[d] + g.d[d] - 1) / g.d[d];
          const int64_t last = in[d] - 1 - start[d];  // tap * dilation <= last
          t1[d] = last < 0 ? 0 : std::min(g.k[d], last / g.d[d] + 1);
          if (t1[d] <= t0[d]) any = false;
        }
        T acc = kMax ? (std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                               : std::numeric_limits<T>::lowest())
                     : T(0);
        if (any) {
          t = t0;
          for (;;) {
            int64_t off = 0;
            for (int d = 0; d < nd; ++d) off = off * in[d] + start[d] + t[d] * g.d[d];
            const T v = x[pl * in_plane + off];
            if constexpr (kMax) acc = (v > acc || v != v) ? v : acc;
            else if constexpr (kLp) acc += p == 2.0f ? v * v : p == 1.0f ? std::fabs(v) : std::pow(std::fabs(v), p);
            else acc += v;
            int d = nd - 1;
            while (d >= 0 && ++t[d] == t1[d]) t[d] = t0[d], --d;
            if (d < 0) break;
          }
        }
        if constexpr (kLp) {
          acc = p == 2.0f ? std::sqrt(acc) : p == 1.0f ? acc : std::pow(acc, 1.0f / p);
        } else if constexpr (!kMax) {
          // A double: a product over many padded dims need not fit in int64.
          double divisor = 1.0;
          for (int d = 0; d < nd; ++d)
            divisor *= static_cast<double>(
                window_count(start[d], g.k[d], g.d[d], in[d], g.pb[d], g.pe[d], g.count_include_pad));
          acc = divisor > 0.0 ? static_cast<float>(acc / divisor) : 0.0f;
        }
        y[pl * out_plane + o] = acc;
      }
    }
  });
}

template <bool kMax>
void pool_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  const PoolGeometry g = resolve(ctx.attrs, x.shape);
  if (kMax && ctx.outputs.size() > 1) return max_pool_indices(ctx, g);
  const bool u8 = x.dtype == DType::kUInt8;
  // An empty image padded into whole windows (W = 0, pads 1 + 1, kernel 2) has outputs but no pixel: the
  // kernels refuse empty images, the direct loop gives what a window of padding only gives.
  const bool empty_image = x.numel() == 0 && y.numel() > 0;
  if (g.k.size() != 2 || x.layout != Layout::kNhwc || y.layout != Layout::kNhwc || empty_image) {
    if constexpr (kMax) {
      if (u8) return pool_nd<true, uint8_t>(ctx, g);
    }
    return pool_nd<kMax>(ctx, g);
  }
  if (y.numel() == 0) return;
  kernels::Pool2dShape s;
  s.batch = x.shape[0];
  s.channels = x.shape[1];
  s.in_h = x.shape[2];
  s.in_w = x.shape[3];
  s.kernel_h = g.k[0];
  s.kernel_w = g.k[1];
  s.stride_h = g.s[0];
  s.stride_w = g.s[1];
  s.dilation_h = g.d[0];
  s.dilation_w = g.d[1];
  s.pad_top = g.pb[0];
  s.pad_left = g.pb[1];
  s.pad_bottom = g.pe[0];
  s.pad_right = g.pe[1];
  // auto_pad SAME has already fixed the output size through its pads.
  s.ceil_mode = g.ceil_mode && g.auto_pad == "NOTSET";
  s.count_include_pad = g.count_include_pad;
  SLIM_CHECK(s.out_h() == g.out[0] && s.out_w() == g.out[1], ctx.attrs.owner(), ": pooled size ", s.out_h(), "x",
             s.out_w(), " differs from the planned ", g.out[0], "x", g.out[1]);
  const PoolState& st = ctx.state<PoolState>();
  if (u8) {
    SLIM_CHECK(kMax && st.q8_max_pool != nullptr, ctx.attrs.owner(), ": internal error: no uint8 pooling variant");
    ctx.parallel_for(s.out_rows(), 1, [&](int64_t b, int64_t e) {
      kernels::q8_max_pool2d(*st.q8_max_pool, s, x.ptr<const uint8_t>(), y.ptr<uint8_t>(), {b, e});
    });
    return;
  }
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(s.out_rows(), 1, [&](int64_t b, int64_t e) {
    if (kMax) kernels::max_pool2d(*st.max_pool, s, xp, yp, {b, e});
    else kernels::avg_pool2d(*st.avg_pool, s, xp, yp, {b, e});
  });
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
  if (yt.numel() == 0) return;
  const int64_t n = xt.shape[0], c = xt.shape[1], spatial = xt.numel() / std::max<int64_t>(1, n * c);
  const PoolState& st = ctx.state<PoolState>();
  const float* x = xt.ptr<const float>();
  float* y = yt.ptr<float>();  // [N, C, 1...]: identical memory in either layout
  if (spatial == 0) {
    // No pixel: the max of nothing, and the mean 0 / 0.
    std::fill(y, y + yt.numel(), kMax ? -std::numeric_limits<float>::infinity() : std::nanf(""));
    return;
  }
  const auto pool = [&](int64_t batch, int64_t channels, const float* in, float* out, kernels::Range range) {
    if (kMax) kernels::global_max_pool(*st.global_max_pool, batch, spatial, channels, in, out, range);
    else kernels::global_avg_pool(*st.global_avg_pool, batch, spatial, channels, in, out, range);
  };
  if (xt.layout == Layout::kNhwc && xt.rank() == 4) {
    // [N, H * W, C]: whole channel vectors per pixel; threads split channels,
    // so a batch of one still runs in parallel.
    ctx.parallel_for(c, 64, [&](int64_t b, int64_t e) { pool(n, c, x, y, {b, e}); });
    return;
  }
  // Plain [N * C, spatial] is the one-channel case with N * C images; threads split the images.
  ctx.parallel_for(n * c, 1, [&](int64_t b, int64_t e) { pool(e - b, 1, x + b * spatial, y + b, {0, 1}); });
}

void infer_lp_pool(InferContext& ctx) {
  // p is a real exponent in principle; ONNX types it int, and 1 .. 2^10 covers every use
  int_attr(ctx.attrs(), "p", 2, 1, 1024);
  infer_pool(ctx);
}

void lp_pool_kernel(const KernelContext& ctx) {
  pool_nd<false, float, true>(ctx, resolve(ctx.attrs, ctx.inputs[0].shape));
}

OpDef pool_def(const char* type, InferFn infer, PrepareFn prepare, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kNhwc)
      .infer(std::move(infer))
      .prepare(std::move(prepare))
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(MaxPool) {
  return pool_def("MaxPool", infer_pool, prepare_pool<true>, pool_kernel<true>)
      .dtypes({DType::kFloat32, DType::kUInt8})
      .outputs(1, 2);
}
DEFINE_OP(AveragePool) { return pool_def("AveragePool", infer_pool, prepare_pool<false>, pool_kernel<false>); }
DEFINE_OP(GlobalAveragePool) {
  return pool_def("GlobalAveragePool", infer_global, prepare_global<false>, global_kernel<false>);
}
DEFINE_OP(GlobalMaxPool) {
  return pool_def("GlobalMaxPool", infer_global, prepare_global<true>, global_kernel<true>);
}
DEFINE_OP(LpPool) {
  return OpDef("LpPool")
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_lp_pool)
      .kernel(lp_pool_kernel);
}
