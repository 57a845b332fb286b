// Where(cond, X, Y): numpy broadcasting over three operands, as a strided loop
// of its own (broadcast_binary takes two).
#include "ops/broadcast.h"

namespace slim {
namespace {

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

}  // namespace
}  // namespace slim

DEFINE_OP(Where) {
  // dtypes() lists input 0's dtypes (the condition); X/Y may be any of float32, int32, int64, bool.
  return OpDef("Where")
      .dtypes({DType::kBool})
      .inputs(3)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_where)
      .foldable()
      .kernel(where_kernel);
}
