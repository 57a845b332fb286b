// Identity and Dropout (inference: a copy, plus an all-true mask when asked).
#include "ops/common.h"

namespace slim {
namespace {

void same_layout_copy_kernel(const KernelContext& ctx) {
  copy_tensor(ctx, ctx.inputs[0], ctx.outputs[0]);
  // Dropout's optional mask output: inference keeps every element.
  if (ctx.outputs.size() > 1) std::memset(ctx.outputs[1].data, 1, ctx.outputs[1].bytes());
}

void infer_dropout(InferContext& ctx) {
  const TensorRef* training = ctx.has_input(2) ? ctx.input_value(2) : nullptr;
  if (ctx.has_input(2) && (training == nullptr || training->dtype != DType::kBool || training->numel() != 1 ||
                           *training->ptr<const bool>()))
    ctx.error("training_mode must be a constant false (inference only)");
  infer_like_input0(ctx);
  if (ctx.num_outputs() > 1) ctx.set_output(1, DType::kBool, ctx.input_shape(0));
}

}  // namespace
}  // namespace slim

DEFINE_OP(Identity) {
  return OpDef("Identity").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_like_input0).foldable().kernel(same_layout_copy_kernel);
}
DEFINE_OP(Dropout) {
  return OpDef("Dropout").dtypes({DType::kFloat32}).inputs(1, 3).outputs(1, 2).layout(LayoutPolicy::kAgnostic)
      .infer(infer_dropout).kernel(same_layout_copy_kernel);
}
