// Elementwise unary ops. Input and output share shape and layout, so every
// kernel is a flat loop; ops that the kernels library implements also get
// SIMD variants through kernels::activation.
#include <cmath>
#include <limits>

#include "ops/common.h"
#ifdef SLIMLAB_HAVE_KERNELS
#include "kernels/kernels.h"
#endif

namespace slim {
namespace {

struct UnaryParams {
  float a = 0.0f, b = 0.0f;
  int simd_kind = 0;  // kernels::ActKind, 0 = no SIMD form
};

using UnaryFn = float (*)(float, const UnaryParams&);

float sigmoid(float x) {
  // Split by sign so exp never overflows into inf/inf.
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

float f_relu(float x, const UnaryParams&) { return x > 0.0f ? x : (x != x ? x : 0.0f); }
float f_sqrt(float x, const UnaryParams&) { return std::sqrt(x); }
float f_neg(float x, const UnaryParams&) { return -x; }
float f_exp(float x, const UnaryParams&) { return std::exp(x); }
float f_log(float x, const UnaryParams&) { return std::log(x); }
float f_abs(float x, const UnaryParams&) { return std::fabs(x); }
float f_sigmoid(float x, const UnaryParams&) { return sigmoid(x); }
float f_tanh(float x, const UnaryParams&) { return std::tanh(x); }
float f_erf(float x, const UnaryParams&) { return std::erf(x); }
float f_silu(float x, const UnaryParams&) { return x * sigmoid(x); }
float f_hardswish(float x, const UnaryParams&) { return x * std::fmax(0.0f, std::fmin(1.0f, x / 6.0f + 0.5f)); }
float f_hardsigmoid(float x, const UnaryParams& p) { return std::fmax(0.0f, std::fmin(1.0f, p.a * x + p.b)); }
float f_leakyrelu(float x, const UnaryParams& p) { return x >= 0.0f ? x : p.a * x; }
float f_elu(float x, const UnaryParams& p) { return x >= 0.0f ? x : p.a * (std::exp(x) - 1.0f); }
float f_selu(float x, const UnaryParams& p) { return x > 0.0f ? p.b * x : p.b * (p.a * std::exp(x) - p.a); }
float f_softplus(float x, const UnaryParams&) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
float f_softsign(float x, const UnaryParams&) { return x / (1.0f + std::fabs(x)); }
float f_reciprocal(float x, const UnaryParams&) { return 1.0f / x; }
float f_floor(float x, const UnaryParams&) { return std::floor(x); }
float f_ceil(float x, const UnaryParams&) { return std::ceil(x); }
float f_round(float x, const UnaryParams&) { return std::nearbyint(x); }  // half to even (default FP mode)
float f_sin(float x, const UnaryParams&) { return std::sin(x); }
float f_cos(float x, const UnaryParams&) { return std::cos(x); }
float f_gelu(float x, const UnaryParams&) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
float f_gelu_tanh(float x, const UnaryParams&) {
  return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
float f_clip(float x, const UnaryParams& p) {
  if (x != x) return x;
  const float lo = x < p.a ? p.a : x;  // max first, then min: ONNX gives `max` when min > max
  return lo > p.b ? p.b : lo;
}

const TensorRef& only_input(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": input layout ", layout_name(x.layout),
             " differs from output layout ", layout_name(y.layout));
  return x;
}

template <UnaryFn F>
void unary_scalar(const KernelContext& ctx) {
  const UnaryParams p = ctx.prepared ? ctx.state<UnaryParams>() : UnaryParams{};
  const float* x = only_input(ctx).ptr<const float>();
  float* y = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(ctx.outputs[0].numel(), 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = F(x[i], p);
  });
}

#ifdef SLIMLAB_HAVE_KERNELS
void unary_simd(const KernelContext& ctx) {
  const UnaryParams& p = ctx.state<UnaryParams>();
  const kernels::Activation act{static_cast<kernels::ActKind>(p.simd_kind), p.a, p.b};
  const float* x = only_input(ctx).ptr<const float>();
  float* y = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(ctx.outputs[0].numel(), 16384, [&](int64_t begin, int64_t end) {
    kernels::activation(ctx.isa, act, x + begin, y + begin, end - begin);
  });
}
#endif

void infer_float_unary(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kFloat32) ctx.error("expects float32, got ", dtype_name(ctx.input_dtype(0)));
  infer_like_input0(ctx);
}

// Parameters from attributes, fixed at load.
using ParamsFn = UnaryParams (*)(const Attributes&);
UnaryParams no_params(const Attributes&) { return {}; }

template <ParamsFn P, int Kind>
std::shared_ptr<void> prepare_unary(const PrepareContext& ctx) {
  auto st = std::make_shared<UnaryParams>(P(ctx.attrs));
  st->simd_kind = Kind;
  return st;
}

template <UnaryFn F, ParamsFn P = no_params, int Kind = 0>
OpDef unary_def(const char* type) {
  OpDef def(type);
  def.dtypes({DType::kFloat32}).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic).infer(infer_float_unary)
      .prepare(prepare_unary<P, Kind>).kernel(Isa::kScalar, unary_scalar<F>);
#ifdef SLIMLAB_HAVE_KERNELS
  if (Kind != 0) def.kernel(Isa::kAvx2, unary_simd).kernel(Isa::kAvx512, unary_simd);
#endif
  return def;
}

#ifdef SLIMLAB_HAVE_KERNELS
#define SIMD_KIND(k) static_cast<int>(::slim::kernels::ActKind::k)
#else
#define SIMD_KIND(k) 0
#endif

UnaryParams leaky_params(const Attributes& a) { return {a.get_float("alpha", 0.01f), 0.0f, 0}; }
UnaryParams hardsigmoid_params(const Attributes& a) {
  return {a.get_float("alpha", 0.2f), a.get_float("beta", 0.5f), 0};
}
UnaryParams elu_params(const Attributes& a) { return {a.get_float("alpha", 1.0f), 0.0f, 0}; }
UnaryParams selu_params(const Attributes& a) {
  return {a.get_float("alpha", 1.67326319217681884765625f), a.get_float("gamma", 1.05070102214813232421875f), 0};
}

// Gelu: the approximation attribute picks the function.
std::shared_ptr<void> prepare_gelu(const PrepareContext& ctx) {
  const std::string approx = ctx.attrs.get_string("approximate", "none");
  if (approx != "none" && approx != "tanh") ctx.error("attribute 'approximate' must be none or tanh, got '", approx, "'");
  auto st = std::make_shared<UnaryParams>();
  st->a = approx == "tanh" ? 1.0f : 0.0f;
#ifdef SLIMLAB_HAVE_KERNELS
  st->simd_kind = approx == "tanh" ? SIMD_KIND(kGeluTanh) : SIMD_KIND(kGelu);
#endif
  return st;
}
void gelu_scalar(const KernelContext& ctx) {
  if (ctx.state<UnaryParams>().a != 0.0f) unary_scalar<f_gelu_tanh>(ctx); else unary_scalar<f_gelu>(ctx);
}

// Clip: bounds are inputs since opset 11 (either may be omitted) and were attributes before.
UnaryParams clip_bounds(const KernelContext& ctx) {
  UnaryParams p;
  p.a = -std::numeric_limits<float>::infinity();
  p.b = std::numeric_limits<float>::infinity();
  p.a = ctx.attrs.get_float("min", p.a);
  p.b = ctx.attrs.get_float("max", p.b);
  if (ctx.inputs.size() > 1 && ctx.inputs[1].data) p.a = static_cast<float>(scalar_value(ctx.inputs[1], ctx.attrs.owner(), "min"));
  if (ctx.inputs.size() > 2 && ctx.inputs[2].data) p.b = static_cast<float>(scalar_value(ctx.inputs[2], ctx.attrs.owner(), "max"));
  return p;
}
void clip_kernel(const KernelContext& ctx) {
  const UnaryParams p = clip_bounds(ctx);
  const float* x = only_input(ctx).ptr<const float>();
  float* y = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(ctx.outputs[0].numel(), 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = f_clip(x[i], p);
  });
}

}  // namespace
}  // namespace slim

using slim::unary_def;
REGISTER_OP(Relu) { return unary_def<slim::f_relu, slim::no_params, SIMD_KIND(kRelu)>("Relu"); }
REGISTER_OP(Sqrt) { return unary_def<slim::f_sqrt>("Sqrt"); }
REGISTER_OP(Neg) { return unary_def<slim::f_neg>("Neg"); }
REGISTER_OP(Exp) { return unary_def<slim::f_exp>("Exp"); }
REGISTER_OP(Log) { return unary_def<slim::f_log>("Log"); }
REGISTER_OP(Abs) { return unary_def<slim::f_abs>("Abs"); }
REGISTER_OP(Sigmoid) { return unary_def<slim::f_sigmoid, slim::no_params, SIMD_KIND(kSigmoid)>("Sigmoid"); }
REGISTER_OP(Tanh) { return unary_def<slim::f_tanh, slim::no_params, SIMD_KIND(kTanh)>("Tanh"); }
REGISTER_OP(Erf) { return unary_def<slim::f_erf, slim::no_params, SIMD_KIND(kErf)>("Erf"); }
REGISTER_OP(SiLU) { return unary_def<slim::f_silu, slim::no_params, SIMD_KIND(kSilu)>("SiLU"); }
REGISTER_OP(HardSwish) { return unary_def<slim::f_hardswish, slim::no_params, SIMD_KIND(kHardSwish)>("HardSwish"); }
REGISTER_OP(HardSigmoid) {
  return unary_def<slim::f_hardsigmoid, slim::hardsigmoid_params, SIMD_KIND(kHardSigmoid)>("HardSigmoid");
}
REGISTER_OP(LeakyRelu) { return unary_def<slim::f_leakyrelu, slim::leaky_params, SIMD_KIND(kLeakyRelu)>("LeakyRelu"); }
REGISTER_OP(Elu) { return unary_def<slim::f_elu, slim::elu_params>("Elu"); }
REGISTER_OP(Selu) { return unary_def<slim::f_selu, slim::selu_params>("Selu"); }
REGISTER_OP(Softplus) { return unary_def<slim::f_softplus>("Softplus"); }
REGISTER_OP(Softsign) { return unary_def<slim::f_softsign>("Softsign"); }
REGISTER_OP(Reciprocal) { return unary_def<slim::f_reciprocal>("Reciprocal"); }
REGISTER_OP(Floor) { return unary_def<slim::f_floor>("Floor"); }
REGISTER_OP(Ceil) { return unary_def<slim::f_ceil>("Ceil"); }
REGISTER_OP(Round) { return unary_def<slim::f_round>("Round"); }
REGISTER_OP(Sin) { return unary_def<slim::f_sin>("Sin"); }
REGISTER_OP(Cos) { return unary_def<slim::f_cos>("Cos"); }
REGISTER_OP(Gelu) {
  using namespace slim;
  OpDef def("Gelu");
  def.dtypes({DType::kFloat32}).inputs(1).outputs(1).layout(LayoutPolicy::kAgnostic).infer(infer_float_unary)
      .prepare(prepare_gelu).kernel(Isa::kScalar, gelu_scalar);
#ifdef SLIMLAB_HAVE_KERNELS
  def.kernel(Isa::kAvx2, unary_simd).kernel(Isa::kAvx512, unary_simd);
#endif
  return def;
}
REGISTER_OP(Clip) {
  using namespace slim;
  return OpDef("Clip")
      .dtypes({DType::kFloat32})
      .inputs(1, 3)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_float_unary)
      .kernel(Isa::kScalar, clip_kernel);
}
