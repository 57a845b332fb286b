// Boolean logic: And, Or, Xor with numpy broadcasting, and Not.
#include "ops/broadcast.h"

namespace slim {
namespace {

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

OpDef logic_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kBool})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_logic)
      .foldable()
      .kernel(std::move(fn));
}

void infer_not(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kBool) ctx.error("expects bool, got ", dtype_name(ctx.input_dtype(0)));
  infer_like_input0(ctx);
}

void not_kernel(const KernelContext& ctx) {
  const bool* x = ctx.inputs[0].ptr<const bool>();
  bool* y = ctx.outputs[0].ptr<bool>();
  for (int64_t i = 0; i < ctx.outputs[0].numel(); ++i) y[i] = !x[i];
}

}  // namespace
}  // namespace slim

DEFINE_OP(And) { return logic_def("And", logic_kernel<And>); }
DEFINE_OP(Or) { return logic_def("Or", logic_kernel<Or>); }
DEFINE_OP(Xor) { return logic_def("Xor", logic_kernel<Xor>); }
DEFINE_OP(Not) {
  return OpDef("Not").dtypes({DType::kBool}).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_not).foldable().kernel(not_kernel);
}
