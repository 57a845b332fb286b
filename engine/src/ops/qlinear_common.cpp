#include "ops/qlinear_common.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/aligned.h"
#include "core/plan.h"
#include "ops/fused_activation.h"

namespace slim {

namespace {

std::string dtype_list(const std::vector<DType>& ds) {
  std::string s;
  for (DType d : ds) s += (s.empty() ? "" : " or ") + std::string(dtype_name(d));
  return s;
}

bool dtype_in(DType d, const std::vector<DType>& ds) { return std::find(ds.begin(), ds.end(), d) != ds.end(); }

int32_t zp_value(const TensorRef& t, int64_t i) {
  switch (t.dtype) {
    case DType::kUInt8: return t.ptr<const uint8_t>()[i];
    case DType::kInt8: return t.ptr<const int8_t>()[i];
    case DType::kInt32: return t.ptr<const int32_t>()[i];
    default: return 0;
  }
}

}  // namespace

QParams read_qparams(const PrepareContext& c, size_t si, size_t zi, const QParamsSpec& spec) {
  const std::string scale_name = std::string(spec.name) + "_scale";
  const std::string zp_name = std::string(spec.name) + "_zero_point";
  const TensorRef* s = c.constant(si);
  if (!c.has_input(si)) c.error(scale_name, " (input ", si, ") is missing");
  if (s == nullptr) c.error(scale_name, " (input ", si, ") must be a constant");
  if (s->dtype != DType::kFloat32)
    c.error(scale_name, " (input ", si, ") has dtype ", dtype_name(s->dtype), ", expected float32");
  const int64_t n = s->numel();
  const bool length_ok = n == 1 || (spec.channels > 0 && n == spec.channels) || (spec.channels < 0 && n > 1);
  if (s->shape.size() > spec.max_rank || !length_ok) {
    if (spec.channels < 0)
      c.error(scale_name, " (input ", si, ") has shape ", shape_str(s->shape), ": expected a scalar or a 1-D tensor "
              "with one value per index of the axis");
    if (spec.channels > 0)
      c.error(scale_name, " (input ", si, ") has shape ", shape_str(s->shape), ": expected 1 value (per tensor) or ",
              spec.channels, " (per channel)");
    c.error(scale_name, " (input ", si, ") has shape ", shape_str(s->shape), ": expected a single value (per tensor)");
  }
  QParams q;
  q.scale.assign(s->ptr<const float>(), s->ptr<const float>() + n);
  for (int64_t i = 0; i < n; ++i) {
    const float v = q.scale[static_cast<size_t>(i)];
    if (!(std::isfinite(v) && v > 0.0f))
      c.error(scale_name, " (input ", si, ") value ", v, (n > 1 ? " at index " + std::to_string(i) : std::string()),
              " must be finite and > 0");
  }
  q.zp.assign(static_cast<size_t>(n), 0);
  if (!c.has_input(zi)) {
    if (!spec.zp_optional) c.error(zp_name, " (input ", zi, ") is missing");
    return q;
  }
  const TensorRef* z = c.constant(zi);
  if (z == nullptr) c.error(zp_name, " (input ", zi, ") must be a constant");
  if (!dtype_in(z->dtype, spec.zp_dtypes))
    c.error(zp_name, " (input ", zi, ") has dtype ", dtype_name(z->dtype), ", expected ", dtype_list(spec.zp_dtypes));
  const int64_t nz = z->numel();
  if (z->shape.size() > spec.max_rank || !(nz == 1 || nz == n))
    c.error(zp_name, " (input ", zi, ") has shape ", shape_str(z->shape), ", which does not match ", scale_name, " ",
            shape_str(s->shape));
  for (int64_t i = 0; i < n; ++i) q.zp[static_cast<size_t>(i)] = zp_value(*z, nz == 1 ? 0 : i);
  return q;
}

void check_qparam_dtypes(const InferContext& c, size_t si, size_t zi, const QParamsSpec& spec) {
  const std::string scale_name = std::string(spec.name) + "_scale";
  const std::string zp_name = std::string(spec.name) + "_zero_point";
  if (!c.has_input(si)) c.error(scale_name, " (input ", si, ") is missing");
  if (c.input_dtype(si) != DType::kFloat32)
    c.error(scale_name, " (input ", si, ") has dtype ", dtype_name(c.input_dtype(si)), ", expected float32");
  if (!c.has_input(zi)) {
    if (!spec.zp_optional) c.error(zp_name, " (input ", zi, ") is missing");
    return;
  }
  if (!dtype_in(c.input_dtype(zi), spec.zp_dtypes))
    c.error(zp_name, " (input ", zi, ") has dtype ", dtype_name(c.input_dtype(zi)), ", expected ",
            dtype_list(spec.zp_dtypes));
}

namespace {

// clamp(y_zp + nearbyint(v / y_scale), 0, 255); +-inf bounds saturate.
int32_t qbound(float v, float y_scale, int32_t y_zp) {
  const float q = std::nearbyint(v / y_scale);
  if (q <= -512.0f) return 0;
  if (q >= 512.0f) return 255;
  return std::clamp<int32_t>(y_zp + static_cast<int32_t>(q), 0, 255);
}

}  // namespace

void fused_qclamp(const Attributes& attrs, float y_scale, int32_t y_zp, bool allow_clip, int32_t& qmin,
                  int32_t& qmax) {
  const kernels::Activation act = parse_fused_activation(attrs);
  qmin = 0;
  qmax = 255;
  switch (act.kind) {
    case kernels::ActKind::kNone: return;
    case kernels::ActKind::kRelu: qmin = qbound(0.0f, y_scale, y_zp); return;
    case kernels::ActKind::kClip:
      if (allow_clip) {
        SLIM_CHECK(!std::isnan(act.alpha) && !std::isnan(act.beta), attrs.owner(),
                   ": activation Clip has a NaN bound in activation_params");
        qmin = qbound(act.alpha, y_scale, y_zp);
        qmax = qbound(act.beta, y_scale, y_zp);
        // Clip with min > max gives max everywhere (min(max(x, lo), hi)).
        if (qmin > qmax) qmin = qmax;
        return;
      }
      break;
    default: break;
  }
  fail(attrs.owner(), ": fused activation '", kernels::act_name(act.kind), "' is not supported on a quantized op (",
       allow_clip ? "Relu or Clip" : "Relu", " only; the converter turns other activations into a QLinearLookup)");
}

float checked_multiplier(const PrepareContext& c, float m, const char* what) {
  if (!(std::isfinite(m) && m > 0.0f))
    c.error("requantization multiplier ", what, " = ", m, " is not a finite positive float32 (scales out of range)");
  return m;
}

void run_nhwc_any(const KernelContext& ctx, const TensorRef& x, const TensorRef& y,
                  const std::function<void(const void* x_nhwc, void* y_nhwc)>& fn) {
  if (x.layout == Layout::kNhwc && y.layout == Layout::kNhwc) return fn(x.data, y.data);
  std::shared_ptr<void> x_copy, y_copy;
  TensorRef xn = x, yn = y;
  if (x.layout != Layout::kNhwc) {
    x_copy = aligned_buffer(x.bytes());
    xn = TensorRef{x_copy.get(), x.dtype, x.shape, Layout::kNhwc};
    convert_layout(x, xn, ctx.pool);
  }
  if (y.layout != Layout::kNhwc) {
    y_copy = aligned_buffer(y.bytes());
    yn = TensorRef{y_copy.get(), y.dtype, y.shape, Layout::kNhwc};
  }
  fn(xn.data, yn.data);
  if (y_copy) convert_layout(yn, y, ctx.pool);
}

void parallel_chunks(const KernelContext& ctx, int64_t n, int64_t chunk,
                     const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t chunks = (n + chunk - 1) / chunk;
  ctx.parallel_for(chunks, 1, [&](int64_t b, int64_t e) { fn(b * chunk, std::min(n, e * chunk)); });
}

void split_q8_gemm(const KernelContext& ctx, const kernels::Q8GemmKernel& k, int64_t m, int64_t n,
                   const std::function<void(kernels::Range rows, kernels::Range cols)>& fn) {
  if (m <= 0 || n <= 0) return;
  const int64_t mr = k.tile_rows, nr = k.tile_cols;
  const int64_t row_tiles = (m + mr - 1) / mr, panels = (n + nr - 1) / nr;
  const int64_t want = 2 * static_cast<int64_t>(std::max(1, ctx.pool.threads()));
  // Column blocks only when the rows alone cannot keep every thread busy (a batch-1 classifier).
  const int64_t col_blocks = row_tiles >= want ? 1 : std::min(panels, (want + row_tiles - 1) / row_tiles);
  const int64_t panels_per_block = (panels + col_blocks - 1) / col_blocks;
  ctx.parallel_for(row_tiles * col_blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t rt = t / col_blocks, cb = t % col_blocks;
      const int64_t c0 = cb * panels_per_block * nr;
      if (c0 >= n) continue;
      fn({rt * mr, std::min(m, (rt + 1) * mr)}, {c0, std::min(n, c0 + panels_per_block * nr)});
    }
  });
}

}  // namespace slim
