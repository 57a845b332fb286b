// Tensors filled from parameters: ConstantOfShape and Range. Parameters known
// at plan time fix the output's shape then (and small results become plan
// constants); parameters computed at run time make the output dynamic: its
// shape is read from them on every run and the rest of the graph is planned
// for it (OPS.md, dynamic outputs).
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/common.h"

namespace slim {
namespace {

// ConstantOfShape: the ONNX `value` is a one-element tensor attribute, which
// the engine file stores as a scalar `value` (int or float) plus `dtype`.
DType const_dtype(const Attributes& a) {
  const int64_t code = a.get_int("dtype", a.has("value") && a.all().at("value").type == Attribute::kInt ? 7 : 1);
  // Compared as int64: a cast to DType first would wrap 257 to 1 (float32).
  SLIM_CHECK(code == int64_t(DType::kFloat32) || code == int64_t(DType::kInt64) || code == int64_t(DType::kInt32) ||
                 code == int64_t(DType::kBool),
             a.owner(), ": unsupported ConstantOfShape dtype code ", code);
  if (a.has("value")) {
    const Attribute::Type t = a.all().at("value").type;
    SLIM_CHECK(t == Attribute::kInt || t == Attribute::kFloat, a.owner(), ": attribute 'value' must be int or float");
  }
  return static_cast<DType>(code);
}

// value converted to T; NaN and out-of-range values saturate instead of being
// undefined behaviour (ONNX leaves them unspecified).
template <typename T>
T saturate(double v) {
  if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, bool>) {
    return static_cast<T>(v);
  } else {
    if (!(v == v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

Shape fill_shape(const TensorRef& t, const std::string& owner) {
  Shape shape = int_values(t, owner, "shape");
  for (int64_t d : shape)
    SLIM_CHECK(d >= 0, owner, ": shape has a negative dim: ", shape_str(shape));
  int64_t n = 0;
  SLIM_CHECK(checked_numel(shape, kMaxElements, &n), owner, ": shape ", shape_str(shape), " is too large");
  return shape;
}

void infer_constant_of_shape(InferContext& ctx) {
  const DType d = const_dtype(ctx.attrs());
  if (ctx.input_value(0) == nullptr) return ctx.set_output_dynamic(0, d);
  ctx.set_output(0, d, fill_shape(*ctx.input_value(0), ctx.attrs().owner()));
}

void constant_of_shape_kernel(const KernelContext& ctx) {
  const Attributes& a = ctx.attrs;
  const TensorRef out = ctx.output_dynamic(0) ? ctx.allocate_output(0, fill_shape(ctx.inputs[0], a.owner()))
                                              : ctx.outputs[0];
  const bool int_value = a.has("value") && a.all().at("value").type == Attribute::kInt;
  const int64_t iv = int_value ? a.get_int("value") : 0;
  const double v = int_value ? static_cast<double>(iv) : a.get_float("value", 0.0f);
  dispatch_dtype(out.dtype, a.owner(), [&](auto z) {
    using T = decltype(z);
    T* y = out.ptr<T>();
    // An int value goes to an int dtype exactly (a double would round 2^53 + 1).
    T fill = saturate<T>(v);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (int_value && iv >= std::numeric_limits<T>::min() && iv <= std::numeric_limits<T>::max()) fill = static_cast<T>(iv);
    }
    std::fill(y, y + out.numel(), fill);
  });
}

int64_t range_count(const TensorRef& s, const TensorRef& l, const TensorRef& d, const std::string& o) {
  const double start = scalar_value(s, o, "start"), limit = scalar_value(l, o, "limit");
  const double delta = scalar_value(d, o, "delta");
  SLIM_CHECK(delta != 0.0, o, ": delta must not be 0");
  const double n = std::ceil((limit - start) / delta);
  // NaN, infinite or beyond any tensor: refused before the cast to int64, which would be undefined.
  SLIM_CHECK(n <= static_cast<double>(kMaxElements), o, ": start ", start, ", limit ", limit, ", delta ", delta,
             " give ", n, " elements");
  return static_cast<int64_t>(std::max(0.0, n));
}

void infer_range(InferContext& ctx) {
  const DType d = ctx.input_dtype(0);
  for (size_t i = 1; i < 3; ++i)
    if (ctx.input_dtype(i) != d) ctx.error("start, limit and delta must have one dtype");
  if (!ctx.input_value(0) || !ctx.input_value(1) || !ctx.input_value(2)) return ctx.set_output_dynamic(0, d);
  ctx.set_output(0, d, {range_count(*ctx.input_value(0), *ctx.input_value(1), *ctx.input_value(2),
                                    ctx.attrs().owner())});
}

void range_kernel(const KernelContext& ctx) {
  const TensorRef out =
      ctx.output_dynamic(0)
          ? ctx.allocate_output(0, {range_count(ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.attrs.owner())})
          : ctx.outputs[0];
  dispatch_dtype(out.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T start = ctx.inputs[0].ptr<const T>()[0], delta = ctx.inputs[2].ptr<const T>()[0];
    T* y = out.ptr<T>();
    for (int64_t i = 0; i < out.numel(); ++i) {
      if constexpr (std::is_floating_point_v<T>) {
        y[i] = start + static_cast<T>(i) * delta;
      } else {
        // Wrapping arithmetic: the element count came from doubles, so the
        // last value may step just past the type's range; no undefined overflow.
        y[i] = static_cast<T>(static_cast<uint64_t>(start) + static_cast<uint64_t>(i) * static_cast<uint64_t>(delta));
      }
    }
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(ConstantOfShape) {
  return OpDef("ConstantOfShape").dtypes({DType::kInt64}).inputs(1).outputs(1).layout(LayoutPolicy::kPlain)
      .infer(infer_constant_of_shape).foldable().kernel(constant_of_shape_kernel);
}
DEFINE_OP(Range) {
  return OpDef("Range").dtypes({DType::kFloat32, DType::kInt64, DType::kInt32}).inputs(3).outputs(1)
      .layout(LayoutPolicy::kPlain).infer(infer_range).foldable().kernel(range_kernel);
}
