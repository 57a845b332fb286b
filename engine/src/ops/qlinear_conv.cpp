// QLinearConv (engine/QUANTIZED.md): uint8 NHWC activations, int8 symmetric
// weights (per tensor or per output channel), int32 bias, requantized with an
// fp32 multiplier per output channel; dense and grouped convolutions run the
// q8_gemm variant chosen at load (1x1 directly, k x k through im2col),
// depthwise ones the q8_dwconv variant. A fused Relu / Clip (`activation`,
// `activation_params`, as on Conv) becomes the integer clamp of the epilogue.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned.h"
#include "ops/conv_geometry.h"
#include "ops/qlinear_common.h"

namespace slim {
namespace {

// Inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B (optional).
enum : size_t { kX = 0, kXScale, kXZp, kW, kWScale, kWZp, kYScale, kYZp, kBias };

struct QConvState {
  kernels::Conv2dShape shape;  // everything but the input size (and pads under auto_pad)
  AutoPad auto_pad = AutoPad::kNotSet;
  const kernels::Q8GemmKernel* gemm = nullptr;      // dense and grouped
  const kernels::Q8DwconvKernel* dwconv = nullptr;  // depthwise
  PackedBuffer<int8_t> packed;                      // weights packed for the chosen variant
  std::vector<int32_t> bias;                        // B[n] - x_zp * sum_k w[k, n]
  std::vector<float> multiplier;                    // (x_scale * w_scale[n]) / y_scale, out_c values
  uint8_t x_zp = 0;
  int32_t y_zp = 0, qmin = 0, qmax = 255;
};


const QParamsSpec kXSpec{"x", {DType::kUInt8}};
const QParamsSpec kYSpec{"y", {DType::kUInt8}};
QParamsSpec w_spec(int64_t out_c) { return QParamsSpec{"w", {DType::kInt8}, out_c}; }

void infer_qconv(InferContext& ctx) {
  const Shape& x = ctx.input_shape(kX);
  const Shape& w = ctx.input_shape(kW);
  if (x.size() != 4) ctx.error("expects a rank-4 input (N, C, H, W), got ", shape_str(x));
  check_qparam_dtypes(ctx, kXScale, kXZp, kXSpec);
  if (ctx.input_dtype(kW) != DType::kInt8)
    ctx.error("w (input 3) has dtype ", dtype_name(ctx.input_dtype(kW)),
              ", expected int8 (symmetric weights; the converter maps uint8 weights with zero point 128 to int8)");
  check_qparam_dtypes(ctx, kWScale, kWZp, w_spec(0));
  check_qparam_dtypes(ctx, kYScale, kYZp, kYSpec);
  kernels::Conv2dShape s = read_conv_geometry(ctx.attrs(), w);
  if (x[1] != s.in_c)
    ctx.error("input has ", x[1], " channels but weight ", shape_str(w), " with group ", s.groups, " expects ", s.in_c);
  if (ctx.has_input(kBias)) {
    require_dtype(ctx, kBias, {DType::kInt32}, "B");
    if (ctx.input_shape(kBias) != Shape{w[0]})
      ctx.error("B (input 8) shape ", shape_str(ctx.input_shape(kBias)), " must be [", w[0], "]");
  }
  if (!conv_at_input(s, read_auto_pad(ctx.attrs()), x))
    ctx.error("input ", shape_str(x), " is smaller than the (dilated, padded) kernel ", s.kernel_h, "x", s.kernel_w);
  if (x[2] == 0 || x[3] == 0) ctx.error("input ", shape_str(x), " has an empty spatial dim");
  ctx.set_output(0, DType::kUInt8, {x[0], w[0], s.out_h(), s.out_w()});
}

std::shared_ptr<void> prepare_qconv(PrepareContext& ctx) {
  const TensorRef* w = ctx.constant(kW);
  if (w == nullptr) ctx.error("w (input 3) must be a constant");
  if (w->dtype != DType::kInt8)
    ctx.error("w (input 3) has dtype ", dtype_name(w->dtype),
              ", expected int8 (symmetric weights; the converter maps uint8 weights with zero point 128 to int8)");
  auto st = std::make_shared<QConvState>();
  st->shape = read_conv_geometry(ctx.attrs, w->shape);
  st->auto_pad = read_auto_pad(ctx.attrs);
  const kernels::Conv2dShape& s = st->shape;

  const QParams xq = read_qparams(ctx, kXScale, kXZp, kXSpec);
  const QParams wq = read_qparams(ctx, kWScale, kWZp, w_spec(s.out_c));
  const QParams yq = read_qparams(ctx, kYScale, kYZp, kYSpec);
  for (size_t i = 0; i < wq.zp.size(); ++i)
    if (wq.zp[i] != 0)
      ctx.error("w_zero_point (input 5) must be 0 (symmetric int8 weights), got ", wq.zp[i],
                wq.zp.size() > 1 ? " at index " + std::to_string(i) : std::string());
  st->x_zp = static_cast<uint8_t>(xq.zp[0]);
  st->y_zp = yq.zp[0];
  fused_qclamp(ctx.attrs, yq.scale[0], st->y_zp, true, st->qmin, st->qmax);

  st->multiplier.resize(static_cast<size_t>(s.out_c));
  for (int64_t n = 0; n < s.out_c; ++n) {
    const float ws = wq.scale[wq.per_channel() ? static_cast<size_t>(n) : 0];
    st->multiplier[n] = checked_multiplier(ctx, (xq.scale[0] * ws) / yq.scale[0], "x_scale * w_scale / y_scale");
  }

  // Packing depends only on channels, kernel size and groups, not on the image.
  std::vector<int32_t> col_sums(static_cast<size_t>(s.out_c));
  const int8_t* src = w->ptr<const int8_t>();
  const int64_t taps = s.kernel_h * s.kernel_w;
  if (s.is_depthwise()) {
    // The depthwise kernel sums in fp32, exact while |sum| < 2^24.
    if (taps > 514)
      ctx.error("depthwise kernel ", s.kernel_h, "x", s.kernel_w, " has more than 514 taps (its fp32 sum would not be "
                "exact)");
    st->dwconv = ctx.use(ctx.kernels.q8_dwconv);
    st->packed.resize(static_cast<size_t>(kernels::q8_depthwise_packed_weight_bytes(s)));
    kernels::q8_depthwise_pack_weights(s, src, st->packed.data(), col_sums.data());
  } else {
    st->gemm = ctx.use(ctx.kernels.q8_gemm);
    st->packed.resize(static_cast<size_t>(kernels::q8_conv2d_packed_weight_bytes(*st->gemm, s)));
    kernels::q8_conv2d_pack_weights(*st->gemm, s, src, st->packed.data(), col_sums.data());
  }

  // bias' = B - x_zp * colsum, and the worst-case accumulator, must fit int32.
  const int64_t k = taps * (s.in_c / s.groups);
  const int32_t* b = nullptr;
  if (ctx.has_input(kBias)) {
    const TensorRef* bt = ctx.constant(kBias);
    if (bt == nullptr) ctx.error("B (input 8) must be a constant");
    if (bt->dtype != DType::kInt32 || bt->numel() != s.out_c)
      ctx.error("B (input 8) must be int32 [", s.out_c, "], got ", dtype_name(bt->dtype), " ", shape_str(bt->shape));
    b = bt->ptr<const int32_t>();
  }
  st->bias.resize(static_cast<size_t>(s.out_c));
  // sum_k a * w, sum_k (a - x_zp) * w + B and bias' each fit int32, so the kernel's acc + bias' never overflows.
  const int64_t worst_sum = k * 255 * 128;
  for (int64_t n = 0; n < s.out_c; ++n) {
    const int64_t bn = b ? int64_t{b[n]} : 0;
    const int64_t v = bn - int64_t{st->x_zp} * col_sums[n];
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max() ||
        worst_sum + (bn < 0 ? -bn : bn) > std::numeric_limits<int32_t>::max())
      ctx.error("the int32 accumulator of output channel ", n, " can overflow (K = ", k, ", B = ", bn,
                ", B - x_zero_point * sum(w) = ", v, ")");
    st->bias[n] = static_cast<int32_t>(v);
  }
  return st;
}

void qconv_kernel(const KernelContext& ctx) {
  const QConvState& st = ctx.state<QConvState>();
  if (ctx.outputs[0].numel() == 0) return;  // batch 0
  kernels::Conv2dShape s = st.shape;
  conv_at_input(s, st.auto_pad, ctx.inputs[kX].shape);
  kernels::QEpilogue ep;
  ep.bias = st.bias.data();
  ep.scale = st.multiplier.data();
  ep.zero_point = st.y_zp;
  ep.qmin = st.qmin;
  ep.qmax = st.qmax;
  run_nhwc_any(ctx, ctx.inputs[kX], ctx.outputs[0], [&](const void* xv, void* yv) {
    const auto* x = static_cast<const uint8_t*>(xv);
    auto* y = static_cast<uint8_t*>(yv);
    if (st.dwconv != nullptr) {
      ctx.parallel_for(s.out_rows(), 1, [&](int64_t b, int64_t e) {
        kernels::q8_depthwise_conv2d(*st.dwconv, s, x, st.x_zp, st.packed.data(), y, ep, {b, e});
      });
      return;
    }
    // Whole micro-tiles of output pixels per thread, each with its own im2col scratch.
    const int64_t tile = st.gemm->tile_rows;
    const int64_t pixels = s.out_pixels(), tiles = (pixels + tile - 1) / tile;
    const int64_t scratch = kernels::q8_conv2d_scratch_bytes(*st.gemm, s);
    ctx.parallel_for(tiles, 1, [&](int64_t b, int64_t e) {
      std::vector<uint8_t> buf(static_cast<size_t>(scratch));
      kernels::q8_conv2d(*st.gemm, s, x, st.x_zp, st.packed.data(), y, ep, {b * tile, std::min(pixels, e * tile)},
                         scratch ? buf.data() : nullptr);
    });
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(QLinearConv) {
  return OpDef("QLinearConv")
      .dtypes({DType::kUInt8})
      .inputs(8, 9)
      .outputs(1)
      .layout(LayoutPolicy::kNhwc)
      .infer(infer_qconv)
      .prepare(prepare_qconv)
      .kernel(qconv_kernel);
}
