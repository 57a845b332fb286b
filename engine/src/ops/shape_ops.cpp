// Shape computations and pure data movement that changes rank: Shape,
// ConstantOfShape, Range, Cast, Reshape, Flatten, Squeeze, Unsqueeze,
// Identity, Dropout, Not. Int64 forms are foldable, so shape arithmetic is
// evaluated once at plan time.
#include <cmath>

#include "ops/common.h"

namespace slim {
namespace {

const std::vector<DType> kAllTypes = {DType::kFloat32, DType::kInt64, DType::kInt32, DType::kBool,
                                      DType::kUInt8, DType::kInt8};

void plain_copy_kernel(const KernelContext& ctx) {
  // Rank-changing ops are kPlain: input and output have the same bytes in the same order.
  if (ctx.outputs[0].data != ctx.inputs[0].data)
    std::memcpy(ctx.outputs[0].data, ctx.inputs[0].data, ctx.outputs[0].bytes());
}

void same_layout_copy_kernel(const KernelContext& ctx) {
  copy_tensor(ctx, ctx.inputs[0], ctx.outputs[0]);
  // Dropout's optional mask output: inference keeps every element.
  if (ctx.outputs.size() > 1) std::memset(ctx.outputs[1].data, 1, ctx.outputs[1].bytes());
}

void infer_dropout(InferContext& ctx) {
  const TensorRef* training = ctx.has_input(2) ? ctx.input_value(2) : nullptr;
  if (ctx.has_input(2) && (training == nullptr || *training->ptr<const bool>()))
    ctx.error("training_mode must be a constant false (inference only)");
  infer_like_input0(ctx);
  if (ctx.num_outputs() > 1) ctx.set_output(1, DType::kBool, ctx.input_shape(0));
}

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

DType cast_target(const Attributes& a) {
  const int64_t to = a.get_int("to");
  const DType d = static_cast<DType>(to);
  SLIM_CHECK(d == DType::kFloat32 || d == DType::kInt64 || d == DType::kInt32 || d == DType::kBool ||
                 d == DType::kUInt8 || d == DType::kInt8,
             a.owner(), ": Cast to dtype code ", to, " is not supported");
  return d;
}

void infer_cast(InferContext& ctx) { ctx.set_output(0, cast_target(ctx.attrs()), ctx.input_shape(0)); }

void cast_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": layouts differ");
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto zi) {
    using I = decltype(zi);
    dispatch_dtype(y.dtype, ctx.attrs.owner(), [&](auto zo) {
      using O = decltype(zo);
      const I* src = x.ptr<const I>();
      O* dst = y.ptr<O>();
      const int64_t n = y.numel();
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<O, bool>) dst[i] = src[i] != I(0);
        else dst[i] = static_cast<O>(src[i]);
      }
    });
  });
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
      known *= shape[i];
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
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= in[i];
  ctx.set_output(0, ctx.input_dtype(0), {outer, outer == 0 ? 0 : numel(in) / std::max<int64_t>(outer, 1)});
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

void infer_not(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kBool) ctx.error("expects bool, got ", dtype_name(ctx.input_dtype(0)));
  infer_like_input0(ctx);
}

void not_kernel(const KernelContext& ctx) {
  const bool* x = ctx.inputs[0].ptr<const bool>();
  bool* y = ctx.outputs[0].ptr<bool>();
  for (int64_t i = 0; i < ctx.outputs[0].numel(); ++i) y[i] = !x[i];
}

OpDef reshaping_def(const char* type, InferFn infer, int max_inputs) {
  return OpDef(type)
      .dtypes(kAllTypes)
      .inputs(1, max_inputs)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(std::move(infer))
      .foldable()
      .kernel(Isa::kScalar, plain_copy_kernel);
}

}  // namespace
}  // namespace slim

REGISTER_OP(Reshape) { return slim::reshaping_def("Reshape", slim::infer_reshape, 2).inputs(2); }
REGISTER_OP(Flatten) { return slim::reshaping_def("Flatten", slim::infer_flatten, 1); }
REGISTER_OP(Squeeze) { return slim::reshaping_def("Squeeze", slim::infer_squeeze, 2); }
REGISTER_OP(Unsqueeze) { return slim::reshaping_def("Unsqueeze", slim::infer_unsqueeze, 2); }
REGISTER_OP(Identity) {
  using namespace slim;
  return OpDef("Identity").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_like_input0).foldable().kernel(Isa::kScalar, same_layout_copy_kernel);
}
REGISTER_OP(Dropout) {
  using namespace slim;
  return OpDef("Dropout").dtypes({DType::kFloat32}).inputs(1, 3).outputs(1, 2).layout(LayoutPolicy::kAgnostic)
      .infer(infer_dropout).kernel(Isa::kScalar, same_layout_copy_kernel);
}
REGISTER_OP(Shape) {
  using namespace slim;
  return OpDef("Shape").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_shape).foldable_from_shapes().kernel(Isa::kScalar, shape_kernel);
}
REGISTER_OP(Size) {
  using namespace slim;
  return OpDef("Size").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_size).foldable_from_shapes().kernel(Isa::kScalar, size_kernel);
}
REGISTER_OP(ConstantOfShape) {
  using namespace slim;
  return OpDef("ConstantOfShape").dtypes({DType::kInt64}).inputs(1).outputs(1).layout(LayoutPolicy::kPlain)
      .infer(infer_constant_of_shape).foldable().kernel(Isa::kScalar, constant_of_shape_kernel);
}
REGISTER_OP(Range) {
  using namespace slim;
  return OpDef("Range").dtypes({DType::kFloat32, DType::kInt64, DType::kInt32}).inputs(3).outputs(1)
      .layout(LayoutPolicy::kPlain).infer(infer_range).foldable().kernel(Isa::kScalar, range_kernel);
}
REGISTER_OP(Cast) {
  using namespace slim;
  return OpDef("Cast").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_cast).foldable().kernel(Isa::kScalar, cast_kernel);
}
REGISTER_OP(Not) {
  using namespace slim;
  return OpDef("Not").dtypes({DType::kBool}).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_not).kernel(Isa::kScalar, not_kernel);
}

// CastLike: Cast to the dtype of input 1.
namespace slim {
namespace {
void infer_cast_like(InferContext& ctx) {
  const DType d = ctx.input_dtype(1);
  if (d != DType::kFloat32 && d != DType::kInt64 && d != DType::kInt32 && d != DType::kBool && d != DType::kUInt8 &&
      d != DType::kInt8)
    ctx.error("CastLike to ", dtype_name(d), " is not supported");
  ctx.set_output(0, d, ctx.input_shape(0));
}
}  // namespace
}  // namespace slim

REGISTER_OP(CastLike) {
  using namespace slim;
  return OpDef("CastLike").dtypes(kAllTypes).inputs(2).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(infer_cast_like).foldable().kernel(Isa::kScalar, cast_kernel);
}
