// Cast and CastLike (to the dtype of input 1) between the engine's dtypes;
// to bool is x != 0.
#include <limits>
#include <type_traits>

#include "ops/common.h"

namespace slim {
namespace {

DType cast_target(const Attributes& a) {
  const int64_t to = a.get_int("to");
  // Compared as int64: a cast to DType first would wrap 257 to 1 (float32).
  for (DType d : kAllTypes)
    if (to == static_cast<int64_t>(d)) return d;
  fail(a.owner(), ": Cast to dtype code ", to, " is not supported");
}

// ONNX leaves float -> int of NaN or out-of-range values unspecified; C++
// makes it undefined behaviour. Saturating keeps it defined.
template <typename O, typename I>
O convert(I v) {
  if constexpr (std::is_same_v<O, bool>) {
    return v != I(0);
  } else if constexpr (std::is_floating_point_v<I> && std::is_integral_v<O>) {
    if (!(v == v)) return O(0);
    if (v <= static_cast<I>(std::numeric_limits<O>::min())) return std::numeric_limits<O>::min();
    if (v >= static_cast<I>(std::numeric_limits<O>::max())) return std::numeric_limits<O>::max();
    return static_cast<O>(v);
  } else {
    return static_cast<O>(v);
  }
}

void infer_cast(InferContext& ctx) { ctx.set_output(0, cast_target(ctx.attrs()), ctx.input_shape(0)); }

void cast_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": layouts differ");
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto zi) {
    using I = decltype(zi);
    dispatch_dtype(y.dtype, ctx.attrs.owner(), [&](auto zo) {
      using O = decltype(zo);
      const I* src = x.ptr<const I>();
      O* dst = y.ptr<O>();
      const int64_t n = y.numel();
      for (int64_t i = 0; i < n; ++i) dst[i] = convert<O>(src[i]);
    });
  });
}

void infer_cast_like(InferContext& ctx) {
  const DType d = ctx.input_dtype(1);
  if (d != DType::kFloat32 && d != DType::kInt64 && d != DType::kInt32 && d != DType::kBool && d != DType::kUInt8 &&
      d != DType::kInt8)
    ctx.error("CastLike to ", dtype_name(d), " is not supported");
  ctx.set_output(0, d, ctx.input_shape(0));
}

}  // namespace
}  // namespace slim

DEFINE_OP(Cast) {
  return OpDef("Cast").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_cast).foldable().kernel(cast_kernel);
}
DEFINE_OP(CastLike) {
  return OpDef("CastLike").dtypes(kAllTypes).inputs(2).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_cast_like).foldable().kernel(cast_kernel);
}
