#include "ops/broadcast.h"

namespace slim {

void infer_broadcast(InferContext& ctx, DType out, size_t first_input) {
  Shape shape = ctx.input_shape(first_input);
  for (size_t i = first_input + 1; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) shape = broadcast_shapes(shape, ctx.input_shape(i), ctx.attrs().owner());
  ctx.set_output(0, out, shape);
}

}  // namespace slim
