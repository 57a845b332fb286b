// CumSum and CumProd along one axis (exclusive, reverse). The axis is an input
// (a 0-d or 1-element int32/int64 tensor), read when the node runs. Sums
// accumulate in the input's type, like ONNX Runtime, so a float result matches
// its rounding order (front to back, or back to front for reverse).
#include "ops/common.h"

namespace slim {
namespace {

int cum_axis(const TensorRef& axis, int rank, const std::string& owner) {
  SLIM_CHECK(axis.numel() == 1, owner, ": axis must have one element, got shape ", shape_str(axis.shape));
  const auto v = int_values(axis, owner, "axis");
  return normalize_axis(v[0], rank, "axis");
}

void infer_cum(InferContext& c) {
  const Shape& x = c.input_shape(0);
  require_dtype(c, 1, {DType::kInt64, DType::kInt32}, "axis");
  if (numel(c.input_shape(1)) != 1) c.error("axis must have one element, got shape ", shape_str(c.input_shape(1)));
  if (x.empty()) c.error("input must have rank >= 1");
  if (const TensorRef* a = c.input_value(1)) cum_axis(*a, static_cast<int>(x.size()), c.attrs().owner());
  int_attr(c.attrs(), "exclusive", 0, 0, 1);
  int_attr(c.attrs(), "reverse", 0, 0, 1);
  c.set_output(0, c.input_dtype(0), x);
}

template <bool kProd>
void cum_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int axis = cum_axis(ctx.inputs[1], x.rank(), ctx.attrs.owner());
  const bool exclusive = ctx.attrs.get_int("exclusive", 0) != 0, reverse = ctx.attrs.get_int("reverse", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
  const int64_t n = x.shape[axis];
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, bool>) {
      fail(ctx.attrs.owner(), ": bool input is not supported");
    } else {
      const T* xp = x.ptr<const T>();
      T* yp = y.ptr<T>();
      // Whole [n, inner] planes per task; inside one, the inner positions run side by side (contiguous).
      ctx.parallel_for(outer, 1, [&](int64_t begin, int64_t end) {
        std::vector<T> acc(static_cast<size_t>(inner));
        for (int64_t o = begin; o < end; ++o) {
          std::fill(acc.begin(), acc.end(), static_cast<T>(kProd ? 1 : 0));
          for (int64_t s = 0; s < n; ++s) {
            const int64_t k = reverse ? n - 1 - s : s;
            const T* xr = xp + (o * n + k) * inner;
            T* yr = yp + (o * n + k) * inner;
            for (int64_t i = 0; i < inner; ++i) {
              // wrapping integer arithmetic (through unsigned), as int overflow would be undefined
              T next;
              if constexpr (std::is_integral_v<T>) {
                using U = std::make_unsigned_t<T>;
                next = static_cast<T>(kProd ? static_cast<U>(static_cast<U>(acc[i]) * static_cast<U>(xr[i]))
                                            : static_cast<U>(static_cast<U>(acc[i]) + static_cast<U>(xr[i])));
              } else {
                next = kProd ? acc[i] * xr[i] : acc[i] + xr[i];
              }
              yr[i] = exclusive ? acc[i] : next;
              acc[i] = next;
            }
          }
        }
      });
    }
  });
}

OpDef cum_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32, DType::kInt64, DType::kInt32})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_cum)
      .kernel(std::move(fn))
      .foldable();
}

}  // namespace
}  // namespace slim

DEFINE_OP(CumSum) { return cum_def("CumSum", cum_kernel<false>); }
DEFINE_OP(CumProd) { return cum_def("CumProd", cum_kernel<true>); }
