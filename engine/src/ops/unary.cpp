// Elementwise unary float ops. Input and output share shape and layout, so
// every kernel is a flat loop split over threads. The activations the kernels
// library computes (Relu ... Exp, Clip) run the f32_vact variant chosen at
// load; the other math functions are loops over one scalar function.
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "ops/common.h"

namespace slim {
namespace {

// Elements per task: enough to amortize a thread hand-off.
constexpr int64_t kGrain = 16384;

const TensorRef& only_input(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": input layout ", layout_name(x.layout),
             " differs from output layout ", layout_name(y.layout));
  return x;
}

void infer_float_unary(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kFloat32) ctx.error("expects float32, got ", dtype_name(ctx.input_dtype(0)));
  infer_like_input0(ctx);
}

// ---- Activations: the f32_vact kernel --------------------------------------
struct ActivationState {
  kernels::Activation act;
  const kernels::F32VactKernel* vact = nullptr;
};

// The activation an op's attributes describe, fixed at load.
using ActivationFn = kernels::Activation (*)(const Attributes&);

template <ActivationFn A>
std::shared_ptr<void> prepare_activation(PrepareContext& ctx) {
  auto st = std::make_shared<ActivationState>();
  st->act = A(ctx.attrs);
  st->vact = ctx.use(ctx.kernels.f32_vact);
  return st;
}

void run_activation(const KernelContext& ctx, const kernels::Activation& act) {
  const kernels::F32VactKernel& vact = *ctx.state<ActivationState>().vact;
  const float* x = only_input(ctx).ptr<const float>();
  float* y = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(ctx.outputs[0].numel(), kGrain, [&](int64_t begin, int64_t end) {
    kernels::activation(vact, act, x + begin, y + begin, end - begin);
  });
}

void activation_kernel(const KernelContext& ctx) { run_activation(ctx, ctx.state<ActivationState>().act); }

// Clip: bounds are inputs since opset 11 (either may be omitted, and they need
// not be constants) and were attributes before. min > max gives max, as in ONNX.
void clip_kernel(const KernelContext& ctx) {
  float lo = ctx.attrs.get_float("min", -std::numeric_limits<float>::infinity());
  float hi = ctx.attrs.get_float("max", std::numeric_limits<float>::infinity());
  if (ctx.inputs.size() > 1 && ctx.inputs[1].data) lo = static_cast<float>(scalar_value(ctx.inputs[1], ctx.attrs.owner(), "min"));
  if (ctx.inputs.size() > 2 && ctx.inputs[2].data) hi = static_cast<float>(scalar_value(ctx.inputs[2], ctx.attrs.owner(), "max"));
  run_activation(ctx, kernels::Activation::clip(lo, hi));
}

kernels::Activation act_relu(const Attributes&) { return kernels::Activation::relu(); }
kernels::Activation act_sigmoid(const Attributes&) { return kernels::Activation::sigmoid(); }
kernels::Activation act_tanh(const Attributes&) { return kernels::Activation::tanh(); }
kernels::Activation act_erf(const Attributes&) { return kernels::Activation::erf(); }
kernels::Activation act_exp(const Attributes&) { return kernels::Activation::exp(); }
kernels::Activation act_silu(const Attributes&) { return kernels::Activation::silu(); }
kernels::Activation act_hard_swish(const Attributes&) { return kernels::Activation::hard_swish(); }
kernels::Activation act_hard_sigmoid(const Attributes& a) {
  return kernels::Activation::hard_sigmoid(a.get_float("alpha", 0.2f), a.get_float("beta", 0.5f));
}
kernels::Activation act_leaky_relu(const Attributes& a) { return kernels::Activation::leaky_relu(a.get_float("alpha", 0.01f)); }
kernels::Activation act_clip(const Attributes&) { return kernels::Activation::clip(0.0f, 0.0f); }  // bounds per run
// Gelu: the approximation attribute picks the function.
kernels::Activation act_gelu(const Attributes& a) {
  const std::string approx = a.get_string("approximate", "none");
  if (approx != "none" && approx != "tanh")
    fail(a.owner(), ": attribute 'approximate' must be none or tanh, got '", approx, "'");
  return approx == "tanh" ? kernels::Activation::gelu_tanh() : kernels::Activation::gelu();
}

template <ActivationFn A>
OpDef activation_def(const char* type, KernelFn fn = activation_kernel) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_float_unary)
      .prepare(prepare_activation<A>)
      .kernel(std::move(fn));
}

// ---- Other math functions: one scalar function per op ----------------------
struct MathParams {
  float a = 0.0f, b = 0.0f;
};

using MathFn = float (*)(float, const MathParams&);
// Parameters from attributes, fixed at load.
using ParamsFn = MathParams (*)(const Attributes&);

MathParams no_params(const Attributes&) { return {}; }
MathParams elu_params(const Attributes& a) { return {a.get_float("alpha", 1.0f), 0.0f}; }
MathParams selu_params(const Attributes& a) {
  return {a.get_float("alpha", 1.67326319217681884765625f), a.get_float("gamma", 1.05070102214813232421875f)};
}

float f_sqrt(float x, const MathParams&) { return std::sqrt(x); }
float f_neg(float x, const MathParams&) { return -x; }
float f_log(float x, const MathParams&) { return std::log(x); }
float f_abs(float x, const MathParams&) { return std::fabs(x); }
float f_elu(float x, const MathParams& p) { return x >= 0.0f ? x : p.a * (std::exp(x) - 1.0f); }
float f_selu(float x, const MathParams& p) { return x > 0.0f ? p.b * x : p.b * (p.a * std::exp(x) - p.a); }
float f_softplus(float x, const MathParams&) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
float f_softsign(float x, const MathParams&) { return x / (1.0f + std::fabs(x)); }
float f_reciprocal(float x, const MathParams&) { return 1.0f / x; }
float f_floor(float x, const MathParams&) { return std::floor(x); }
float f_ceil(float x, const MathParams&) { return std::ceil(x); }
float f_round(float x, const MathParams&) { return std::nearbyint(x); }  // half to even (default FP mode)
float f_sin(float x, const MathParams&) { return std::sin(x); }
float f_cos(float x, const MathParams&) { return std::cos(x); }

template <ParamsFn P>
std::shared_ptr<void> prepare_math(PrepareContext& ctx) {
  return std::make_shared<MathParams>(P(ctx.attrs));
}

template <MathFn F>
void math_kernel(const KernelContext& ctx) {
  const MathParams& p = ctx.state<MathParams>();
  const float* x = only_input(ctx).ptr<const float>();
  float* y = ctx.outputs[0].ptr<float>();
  ctx.parallel_for(ctx.outputs[0].numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = F(x[i], p);
  });
}

template <MathFn F, ParamsFn P = no_params>
OpDef math_def(const char* type) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_float_unary)
      .prepare(prepare_math<P>)
      .kernel(math_kernel<F>);
}

}  // namespace
}  // namespace slim

DEFINE_OP(Relu) { return activation_def<act_relu>("Relu"); }
DEFINE_OP(Sigmoid) { return activation_def<act_sigmoid>("Sigmoid"); }
DEFINE_OP(Tanh) { return activation_def<act_tanh>("Tanh"); }
DEFINE_OP(Erf) { return activation_def<act_erf>("Erf"); }
DEFINE_OP(SiLU) { return activation_def<act_silu>("SiLU"); }
DEFINE_OP(HardSwish) { return activation_def<act_hard_swish>("HardSwish"); }
DEFINE_OP(HardSigmoid) { return activation_def<act_hard_sigmoid>("HardSigmoid"); }
DEFINE_OP(LeakyRelu) { return activation_def<act_leaky_relu>("LeakyRelu"); }
DEFINE_OP(Gelu) { return activation_def<act_gelu>("Gelu"); }
DEFINE_OP(Clip) { return activation_def<act_clip>("Clip", clip_kernel).inputs(1, 3); }
DEFINE_OP(Exp) { return activation_def<act_exp>("Exp"); }
DEFINE_OP(Elu) { return math_def<f_elu, elu_params>("Elu"); }
DEFINE_OP(Selu) { return math_def<f_selu, selu_params>("Selu"); }
DEFINE_OP(Softplus) { return math_def<f_softplus>("Softplus"); }
DEFINE_OP(Softsign) { return math_def<f_softsign>("Softsign"); }
DEFINE_OP(Sqrt) { return math_def<f_sqrt>("Sqrt"); }
DEFINE_OP(Neg) { return math_def<f_neg>("Neg"); }
DEFINE_OP(Log) { return math_def<f_log>("Log"); }
DEFINE_OP(Abs) { return math_def<f_abs>("Abs"); }
DEFINE_OP(Reciprocal) { return math_def<f_reciprocal>("Reciprocal"); }
DEFINE_OP(Floor) { return math_def<f_floor>("Floor"); }
DEFINE_OP(Ceil) { return math_def<f_ceil>("Ceil"); }
DEFINE_OP(Round) { return math_def<f_round>("Round"); }
DEFINE_OP(Sin) { return math_def<f_sin>("Sin"); }
DEFINE_OP(Cos) { return math_def<f_cos>("Cos"); }
