// Normalizations: BatchNormalization (inference, per-channel affine in any
// layout; the converter usually folds it into Conv), InstanceNormalization,
// LayerNormalization.
#include <algorithm>
#include <cmath>

#include "ops/common.h"

namespace slim {
namespace {

// ---- BatchNormalization -----------------------------------------------------
struct ChannelAffine {
  std::vector<float> scale, shift;  // y = x * scale[c] + shift[c]
};

const float* const_floats(const PrepareContext& ctx, size_t i, int64_t n, const char* what) {
  const TensorRef* t = ctx.constant(i);
  if (t == nullptr) ctx.error(what, " (input ", i, ") must be a constant");
  if (t->dtype != DType::kFloat32 || t->numel() != n)
    ctx.error(what, " must be float32 with ", n, " values, got ", dtype_name(t->dtype), " ", shape_str(t->shape));
  return t->ptr<const float>();
}

std::shared_ptr<void> prepare_bn(PrepareContext& ctx) {
  if (ctx.attrs.get_int("training_mode", 0) != 0) ctx.error("training_mode is not supported (inference only)");
  const TensorRef* s = ctx.constant(1);
  if (s == nullptr) ctx.error("scale (input 1) must be a constant");
  const int64_t c = s->numel();
  const float* scale = const_floats(ctx, 1, c, "scale");
  const float* bias = const_floats(ctx, 2, c, "B");
  const float* mean = const_floats(ctx, 3, c, "input_mean");
  const float* var = const_floats(ctx, 4, c, "input_var");
  const float eps = ctx.attrs.get_float("epsilon", 1e-5f);
  auto st = std::make_shared<ChannelAffine>();
  st->scale.resize(static_cast<size_t>(c));
  st->shift.resize(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    st->scale[i] = scale[i] / std::sqrt(var[i] + eps);
    st->shift[i] = bias[i] - mean[i] * st->scale[i];
  }
  return st;
}

void infer_bn(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  if (x.size() < 2) ctx.error("expects rank >= 2, got ", shape_str(x));
  for (size_t i = 1; i < 5; ++i)
    if (ctx.input_shape(i) != Shape{x[1]}) ctx.error("input ", i, " must have shape [", x[1], "]");
  ctx.set_output(0, DType::kFloat32, x);
}

void bn_kernel(const KernelContext& ctx) {
  const ChannelAffine& st = ctx.state<ChannelAffine>();
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  std::vector<int64_t> cs(static_cast<size_t>(y.rank()), 0);
  cs[1] = 1;
  const StridedLoop loop(y.shape, y.layout, {logical_strides(y.shape, y.layout), logical_strides(x.shape, x.layout), cs});
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(loop.rows(), 1, [&](int64_t begin, int64_t end) {
    int64_t off[3];
    for (int64_t r = begin; r < end; ++r) {
      loop.offsets(r, off);
      const int64_t s0 = loop.inner_stride(0), s1 = loop.inner_stride(1), s2 = loop.inner_stride(2);
      for (int64_t i = 0; i < loop.inner(); ++i) {
        const int64_t c = off[2] + i * s2;
        yp[off[0] + i * s0] = xp[off[1] + i * s1] * st.scale[c] + st.shift[c];
      }
    }
  });
}

// ---- InstanceNormalization (plain layout) ----------------------------------
void infer_in(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  if (x.size() < 3) ctx.error("expects rank >= 3, got ", shape_str(x));
  for (size_t i = 1; i < 3; ++i) {
    require_dtype(ctx, i, {DType::kFloat32}, i == 1 ? "scale" : "B");
    if (ctx.input_shape(i) != Shape{x[1]}) ctx.error("input ", i, " must have shape [", x[1], "]");
  }
  ctx.set_output(0, DType::kFloat32, x);
}

void in_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  const int64_t n = x.shape[0], c = x.shape[1], spatial = x.numel() / std::max<int64_t>(1, n * c);
  const float* scale = ctx.inputs[1].ptr<const float>();
  const float* bias = ctx.inputs[2].ptr<const float>();
  SLIM_CHECK(ctx.inputs[1].numel() == c && ctx.inputs[2].numel() == c, ctx.attrs.owner(),
             ": scale and B must have ", c, " values");
  const float eps = ctx.attrs.get_float("epsilon", 1e-5f);
  const float* xp = x.ptr<const float>();
  float* yp = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* src = xp + i * spatial;
      double mean = 0.0, var = 0.0;
      for (int64_t p = 0; p < spatial; ++p) mean += src[p];
      mean /= static_cast<double>(spatial);
      for (int64_t p = 0; p < spatial; ++p) var += (src[p] - mean) * (src[p] - mean);
      var /= static_cast<double>(spatial);
      const float a = scale[i % c] / static_cast<float>(std::sqrt(var + eps));
      const float b = bias[i % c] - static_cast<float>(mean) * a;
      for (int64_t p = 0; p < spatial; ++p) yp[i * spatial + p] = src[p] * a + b;
    }
  });
}

// ---- LayerNormalization (plain layout, normalized over axis..end) ----------
void infer_ln(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  const int axis = normalize_axis(ctx.attrs().get_int("axis", -1), static_cast<int>(x.size()), "axis");
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis); d < x.size(); ++d) inner *= x[d];
  // The kernel reads scale and B as `inner` values (or one broadcast value).
  for (size_t i = 1; i < 3 && ctx.has_input(i); ++i) {
    require_dtype(ctx, i, {DType::kFloat32}, i == 1 ? "scale" : "B");
    int64_t n = 0;
    checked_numel(ctx.input_shape(i), kMaxElements, &n);
    if (n != inner && n != 1) ctx.error(i == 1 ? "scale " : "B ", shape_str(ctx.input_shape(i)), " must have ", inner, " values");
  }
  ctx.set_output(0, DType::kFloat32, x);
  Shape stat = x;
  for (size_t d = static_cast<size_t>(axis); d < stat.size(); ++d) stat[d] = 1;
  for (size_t o = 1; o < ctx.num_outputs(); ++o) ctx.set_output(o, DType::kFloat32, stat);
}

struct LayerNormState {
  const kernels::F32LayerNormKernel* layernorm = nullptr;
};

std::shared_ptr<void> prepare_ln(PrepareContext& ctx) {
  auto st = std::make_shared<LayerNormState>();
  st->layernorm = ctx.use(ctx.kernels.f32_layernorm);
  return st;
}

void ln_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  const int axis = normalize_axis(ctx.attrs.get_int("axis", -1), x.rank(), "axis");
  int64_t inner = 1;
  for (int d = axis; d < x.rank(); ++d) inner *= x.shape[d];
  const int64_t outer = inner == 0 ? 0 : x.numel() / inner;
  const TensorRef& sc = ctx.inputs[1];
  const bool has_bias = ctx.inputs.size() > 2 && ctx.inputs[2].data != nullptr;
  // Scale/B broadcast against the normalized dims; the common case is exactly `inner` values.
  SLIM_CHECK(sc.numel() == inner || sc.numel() == 1, ctx.attrs.owner(), ": scale must have ", inner, " values");
  SLIM_CHECK(!has_bias || ctx.inputs[2].numel() == inner || ctx.inputs[2].numel() == 1, ctx.attrs.owner(),
             ": B must have ", inner, " values");
  // The kernel takes full-length scale and bias rows; a single broadcast value is spread out here.
  std::vector<float> scale_row, bias_row;
  const float* s = sc.ptr<const float>();
  const float* b = has_bias ? ctx.inputs[2].ptr<const float>() : nullptr;
  if (sc.numel() == 1 && inner > 1) {
    scale_row.assign(static_cast<size_t>(inner), s[0]);
    s = scale_row.data();
  }
  if (b != nullptr && ctx.inputs[2].numel() == 1 && inner > 1) {
    bias_row.assign(static_cast<size_t>(inner), b[0]);
    b = bias_row.data();
  }
  const float eps = ctx.attrs.get_float("epsilon", 1e-5f);
  const float* xp = x.ptr<const float>();
  float* yp = ctx.outputs[0].ptr<float>();
  float* mean_out = ctx.outputs.size() > 1 ? ctx.outputs[1].ptr<float>() : nullptr;
  float* inv_out = ctx.outputs.size() > 2 ? ctx.outputs[2].ptr<float>() : nullptr;
  const kernels::F32LayerNormKernel& k = *ctx.state<LayerNormState>().layernorm;
  ctx.parallel_for(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
    kernels::layer_norm(k, xp + begin * inner, yp + begin * inner, end - begin, inner, s, b, eps,
                        mean_out ? mean_out + begin : nullptr, inv_out ? inv_out + begin : nullptr);
  });
}

OpDef float_def(const char* type, int min_in, int max_in, LayoutPolicy layout, InferFn infer, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(min_in, max_in)
      .outputs(1)
      .layout(layout)
      .infer(std::move(infer))
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(BatchNormalization) {
  return float_def("BatchNormalization", 5, 5, LayoutPolicy::kAgnostic, infer_bn, bn_kernel).prepare(prepare_bn);
}
DEFINE_OP(InstanceNormalization) {
  return float_def("InstanceNormalization", 3, 3, LayoutPolicy::kPlain, infer_in, in_kernel);
}
DEFINE_OP(LayerNormalization) {
  return float_def("LayerNormalization", 2, 3, LayoutPolicy::kPlain, infer_ln, ln_kernel)
      .outputs(1, 3)
      .prepare(prepare_ln);
}
