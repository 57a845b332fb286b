// ArgMax / ArgMin over one axis (keepdims, select_last_index), int64 output.
#include "ops/common.h"

namespace slim {
namespace {

void infer_arg(InferContext& ctx) {
  Shape s = ctx.input_shape(0);
  const int axis = normalize_axis(ctx.attrs().get_int("axis", 0), static_cast<int>(s.size()), "axis");
  if (s[axis] == 0) ctx.error("cannot reduce an empty axis");
  if (ctx.attrs().get_int("keepdims", 1) != 0) s[axis] = 1;
  else s.erase(s.begin() + axis);
  ctx.set_output(0, DType::kInt64, s);
}

template <bool kMax>
void arg_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  const int axis = normalize_axis(ctx.attrs.get_int("axis", 0), x.rank(), "axis");
  const bool last = ctx.attrs.get_int("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
  const int64_t n = x.shape[axis];
  int64_t* y = ctx.outputs[0].ptr<int64_t>();
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* xp = x.ptr<const T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const T* p = xp + o * n * inner + i;
        int64_t best = 0;
        for (int64_t k = 1; k < n; ++k) {
          const T v = p[k * inner], b = p[best * inner];
          const bool better = kMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (better) best = k;
        }
        y[o * inner + i] = best;
      }
  });
}

OpDef arg_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32, DType::kInt64, DType::kInt32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_arg)
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(ArgMax) { return arg_def("ArgMax", arg_kernel<true>); }
DEFINE_OP(ArgMin) { return arg_def("ArgMin", arg_kernel<false>); }
