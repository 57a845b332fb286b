// PRelu: x < 0 ? x * slope : x, the slope broadcast numpy-style (usually per channel).
#include "ops/broadcast.h"

namespace slim {
namespace {

void infer_prelu(InferContext& ctx) {
  require_dtype(ctx, 1, {DType::kFloat32}, "slope");
  infer_broadcast(ctx, DType::kFloat32);
}

void prelu_kernel(const KernelContext& ctx) {
  broadcast_binary<float, float, float>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                                        [](float x, float s) { return x < 0.0f ? x * s : x; });
}

}  // namespace
}  // namespace slim

DEFINE_OP(PRelu) {
  return OpDef("PRelu")
      .dtypes({DType::kFloat32})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_prelu)
      .kernel(prelu_kernel);
}
