// Softmax and LogSoftmax over one axis (opset 13). Over the last axis (the
// attention case) rows are contiguous and the exponentials run the f32_vact
// variant chosen at load; other axes, and LogSoftmax, walk the strided rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "ops/common.h"

namespace slim {
namespace {

struct SoftmaxState {
  const kernels::F32VactKernel* vact = nullptr;
};

std::shared_ptr<void> prepare_softmax(PrepareContext& ctx) {
  auto st = std::make_shared<SoftmaxState>();
  st->vact = ctx.use(ctx.kernels.f32_vact);
  return st;
}

template <bool kLog>
void strided_softmax(const KernelContext& ctx, int axis) {
  const TensorRef& x = ctx.inputs[0];
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
  const int64_t n = x.rank() == 0 ? 1 : x.shape[axis];
  const float* xp = x.ptr<const float>();
  float* yp = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(outer * inner, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t base = (r / inner) * n * inner + r % inner;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, xp[base + i * inner]);
      float sum = 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        const float e = std::exp(xp[base + i * inner] - mx);
        if (!kLog) yp[base + i * inner] = e;
        sum += e;
      }
      if (kLog) {
        const float ls = std::log(sum);
        for (int64_t i = 0; i < n; ++i) yp[base + i * inner] = xp[base + i * inner] - mx - ls;
      } else {
        const float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; ++i) yp[base + i * inner] *= inv;
      }
    }
  });
}

void softmax_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  const int axis = normalize_axis(ctx.attrs.get_int("axis", -1), x.rank(), "axis");
  if (x.rank() == 0 || axis != x.rank() - 1) return strided_softmax<false>(ctx, axis);
  const kernels::F32VactKernel& vact = *ctx.state<SoftmaxState>().vact;
  const int64_t n = x.shape[axis], rows = n == 0 ? 0 : x.numel() / n;
  const float* xp = x.ptr<const float>();
  float* yp = ctx.outputs[0].ptr<float>();
  const kernels::Activation exp_act = kernels::Activation::exp();
  ctx.parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* src = xp + r * n;
      float* dst = yp + r * n;
      // Eight independent lanes let the compiler vectorize the max and the sum
      // (a single running value is a serial dependency chain).
      float lanes[8];
      std::fill(lanes, lanes + 8, -std::numeric_limits<float>::infinity());
      int64_t i = 0;
      for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lanes[l] = src[i + l] > lanes[l] ? src[i + l] : lanes[l];
      float mx = *std::max_element(lanes, lanes + 8);
      for (; i < n; ++i) mx = src[i] > mx ? src[i] : mx;
      for (int64_t k = 0; k < n; ++k) dst[k] = src[k] - mx;
      kernels::activation(vact, exp_act, dst, dst, n);
      std::fill(lanes, lanes + 8, 0.0f);
      for (i = 0; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lanes[l] += dst[i + l];
      float sum = 0.0f;
      for (int l = 0; l < 8; ++l) sum += lanes[l];
      for (; i < n; ++i) sum += dst[i];
      const float inv = 1.0f / sum;
      for (int64_t k = 0; k < n; ++k) dst[k] *= inv;
    }
  });
}

void log_softmax_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  strided_softmax<true>(ctx, normalize_axis(ctx.attrs.get_int("axis", -1), x.rank(), "axis"));
}

void infer_softmax(InferContext& ctx) {
  normalize_axis(ctx.attrs().get_int("axis", -1), static_cast<int>(ctx.input_shape(0).size()), "axis");
  ctx.set_output(0, DType::kFloat32, ctx.input_shape(0));
}

OpDef softmax_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_softmax)
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(Softmax) { return softmax_def("Softmax", softmax_kernel).prepare(prepare_softmax); }
DEFINE_OP(LogSoftmax) { return softmax_def("LogSoftmax", log_softmax_kernel); }
