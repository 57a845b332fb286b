// Tensors filled from parameters known at plan time: ConstantOfShape and Range
// (foldable, so small ones become plan constants).
#include <cmath>

#include "ops/common.h"

namespace slim {
namespace {

// ConstantOfShape: the ONNX `value` is a one-element tensor attribute, which
// the engine file stores as a scalar `value` (int or float) plus `dtype`.
DType const_dtype(const Attributes& a) {
  const int64_t code = a.get_int("dtype", a.has("value") && a.all().at("value").type == Attribute::kInt ? 7 : 1);
  const DType d = static_cast<DType>(code);
  SLIM_CHECK(d == DType::kFloat32 || d == DType::kInt64 || d == DType::kInt32 || d == DType::kBool, a.owner(),
             ": unsupported ConstantOfShape dtype code ", code);
  return d;
}

void infer_constant_of_shape(InferContext& ctx) {
  Shape shape = known_int_input(ctx, 0, "shape");
  for (int64_t d : shape)
    if (d < 0) ctx.error("shape has a negative dim: ", shape_str(shape));
  ctx.set_output(0, const_dtype(ctx.attrs()), shape);
}

void constant_of_shape_kernel(const KernelContext& ctx) {
  const Attributes& a = ctx.attrs;
  double v = 0.0;
  if (a.has("value")) v = a.all().at("value").type == Attribute::kInt ? static_cast<double>(a.get_int("value"))
                                                                       : a.get_float("value");
  dispatch_dtype(ctx.outputs[0].dtype, a.owner(), [&](auto z) {
    using T = decltype(z);
    T* y = ctx.outputs[0].ptr<T>();
    std::fill(y, y + ctx.outputs[0].numel(), static_cast<T>(v));
  });
}

void infer_range(InferContext& ctx) {
  const DType d = ctx.input_dtype(0);
  for (size_t i = 1; i < 3; ++i)
    if (ctx.input_dtype(i) != d) ctx.error("start, limit and delta must have one dtype");
  const std::string& o = ctx.attrs().owner();
  if (!ctx.input_value(0) || !ctx.input_value(1) || !ctx.input_value(2))
    ctx.error("start, limit and delta must be known when the graph is planned");
  const double start = scalar_value(*ctx.input_value(0), o, "start");
  const double limit = scalar_value(*ctx.input_value(1), o, "limit");
  const double delta = scalar_value(*ctx.input_value(2), o, "delta");
  if (delta == 0.0) ctx.error("delta must not be 0");
  const double n = std::ceil((limit - start) / delta);
  ctx.set_output(0, d, {static_cast<int64_t>(std::max(0.0, n))});
}

void range_kernel(const KernelContext& ctx) {
  dispatch_dtype(ctx.outputs[0].dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T start = ctx.inputs[0].ptr<const T>()[0], delta = ctx.inputs[2].ptr<const T>()[0];
    T* y = ctx.outputs[0].ptr<T>();
    for (int64_t i = 0; i < ctx.outputs[0].numel(); ++i) y[i] = static_cast<T>(start + static_cast<T>(i) * delta);
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
