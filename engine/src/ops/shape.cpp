// Shape and Size: computed from the input's shape alone, always at plan time.
#include "ops/common.h"

namespace slim {
namespace {

// Shape(start, end) of input 0.
std::pair<int64_t, int64_t> shape_range(const Attributes& a, int64_t rank) {
  auto clamp = [&](int64_t v) { return std::max<int64_t>(0, std::min(rank, v < 0 ? v + rank : v)); };
  const int64_t start = clamp(a.get_int("start", 0)), end = clamp(a.get_int("end", rank));
  return {start, std::max(start, end)};
}

void infer_shape(InferContext& ctx) {
  const auto [s, e] = shape_range(ctx.attrs(), static_cast<int64_t>(ctx.input_shape(0).size()));
  ctx.set_output(0, DType::kInt64, {e - s});
}

void shape_kernel(const KernelContext& ctx) {
  const Shape& in = ctx.inputs[0].shape;
  const auto [s, e] = shape_range(ctx.attrs, static_cast<int64_t>(in.size()));
  int64_t* y = ctx.outputs[0].ptr<int64_t>();
  for (int64_t i = s; i < e; ++i) y[i - s] = in[i];
}

void infer_size(InferContext& ctx) { ctx.set_output(0, DType::kInt64, {}); }
void size_kernel(const KernelContext& ctx) { *ctx.outputs[0].ptr<int64_t>() = numel(ctx.inputs[0].shape); }

}  // namespace
}  // namespace slim

DEFINE_OP(Shape) {
  return OpDef("Shape").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_shape).foldable_from_shapes().kernel(shape_kernel);
}
DEFINE_OP(Size) {
  return OpDef("Size").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_size).foldable_from_shapes().kernel(size_kernel);
}
