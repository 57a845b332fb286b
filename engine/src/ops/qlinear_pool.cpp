// QLinearGlobalAveragePool (com.microsoft; engine/QUANTIZED.md): uint8
// [N, C, spatial...] -> [N, C, 1...], y = nearbyint((sum - n * x_zp) *
// x_scale / (n * y_scale)) + y_zp, on the q8_gavgpool variant chosen at load.
// NHWC images (what a kNhwc op is handed) reduce whole channel vectors per
// pixel with threads splitting the channels; a plain input is the one-channel
// case with N * C images. QLinearAveragePool is not implemented: the kernels
// library has no windowed int8 average pool.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "ops/qlinear_common.h"

namespace slim {
namespace {

// Inputs: X, x_scale, x_zero_point, y_scale, y_zero_point.
struct QGapState {
  float x_scale = 1.0f, y_scale = 1.0f;
  int32_t x_zp = 0, y_zp = 0;
  const kernels::Q8GlobalAvgPoolKernel* pool = nullptr;
};

void check_channels_last(const Attributes& attrs) {
  if (attrs.get_int("channels_last", 0) != 0)
    fail(attrs.owner(), ": attribute 'channels_last' must be 0 (the input is [N, C, H, W]; the engine chooses the "
         "memory layout itself)");
}

void infer_qgap(InferContext& ctx) {
  check_channels_last(ctx.attrs());
  check_qparam_dtypes(ctx, 1, 2, QParamsSpec{"x", {DType::kUInt8}});
  check_qparam_dtypes(ctx, 3, 4, QParamsSpec{"y", {DType::kUInt8}});
  const Shape& x = ctx.input_shape(0);
  if (x.size() < 3) ctx.error("expects an input of rank >= 3 (N, C, spatial...), got ", shape_str(x));
  int64_t pixels = 1;
  for (size_t d = 2; d < x.size(); ++d) pixels *= x[d];
  if (pixels == 0) ctx.error("input ", shape_str(x), " has an empty spatial dim");
  // The int32 sum of a channel: at most 255 * pixels.
  if (pixels > std::numeric_limits<int32_t>::max() / 255)
    ctx.error("input ", shape_str(x), " has too many pixels per channel for an int32 sum");
  Shape out = x;
  for (size_t d = 2; d < out.size(); ++d) out[d] = 1;
  ctx.set_output(0, DType::kUInt8, out);
}

std::shared_ptr<void> prepare_qgap(PrepareContext& ctx) {
  check_channels_last(ctx.attrs);
  auto st = std::make_shared<QGapState>();
  const QParams xq = read_qparams(ctx, 1, 2, QParamsSpec{"x", {DType::kUInt8}});
  const QParams yq = read_qparams(ctx, 3, 4, QParamsSpec{"y", {DType::kUInt8}});
  st->x_scale = xq.scale[0];
  st->x_zp = xq.zp[0];
  st->y_scale = yq.scale[0];
  st->y_zp = yq.zp[0];
  checked_multiplier(ctx, st->x_scale / st->y_scale, "x_scale / y_scale");
  st->pool = ctx.use(ctx.kernels.q8_gavgpool);
  return st;
}

void qgap_kernel(const KernelContext& ctx) {
  const QGapState& st = ctx.state<QGapState>();
  const TensorRef &xt = ctx.inputs[0], &yt = ctx.outputs[0];
  if (yt.numel() == 0) return;
  const int64_t n = xt.shape[0], c = xt.shape[1], pixels = xt.numel() / (n * c);
  kernels::QGlobalAvgPoolParams p;
  p.x_zp = st.x_zp;
  p.y_zp = st.y_zp;
  // ONNX Runtime's (MLAS) expression: x_scale / (y_scale * pixels).
  p.multiplier = st.x_scale / (st.y_scale * static_cast<float>(pixels));
  SLIM_CHECK(std::isfinite(p.multiplier) && p.multiplier > 0.0f, ctx.attrs.owner(),
             ": requantization multiplier x_scale / (y_scale * pixels) = ", p.multiplier, " is out of range");
  const auto* x = xt.ptr<const uint8_t>();
  auto* y = yt.ptr<uint8_t>();  // [N, C, 1...]: identical memory in either layout
  if (xt.layout == Layout::kNhwc && xt.rank() == 4) {
    ctx.parallel_for(c, 64, [&](int64_t b, int64_t e) {
      kernels::q8_global_avg_pool(*st.pool, n, pixels, c, x, p, y, {b, e});
    });
    return;
  }
  ctx.parallel_for(n * c, 1, [&](int64_t b, int64_t e) {
    kernels::q8_global_avg_pool(*st.pool, e - b, pixels, 1, x + b * pixels, p, y + b, {0, 1});
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(QLinearGlobalAveragePool) {
  return OpDef("QLinearGlobalAveragePool")
      .dtypes({DType::kUInt8})
      .inputs(5)
      .outputs(1)
      .layout(LayoutPolicy::kNhwc)
      .infer(infer_qgap)
      .prepare(prepare_qgap)
      .kernel(qgap_kernel);
}
