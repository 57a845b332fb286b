// Ops that change the rank but not the bytes: Reshape, Flatten, Squeeze,
// Unsqueeze. They run in plain layout, where input and output bytes are the
// same; int64 forms are foldable, so shape arithmetic is evaluated at plan time.
#include "ops/common.h"

namespace slim {
namespace {

void plain_copy_kernel(const KernelContext& ctx) {
  // Rank-changing ops are kPlain: input and output have the same bytes in the same order.
  if (ctx.outputs[0].data != ctx.inputs[0].data)
    std::memcpy(ctx.outputs[0].data, ctx.inputs[0].data, ctx.outputs[0].bytes());
}

void infer_reshape(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  std::vector<int64_t> shape = known_int_input(ctx, 1, "shape");
  const bool allowzero = ctx.attrs().get_int("allowzero", 0) != 0;
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allowzero) {
      if (i >= in.size()) ctx.error("shape ", shape_str(shape), " copies dim ", i, " that input ", shape_str(in),
                                    " does not have");
      shape[i] = in[i];
    }
    if (shape[i] == -1) {
      if (infer_at >= 0) ctx.error("shape ", shape_str(shape), " has more than one -1");
      infer_at = static_cast<int>(i);
    } else if (shape[i] < 0) {
      ctx.error("shape ", shape_str(shape), " has an invalid dim");
    } else {
      known = mul_dims(ctx.attrs().owner(), "target shape size", known, shape[i]);
    }
  }
  const int64_t total = numel(in);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      ctx.error("cannot reshape ", shape_str(in), " to ", shape_str(shape));
    shape[infer_at] = total / known;
  }
  if (numel(shape) != total) ctx.error("cannot reshape ", shape_str(in), " (", total, " elements) to ", shape_str(shape));
  ctx.set_output(0, ctx.input_dtype(0), shape);
}

void infer_flatten(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < -rank || axis > rank) ctx.error("axis ", axis, " is out of range for rank ", rank);
  if (axis < 0) axis += rank;
  // Both products are of input dims, which shape checks bound; with a zero dim
  // the other side keeps its size ([0, C, H, W] -> [0, C * H * W]).
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= in[i];
  ctx.set_output(0, ctx.input_dtype(0), {outer, inner});
}

void infer_squeeze(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  const std::vector<int> axes = read_axes(ctx, 1, rank);
  Shape out;
  for (int i = 0; i < rank; ++i) {
    const bool listed = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (listed && in[i] != 1) ctx.error("cannot squeeze axis ", i, " of size ", in[i], " in ", shape_str(in));
    if (axes.empty() ? in[i] != 1 : !listed) out.push_back(in[i]);
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
}

void infer_unsqueeze(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  std::vector<int64_t> raw = ctx.has_input(1) ? known_int_input(ctx, 1, "axes") : ctx.attrs().get_ints("axes");
  const int rank = static_cast<int>(in.size() + raw.size());
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int64_t a : raw) {
    if (a < -rank || a >= rank) ctx.error("axis ", a, " is out of range for output rank ", rank);
    const int64_t n = a < 0 ? a + rank : a;
    if (inserted[n]) ctx.error("axis ", a, " is repeated");
    inserted[n] = true;
  }
  Shape out;
  size_t j = 0;
  for (int i = 0; i < rank; ++i) out.push_back(inserted[i] ? 1 : in[j++]);
  ctx.set_output(0, ctx.input_dtype(0), out);
}

OpDef reshaping_def(const char* type, InferFn infer, int max_inputs) {
  return OpDef(type)
      .dtypes(kAllTypes)
      .inputs(1, max_inputs)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(std::move(infer))
      .foldable()
      .kernel(plain_copy_kernel);
}

}  // namespace
}  // namespace slim

DEFINE_OP(Reshape) { return reshaping_def("Reshape", infer_reshape, 2).inputs(2); }
DEFINE_OP(Flatten) { return reshaping_def("Flatten", infer_flatten, 1); }
DEFINE_OP(Squeeze) { return reshaping_def("Squeeze", infer_squeeze, 2); }
DEFINE_OP(Unsqueeze) { return reshaping_def("Unsqueeze", infer_unsqueeze, 2); }
