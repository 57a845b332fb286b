// Comparisons with numpy broadcasting: Equal, Less, Greater, LessOrEqual,
// GreaterOrEqual (bool outputs).
#include "ops/broadcast.h"

namespace slim {
namespace {

void infer_compare(InferContext& ctx) {
  if (ctx.input_dtype(0) != ctx.input_dtype(1))
    ctx.error("inputs have different dtypes (", dtype_name(ctx.input_dtype(0)), " and ",
              dtype_name(ctx.input_dtype(1)), ")");
  infer_broadcast(ctx, DType::kBool);
}

template <typename Cmp>
void compare_kernel(const KernelContext& ctx) {
  const TensorRef &a = ctx.inputs[0], &b = ctx.inputs[1], &y = ctx.outputs[0];
  dispatch_dtype(a.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    broadcast_binary<T, T, bool>(ctx, a, b, y, [](T p, T q) { return Cmp{}(p, q); });
  });
}

struct Eq { template <typename T> bool operator()(T a, T b) const { return a == b; } };
struct Lt { template <typename T> bool operator()(T a, T b) const { return a < b; } };
struct Gt { template <typename T> bool operator()(T a, T b) const { return a > b; } };
struct Le { template <typename T> bool operator()(T a, T b) const { return a <= b; } };
struct Ge { template <typename T> bool operator()(T a, T b) const { return a >= b; } };

OpDef compare_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32, DType::kInt32, DType::kInt64})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_compare)
      .foldable()
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(Equal) {
  return compare_def("Equal", compare_kernel<Eq>).dtypes({DType::kFloat32, DType::kInt32, DType::kInt64, DType::kBool});
}
DEFINE_OP(Less) { return compare_def("Less", compare_kernel<Lt>); }
DEFINE_OP(Greater) { return compare_def("Greater", compare_kernel<Gt>); }
DEFINE_OP(LessOrEqual) { return compare_def("LessOrEqual", compare_kernel<Le>); }
DEFINE_OP(GreaterOrEqual) { return compare_def("GreaterOrEqual", compare_kernel<Ge>); }
