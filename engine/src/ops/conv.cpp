// Conv (2-D): groups, dilations, strides, asymmetric pads, auto_pad and the
// converter's fused activation, on the kernels library's f32_gemm (dense and
// grouped, via im2col) or f32_dwconv (depthwise) variant chosen at load.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned.h"
#include "ops/common.h"
#include "ops/conv_geometry.h"
#include "ops/fused_activation.h"

namespace slim {
namespace {

struct ConvState {
  // Everything but the input size (batch, in_h, in_w, and pads under auto_pad).
  kernels::Conv2dShape shape;
  AutoPad auto_pad = AutoPad::kNotSet;
  kernels::Activation act;
  std::vector<float> bias;  // out_c values (zeros when absent)
  const kernels::F32GemmKernel* gemm = nullptr;      // dense and grouped
  const kernels::F32DwconvKernel* dwconv = nullptr;  // depthwise
  const kernels::F32VactKernel* vact = nullptr;      // set: Winograd F(2x2, 3x3), its activation pass
  PackedBuffer<float> packed;                        // weights packed for the chosen variant
  // A weight (or bias) computed by the graph (ONNX allows it; exporters of dynamic filters and ONNX's own
  // test cases do it): packed on every run instead of once. No Winograd and no channel scale then.
  bool runtime_weights = false;
  bool runtime_bias = false;
  // With a channel scale (input 3, see below): the 1x1 weights as [out_c][in_c], to rescale per image.
  std::vector<float> weights_oc;
};

// Input 3, an engine addition: a per-image, per-input-channel scale [N, C, 1, 1]
// applied to X before a dense 1x1 convolution. The converter's se_scale_fusion
// pass writes it for a squeeze-excite gate (Mul(x, gate) -> 1x1 Conv): the
// scale goes into the weights (out_c x in_c multiplies per image) instead of
// into the activation (pixels x in_c) when there are more pixels than output
// channels, so the gated tensor is never written.
bool is_pointwise(const kernels::Conv2dShape& s) {
  return s.groups == 1 && s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 &&
         s.dilation_h == 1 && s.dilation_w == 1 && s.pad_top == 0 && s.pad_left == 0 && s.pad_bottom == 0 &&
         s.pad_right == 0;
}


void infer_conv(InferContext& ctx) {
  const Shape& x = ctx.input_shape(0);
  const Shape& w = ctx.input_shape(1);
  if (x.size() != 4) ctx.error("expects a rank-4 input (N, C, H, W), got ", shape_str(x));
  require_dtype(ctx, 1, {DType::kFloat32}, "weight");
  kernels::Conv2dShape s = read_conv_geometry(ctx.attrs(), w);
  if (x[1] != s.in_c)
    ctx.error("input has ", x[1], " channels but weight ", shape_str(w), " with group ", s.groups, " expects ", s.in_c);
  if (ctx.has_input(2)) {
    require_dtype(ctx, 2, {DType::kFloat32}, "bias");
    if (ctx.input_shape(2) != Shape{w[0]}) ctx.error("bias shape ", shape_str(ctx.input_shape(2)), " must be [", w[0], "]");
  }
  if (!conv_at_input(s, read_auto_pad(ctx.attrs()), x))
    ctx.error("input ", shape_str(x), " is smaller than the (dilated, padded) kernel ", s.kernel_h, "x", s.kernel_w);
  // Padding alone can fit the kernel; an image of no pixels is still an error.
  if (x[2] == 0 || x[3] == 0) ctx.error("input ", shape_str(x), " has an empty spatial dim");
  if (ctx.has_input(3)) {
    require_dtype(ctx, 3, {DType::kFloat32}, "channel scale");
    const Shape& g = ctx.input_shape(3);
    const bool ok = (g.size() == 4 && g[2] == 1 && g[3] == 1) || g.size() == 2;
    if (!ok || g[0] != x[0] || g[1] != x[1])
      ctx.error("channel scale (input 3) must be [", x[0], ", ", x[1], ", 1, 1], got ", shape_str(g));
    if (!is_pointwise(s) || read_auto_pad(ctx.attrs()) != AutoPad::kNotSet)
      ctx.error("a channel scale (input 3) needs a 1x1, stride-1, unpadded, ungrouped convolution");
  }
  ctx.set_output(0, DType::kFloat32, {x[0], w[0], s.out_h(), s.out_w()});
}

// Winograd F(2x2, 3x3) where it pays: its 16 transformed weight matrices are
// read once per block of tiles, so on small images (a 7x7 stage of 512
// channels) it streams more weight bytes than im2col saves multiplications.
// The image size is the model's declared one; an unknown size keeps im2col,
// whose packing serves any size.
bool uses_winograd(const PrepareContext& ctx, const kernels::Conv2dShape& s) {
  if (!kernels::winograd_applies(s) || !ctx.has_input(0)) return false;
  const Shape& x = ctx.inputs[0]->shape;
  if (x.size() != 4 || x[2] <= 0 || x[3] <= 0) return false;
  kernels::Conv2dShape at = s;
  at.in_h = x[2];
  at.in_w = x[3];
  return at.in_h + at.pad_top + at.pad_bottom >= 3 && at.in_w + at.pad_left + at.pad_right >= 3 &&
         at.out_h() * at.out_w() >= 14 * 14;
}

// A run-time weight's declared shape must be static: the geometry (and the kernel chosen) come from it.
std::shared_ptr<void> prepare_runtime_conv(PrepareContext& ctx, const std::shared_ptr<ConvState>& st) {
  const TensorRef& w = *ctx.inputs[1];
  for (int64_t d : w.shape)
    if (d < 0) ctx.error("a weight (input 1) computed at run time needs a static shape, got ", shape_str(w.shape));
  if (ctx.has_input(3)) ctx.error("a channel scale (input 3) needs a constant weight");
  st->runtime_weights = true;
  st->shape = read_conv_geometry(ctx.attrs, w.shape);
  if (st->shape.is_depthwise())
    st->dwconv = ctx.use(ctx.kernels.f32_dwconv);
  else
    st->gemm = ctx.use(ctx.kernels.f32_gemm);
  return st;
}

std::shared_ptr<void> prepare_conv(PrepareContext& ctx) {
  auto st = std::make_shared<ConvState>();
  st->auto_pad = read_auto_pad(ctx.attrs);
  st->act = parse_fused_activation(ctx.attrs);
  const TensorRef* w = ctx.constant(1);
  if (w == nullptr) prepare_runtime_conv(ctx, st);
  else if (w->dtype != DType::kFloat32) ctx.error("weight dtype must be float32, got ", dtype_name(w->dtype));
  else st->shape = read_conv_geometry(ctx.attrs, w->shape);
  const kernels::Conv2dShape& s = st->shape;
  st->bias.assign(static_cast<size_t>(s.out_c), 0.0f);
  if (ctx.has_input(2)) {
    const TensorRef* b = ctx.constant(2);
    if (b == nullptr) {
      st->runtime_bias = true;  // checked against out_c by the shape inference, read per run
    } else {
      if (b->dtype != DType::kFloat32 || b->numel() != s.out_c) ctx.error("bias must be float32 [", s.out_c, "]");
      std::memcpy(st->bias.data(), b->data, static_cast<size_t>(s.out_c) * sizeof(float));
    }
  }
  if (st->runtime_weights) return st;
  // Packing depends only on channels, kernel size and groups, not on the image.
  const float* src = w->ptr<const float>();
  if (ctx.has_input(3)) st->weights_oc.assign(src, src + s.out_c * s.in_c);
  if (s.is_depthwise()) {
    st->dwconv = ctx.use(ctx.kernels.f32_dwconv);
    st->packed.resize(static_cast<size_t>(kernels::depthwise_packed_weight_floats(s)));
    kernels::depthwise_pack_weights(s, src, st->packed.data());
  } else if (uses_winograd(ctx, s)) {
    st->gemm = ctx.use(ctx.kernels.f32_gemm);
    st->vact = ctx.use(ctx.kernels.f32_vact);
    st->packed.resize(static_cast<size_t>(kernels::winograd_packed_weight_floats(*st->gemm, s)));
    kernels::winograd_pack_weights(*st->gemm, s, src, st->packed.data());
  } else {
    st->gemm = ctx.use(ctx.kernels.f32_gemm);
    st->packed.resize(static_cast<size_t>(kernels::conv2d_packed_weight_floats(*st->gemm, s)));
    kernels::conv2d_pack_weights(*st->gemm, s, src, st->packed.data());
  }
  return st;
}

// The weight of this run as OIHW floats (a rank-4 tensor computed by the graph may arrive NHWC), packed as
// prepare_conv packs a constant one.
PackedBuffer<float> pack_runtime_weight(const ConvState& st, const TensorRef& w) {
  const kernels::Conv2dShape& s = st.shape;
  // the plan's shapes come from the inference, which need not match the shape the file declared and the
  // geometry was read from: a weight of another shape is refused, never read out of bounds
  const Shape want{s.out_c, s.in_c / s.groups, s.kernel_h, s.kernel_w};
  SLIM_CHECK(w.shape == want, "Conv: the weight computed at run time is ", shape_str(w.shape), ", the model declares ",
             shape_str(want));
  std::vector<float> oihw;
  const float* src = w.ptr<const float>();
  if (w.layout == Layout::kNhwc) {
    const int64_t o = w.shape[0], i = w.shape[1], hw = w.shape[2] * w.shape[3];
    oihw.resize(static_cast<size_t>(o * i * hw));
    for (int64_t a = 0; a < o; ++a)
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t c = 0; c < i; ++c) oihw[static_cast<size_t>((a * i + c) * hw + p)] = src[(a * hw + p) * i + c];
    src = oihw.data();
  }
  PackedBuffer<float> packed;
  if (st.dwconv != nullptr) {
    packed.resize(static_cast<size_t>(kernels::depthwise_packed_weight_floats(s)));
    kernels::depthwise_pack_weights(s, src, packed.data());
  } else {
    packed.resize(static_cast<size_t>(kernels::conv2d_packed_weight_floats(*st.gemm, s)));
    kernels::conv2d_pack_weights(*st.gemm, s, src, packed.data());
  }
  return packed;
}

void conv_kernel(const KernelContext& ctx) {
  const ConvState& st = ctx.state<ConvState>();
  if (ctx.outputs[0].numel() == 0) return;  // batch 0
  kernels::Conv2dShape s = st.shape;
  conv_at_input(s, st.auto_pad, ctx.inputs[0].shape);
  kernels::Epilogue ep;
  if (st.runtime_bias)
    SLIM_CHECK(ctx.inputs[2].numel() == s.out_c, "Conv: the bias computed at run time has ", ctx.inputs[2].numel(),
               " values, the weight has ", s.out_c, " output channels");
  ep.bias = st.runtime_bias ? ctx.inputs[2].ptr<const float>() : st.bias.data();
  const PackedBuffer<float> runtime_packed =
      st.runtime_weights ? pack_runtime_weight(st, ctx.inputs[1]) : PackedBuffer<float>();
  const float* packed_w = st.runtime_weights ? runtime_packed.data() : st.packed.data();
  ep.act = st.act;
  // Below this much work a second thread costs more to bring in than it saves
  // (the layers of a 32 px network: a few microseconds each).
  constexpr int64_t kMinParallelMacs = 128 * 1024;
  const int64_t macs = s.out_pixels() * s.out_c * (s.in_c / s.groups) * s.kernel_h * s.kernel_w;
  const bool serial = macs < kMinParallelMacs;
  const bool scaled = ctx.inputs.size() > 3 && ctx.inputs[3].data != nullptr;
  run_nhwc(ctx, ctx.inputs[0], ctx.outputs[0], [&](const float* x, float* y) {
    if (scaled) {
      const kernels::F32GemmKernel& k = *st.gemm;
      const int64_t c = s.in_c, o = s.out_c, hw = s.in_h * s.in_w;
      const float* gate = ctx.inputs[3].ptr<const float>();
      std::vector<float> buf;
      for (int64_t n = 0; n < s.batch; ++n) {
        const float* g = gate + n * c;
        const float* xn = x + n * hw * c;
        const float* packed = st.packed.data();
        if (hw >= o) {
          // Scaled weights: W'[o][c] = W[o][c] * g[c], packed for this image.
          std::vector<float> wt(static_cast<size_t>(o * c));
          for (int64_t i = 0; i < o; ++i)
            for (int64_t j = 0; j < c; ++j) wt[i * c + j] = st.weights_oc[i * c + j] * g[j];
          buf.resize(static_cast<size_t>(kernels::packed_b_floats(k, c, o)));
          kernels::pack_b_transposed(k, c, o, wt.data(), c, buf.data());
          packed = buf.data();
        } else {
          // Few pixels (a 7x7 stage of many channels): scaling them is cheaper than the weights.
          buf.resize(static_cast<size_t>(hw * c));
          for (int64_t p = 0; p < hw; ++p)
            for (int64_t j = 0; j < c; ++j) buf[p * c + j] = xn[p * c + j] * g[j];
          xn = buf.data();
        }
        float* yn = y + n * hw * o;
        const int64_t tile = k.tile_rows, tiles = (hw + tile - 1) / tile;
        ctx.parallel_for(tiles, serial ? tiles : 1, [&](int64_t b, int64_t e) {
          kernels::sgemm_packed(k, c, o, xn, c, packed, yn, o, ep, {b * tile, std::min(hw, e * tile)}, {0, o});
        });
      }
      return;
    }
    if (st.dwconv != nullptr) {
      ctx.parallel_for(s.out_rows(), serial ? s.out_rows() : 1, [&](int64_t b, int64_t e) {
        kernels::depthwise_conv2d(*st.dwconv, s, x, packed_w, y, ep, {b, e});
      });
      return;
    }
    if (st.vact != nullptr) {
      const int64_t tiles = kernels::winograd_tiles(s);
      const int64_t scratch = kernels::winograd_scratch_floats(*st.gemm, s);
      ctx.parallel_for(tiles, serial ? tiles : st.gemm->tile_rows, [&](int64_t b, int64_t e) {
        std::vector<float> buf(static_cast<size_t>(scratch));
        kernels::winograd_conv2d(*st.gemm, *st.vact, s, x, packed_w, y, ep, {b, e}, buf.data());
      });
      return;
    }
    // Work split in whole micro-tiles of output pixels, each thread with its own im2col scratch.
    const int64_t tile = st.gemm->tile_rows;
    const int64_t pixels = s.out_pixels(), tiles = (pixels + tile - 1) / tile;
    const int64_t scratch = kernels::conv2d_scratch_floats(*st.gemm, s);
    ctx.parallel_for(tiles, serial ? tiles : 1, [&](int64_t b, int64_t e) {
      std::vector<float> buf(static_cast<size_t>(scratch));
      kernels::conv2d(*st.gemm, s, x, packed_w, y, ep, {b * tile, std::min(pixels, e * tile)},
                      scratch ? buf.data() : nullptr);
    });
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(Conv) {
  return OpDef("Conv")
      .dtypes({DType::kFloat32})
      .inputs(2, 4)
      .outputs(1)
      .layout(LayoutPolicy::kNhwc)
      .infer(infer_conv)
      .prepare(prepare_conv)
      .kernel(conv_kernel);
}
