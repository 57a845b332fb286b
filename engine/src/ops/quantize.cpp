// QuantizeLinear (f32 -> uint8) and DequantizeLinear (uint8 / int8 / int32 ->
// f32), per tensor or per axis (engine/QUANTIZED.md), on the kernels
// library's q8_quantize / q8_dequantize variants chosen at load. Elementwise,
// so any layout: a per-axis scale walks the axis in memory order
// (physical_axis), one kernel call per run of one channel.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/qlinear_common.h"

namespace slim {
namespace {

struct QuantState {
  QParams q;  // one value per tensor, or one per index of `axis`
  int64_t axis = 1;
  const kernels::Q8QuantizeKernel* quantize = nullptr;
  const kernels::Q8DequantizeKernel* dequantize = nullptr;
  std::vector<float> constant_output;  // DequantizeLinear of a constant x, computed at load
};

// Shared attribute checks: axis (normalized against x's rank at plan time) and
// the opset-21 blocked form, which the engine does not run.
void check_block_size(const Attributes& attrs) {
  if (attrs.get_int("block_size", 0) != 0)
    fail(attrs.owner(), ": attribute 'block_size' (blocked quantization) is not supported");
}

// Per-axis parameters need x's length along `axis`; per-tensor ones anything.
void check_axis_length(const InferContext& ctx, size_t scale_input) {
  const Shape& x = ctx.input_shape(0);
  const int64_t n = numel(ctx.input_shape(scale_input));
  if (ctx.input_shape(scale_input).size() > 1) ctx.error("scale (input ", scale_input, ") must be a scalar or 1-D");
  if (n == 1 && ctx.input_shape(scale_input).size() <= 1) return;
  if (x.empty()) ctx.error("a per-axis scale needs an input of rank >= 1");
  const int axis = normalize_axis(ctx.attrs().get_int("axis", 1), static_cast<int>(x.size()), "axis");
  if (x[axis] != n)
    ctx.error("per-axis scale (input ", scale_input, ") has ", n, " values but axis ", axis, " of input ", shape_str(x),
              " has ", x[axis]);
}

// Run `fn(begin, end, channel)` over contiguous runs of one channel of x (per-tensor: channel 0).
void for_each_run(const KernelContext& ctx, const TensorRef& x, const QuantState& st,
                  const std::function<void(int64_t, int64_t, size_t)>& fn) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (!st.q.per_channel()) {
    parallel_chunks(ctx, n, 1 << 15, [&](int64_t b, int64_t e) { fn(b, e, 0); });
    return;
  }
  const Shape phys = physical_shape(x.shape, x.layout);
  const int pa = physical_axis(st.axis, x.rank(), x.layout);
  int64_t inner = 1;
  for (int d = pa + 1; d < x.rank(); ++d) inner *= phys[d];
  const int64_t channels = phys[pa], runs = n / inner;
  ctx.parallel_for(runs, std::max<int64_t>(1, 4096 / inner), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) fn(r * inner, (r + 1) * inner, static_cast<size_t>(r % channels));
  });
}

// ---- QuantizeLinear -----------------------------------------------------------
// Inputs: x (float32), y_scale, y_zero_point (optional; uint8).
void infer_quantize(InferContext& ctx) {
  check_block_size(ctx.attrs());
  if (ctx.has_input(2) && ctx.input_dtype(2) == DType::kInt8)
    ctx.error("int8 output (y_zero_point int8) is not supported: activations are uint8 in the engine, and the "
              "converter maps int8 activations to uint8 (zero point + 128)");
  if (ctx.attrs().has("output_dtype") && ctx.attrs().get_int("output_dtype") != static_cast<int64_t>(DType::kUInt8))
    ctx.error("attribute 'output_dtype' = ", ctx.attrs().get_int("output_dtype"), " is not supported (uint8 only; the "
              "converter maps int8 activations to uint8)");
  check_qparam_dtypes(ctx, 1, 2, QParamsSpec{"y", {DType::kUInt8}, 0, 1, true});
  check_axis_length(ctx, 1);
  ctx.set_output(0, DType::kUInt8, ctx.input_shape(0));
}

std::shared_ptr<void> prepare_quantize(PrepareContext& ctx) {
  check_block_size(ctx.attrs);
  if (ctx.has_input(2) && ctx.inputs[2]->dtype == DType::kInt8)
    ctx.error("int8 output (y_zero_point int8) is not supported: activations are uint8 in the engine, and the "
              "converter maps int8 activations to uint8 (zero point + 128)");
  auto st = std::make_shared<QuantState>();
  st->axis = ctx.attrs.get_int("axis", 1);
  // Per-axis length is checked against x's shape at plan time.
  st->q = read_qparams(ctx, 1, 2, QParamsSpec{"y", {DType::kUInt8}, -1, 1, true});
  st->quantize = ctx.use(ctx.kernels.q8_quantize);
  return st;
}

void quantize_kernel(const KernelContext& ctx) {
  const QuantState& st = ctx.state<QuantState>();
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": internal error: layouts differ");
  const float* xp = x.ptr<const float>();
  uint8_t* yp = y.ptr<uint8_t>();
  for_each_run(ctx, x, st, [&](int64_t b, int64_t e, size_t c) {
    kernels::q8_quantize(*st.quantize, xp + b, st.q.scale[c], st.q.zp[c], yp + b, e - b);
  });
}

// ---- DequantizeLinear ---------------------------------------------------------
// Inputs: x (uint8, int8 or int32), x_scale, x_zero_point (optional; x's dtype).
void infer_dequantize(InferContext& ctx) {
  check_block_size(ctx.attrs());
  const DType xd = ctx.input_dtype(0);
  check_qparam_dtypes(ctx, 1, 2, QParamsSpec{"x", {xd}, 0, 1, true});
  check_axis_length(ctx, 1);
  ctx.set_output(0, DType::kFloat32, ctx.input_shape(0));
}

// y = float(x - zp) * scale over [b, e) of one channel, through q8_dequantize
// (int8 codes shifted by +128 in blocks, with the zero point shifted the same);
// int32 has no kernel: its zero point is 0 and y = float(x) * scale.
void dequantize_run(const kernels::Q8DequantizeKernel& k, const TensorRef& x, float scale, int32_t zp, float* y,
                    int64_t b, int64_t e) {
  switch (x.dtype) {
    case DType::kUInt8: return kernels::q8_dequantize(k, x.ptr<const uint8_t>() + b, scale, zp, y + b, e - b);
    case DType::kInt8: {
      uint8_t buf[4096];
      const int8_t* xp = x.ptr<const int8_t>();
      for (int64_t i = b; i < e; i += 4096) {
        const int64_t n = std::min<int64_t>(4096, e - i);
        for (int64_t j = 0; j < n; ++j) buf[j] = static_cast<uint8_t>(xp[i + j] + 128);
        kernels::q8_dequantize(k, buf, scale, zp + 128, y + i, n);
      }
      return;
    }
    case DType::kInt32: {
      const int32_t* xp = x.ptr<const int32_t>();
      for (int64_t i = b; i < e; ++i) y[i] = static_cast<float>(xp[i]) * scale;
      return;
    }
    default: fail("DequantizeLinear: unsupported input dtype ", dtype_name(x.dtype));
  }
}

std::shared_ptr<void> prepare_dequantize(PrepareContext& ctx) {
  check_block_size(ctx.attrs);
  const DType xd = ctx.inputs[0]->dtype;
  auto st = std::make_shared<QuantState>();
  st->axis = ctx.attrs.get_int("axis", 1);
  st->q = read_qparams(ctx, 1, 2, QParamsSpec{"x", {xd}, -1, 1, true});
  if (xd == DType::kInt32)
    for (size_t i = 0; i < st->q.zp.size(); ++i)
      if (st->q.zp[i] != 0) ctx.error("x_zero_point (input 2) must be 0 for an int32 input, got ", st->q.zp[i]);
  st->dequantize = ctx.use(ctx.kernels.q8_dequantize);
  // A constant x (the weights of a float island) is dequantized once, here.
  const TensorRef* x = ctx.constant(0);
  if (x != nullptr) {
    const int64_t n = x->numel();
    st->constant_output.resize(static_cast<size_t>(n));
    if (n > 0) {
      int64_t inner = n;
      size_t channels = 1;
      if (st->q.per_channel()) {
        const int axis = normalize_axis(st->axis, x->rank(), "axis");
        if (x->shape[axis] != static_cast<int64_t>(st->q.scale.size()))
          ctx.error("per-axis x_scale (input 1) has ", st->q.scale.size(), " values but axis ", axis, " of x ",
                    shape_str(x->shape), " has ", x->shape[axis]);
        inner = 1;
        for (int d = axis + 1; d < x->rank(); ++d) inner *= x->shape[d];
        channels = st->q.scale.size();
      }
      for (int64_t r = 0; r < n / inner; ++r) {
        const size_t c = static_cast<size_t>(r) % channels;
        dequantize_run(*st->dequantize, *x, st->q.scale[c], st->q.zp[c], st->constant_output.data(), r * inner,
                       (r + 1) * inner);
      }
    }
  }
  return st;
}

void dequantize_kernel(const KernelContext& ctx) {
  const QuantState& st = ctx.state<QuantState>();
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": internal error: layouts differ");
  float* yp = y.ptr<float>();
  if (!st.constant_output.empty() && x.layout == Layout::kPlain &&
      static_cast<int64_t>(st.constant_output.size()) == y.numel()) {
    std::memcpy(yp, st.constant_output.data(), st.constant_output.size() * sizeof(float));
    return;
  }
  for_each_run(ctx, x, st, [&](int64_t b, int64_t e, size_t c) {
    dequantize_run(*st.dequantize, x, st.q.scale[c], st.q.zp[c], yp, b, e);
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(QuantizeLinear) {
  return OpDef("QuantizeLinear")
      .dtypes({DType::kFloat32})
      .inputs(2, 3)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_quantize)
      .prepare(prepare_quantize)
      .kernel(quantize_kernel);
}

DEFINE_OP(DequantizeLinear) {
  return OpDef("DequantizeLinear")
      .dtypes({DType::kUInt8, DType::kInt8, DType::kInt32})
      .inputs(2, 3)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_dequantize)
      .prepare(prepare_dequantize)
      .kernel(dequantize_kernel);
}
