// Comparisons (bool outputs), boolean logic, Where and PRelu: broadcasting ops
// whose output dtype differs from an input's, or that take three inputs.
#include <cmath>

#include "ops/elementwise.h"

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
struct And { bool operator()(bool a, bool b) const { return a && b; } };
struct Or { bool operator()(bool a, bool b) const { return a || b; } };
struct Xor { bool operator()(bool a, bool b) const { return a != b; } };

template <typename Logic>
void logic_kernel(const KernelContext& ctx) {
  broadcast_binary<bool, bool, bool>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], Logic{});
}

void infer_logic(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kBool || ctx.input_dtype(1) != DType::kBool) ctx.error("inputs must be bool");
  infer_broadcast(ctx, DType::kBool);
}

OpDef compare_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32, DType::kInt32, DType::kInt64})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_compare)
      .kernel(Isa::kScalar, std::move(fn));
}

OpDef logic_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kBool})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_logic)
      .kernel(Isa::kScalar, std::move(fn));
}

// Where(cond, x, y): broadcast over three operands; done as a strided loop of its own.
void infer_where(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kBool) ctx.error("condition must be bool, got ", dtype_name(ctx.input_dtype(0)));
  if (ctx.input_dtype(1) != ctx.input_dtype(2))
    ctx.error("X and Y have different dtypes (", dtype_name(ctx.input_dtype(1)), " and ",
              dtype_name(ctx.input_dtype(2)), ")");
  Shape s = broadcast_shapes(ctx.input_shape(0), ctx.input_shape(1), ctx.attrs().owner());
  ctx.set_output(0, ctx.input_dtype(1), broadcast_shapes(s, ctx.input_shape(2), ctx.attrs().owner()));
}

void where_kernel(const KernelContext& ctx) {
  const TensorRef &c = ctx.inputs[0], &a = ctx.inputs[1], &b = ctx.inputs[2], &y = ctx.outputs[0];
  const int rank = y.rank();
  const StridedLoop loop(y.shape, y.layout,
                         {logical_strides(y.shape, y.layout), broadcast_strides(c, rank), broadcast_strides(a, rank),
                          broadcast_strides(b, rank)});
  dispatch_dtype(y.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const bool* cp = c.ptr<const bool>();
    const T* ap = a.ptr<const T>();
    const T* bp = b.ptr<const T>();
    T* yp = y.ptr<T>();
    ctx.parallel_for(loop.rows(), 1, [&](int64_t begin, int64_t end) {
      int64_t off[4];
      for (int64_t r = begin; r < end; ++r) {
        loop.offsets(r, off);
        for (int64_t i = 0; i < loop.inner(); ++i)
          yp[off[0] + i * loop.inner_stride(0)] = cp[off[1] + i * loop.inner_stride(1)]
                                                      ? ap[off[2] + i * loop.inner_stride(2)]
                                                      : bp[off[3] + i * loop.inner_stride(3)];
      }
    });
  });
}

void infer_prelu(InferContext& ctx) { infer_broadcast(ctx, DType::kFloat32); }

void prelu_kernel(const KernelContext& ctx) {
  broadcast_binary<float, float, float>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                                        [](float x, float s) { return x < 0.0f ? x * s : x; });
}

}  // namespace
}  // namespace slim

REGISTER_OP(Equal) { return slim::compare_def("Equal", slim::compare_kernel<slim::Eq>).dtypes(
    {slim::DType::kFloat32, slim::DType::kInt32, slim::DType::kInt64, slim::DType::kBool}); }
REGISTER_OP(Less) { return slim::compare_def("Less", slim::compare_kernel<slim::Lt>); }
REGISTER_OP(Greater) { return slim::compare_def("Greater", slim::compare_kernel<slim::Gt>); }
REGISTER_OP(LessOrEqual) { return slim::compare_def("LessOrEqual", slim::compare_kernel<slim::Le>); }
REGISTER_OP(GreaterOrEqual) { return slim::compare_def("GreaterOrEqual", slim::compare_kernel<slim::Ge>); }
REGISTER_OP(And) { return slim::logic_def("And", slim::logic_kernel<slim::And>); }
REGISTER_OP(Or) { return slim::logic_def("Or", slim::logic_kernel<slim::Or>); }
REGISTER_OP(Xor) { return slim::logic_def("Xor", slim::logic_kernel<slim::Xor>); }
REGISTER_OP(Where) {
  using namespace slim;
  // dtypes() lists input 0's dtypes (the condition); X/Y may be any of float32, int32, int64, bool.
  return OpDef("Where")
      .dtypes({DType::kBool})
      .inputs(3)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_where)
      .kernel(Isa::kScalar, where_kernel);
}
REGISTER_OP(PRelu) {
  using namespace slim;
  return OpDef("PRelu")
      .dtypes({DType::kFloat32})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_prelu)
      .kernel(Isa::kScalar, prelu_kernel);
}
