// Softmax and LogSoftmax over one axis (opset 13). Over the last axis (the
// attention case) rows are contiguous and run the f32_softmax variant chosen
// at load; other axes, and LogSoftmax, walk the strided rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "ops/common.h"

namespace slim {
namespace {

struct SoftmaxState {
  const kernels::F32SoftmaxKernel* softmax = nullptr;
};

std::shared_ptr<void> prepare_softmax(PrepareContext& ctx) {
  auto st = std::make_shared<SoftmaxState>();
  st->softmax = ctx.use(ctx.kernels.f32_softmax);
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
  const kernels::F32SoftmaxKernel& k = *ctx.state<SoftmaxState>().softmax;
  const int64_t n = x.shape[axis], rows = n == 0 ? 0 : x.numel() / n;
  const float* xp = x.ptr<const float>();
  float* yp = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    kernels::softmax(k, xp + begin * n, yp + begin * n, end - begin, n);
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
