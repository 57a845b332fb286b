// The rarer elementwise ops: float functions (IsInf, IsNaN, Sign, Celu,
// ThresholdedRelu, Shrink, Mish, Swish, Tan and the inverse and hyperbolic
// trigonometric functions), integer bit operations (BitwiseAnd/Or/Xor/Not,
// BitShift-28), EyeLike and ReverseSequence. None of them has a kernels-library
// family (they are rare in real models): each is a loop over one scalar
// function, in any layout since input and output share it.
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "ops/broadcast.h"
#include "ops/common.h"

namespace slim {
namespace {

constexpr int64_t kGrain = 16384;

struct Params {
  float a = 0.0f, b = 0.0f;
  bool flag1 = true, flag2 = true;
};
using ParamsFn = Params (*)(const Attributes&);
Params no_params(const Attributes&) { return {}; }

template <ParamsFn P>
std::shared_ptr<void> prepare_params(PrepareContext& ctx) {
  return std::make_shared<Params>(P(ctx.attrs));
}

// y = F(x) elementwise, same shape and layout; X and Y are the element types.
template <typename X, typename Y, Y (*F)(X, const Params&)>
void map_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": input layout ", layout_name(x.layout),
             " differs from output layout ", layout_name(y.layout));
  const Params& p = ctx.state<Params>();
  const X* xp = x.ptr<const X>();
  Y* yp = y.ptr<Y>();
  ctx.parallel_for(y.numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) yp[i] = F(xp[i], p);
  });
}

template <DType kOut>
void infer_map(InferContext& c) {
  c.set_output(0, kOut == DType::kUndefined ? c.input_dtype(0) : kOut, c.input_shape(0));
}

template <typename X, typename Y, Y (*F)(X, const Params&), ParamsFn P = no_params, DType kOut = DType::kUndefined>
OpDef map_def(const char* type, std::vector<DType> dtypes) {
  return OpDef(type)
      .dtypes(std::move(dtypes))
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_map<kOut>)
      .prepare(prepare_params<P>)
      .kernel(map_kernel<X, Y, F>);
}

// Float functions; NaN in, NaN out (each formula propagates it).
float f_sign(float x, const Params&) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }  // NaN and +-0 pass through
float f_celu(float x, const Params& p) {
  return std::isnan(x) ? x : std::max(0.0f, x) + std::min(0.0f, p.a * std::expm1(x / p.a));
}
float f_thresholded_relu(float x, const Params& p) { return x > p.a ? x : (std::isnan(x) ? x : 0.0f); }
float f_shrink(float x, const Params& p) {
  return x < -p.a ? x + p.b : x > p.a ? x - p.b : (std::isnan(x) ? x : 0.0f);
}
float f_mish(float x, const Params&) {
  const float sp = x > 20.0f ? x : std::log1p(std::exp(x));  // softplus without overflow
  return x * std::tanh(sp);
}
float f_swish(float x, const Params& p) { return x / (1.0f + std::exp(-p.a * x)); }
float f_tan(float x, const Params&) { return std::tan(x); }
float f_asin(float x, const Params&) { return std::asin(x); }
float f_acos(float x, const Params&) { return std::acos(x); }
float f_atan(float x, const Params&) { return std::atan(x); }
float f_sinh(float x, const Params&) { return std::sinh(x); }
float f_cosh(float x, const Params&) { return std::cosh(x); }
float f_asinh(float x, const Params&) { return std::asinh(x); }
float f_acosh(float x, const Params&) { return std::acosh(x); }
float f_atanh(float x, const Params&) { return std::atanh(x); }
bool f_isnan(float x, const Params&) { return std::isnan(x); }
bool f_isinf(float x, const Params& p) { return std::isinf(x) && (x > 0 ? p.flag1 : p.flag2); }

template <typename T>
T f_sign_int(T x, const Params&) { return static_cast<T>(x > 0 ? 1 : x < 0 ? -1 : 0); }

Params celu_params(const Attributes& a) {
  const float alpha = a.get_float("alpha", 1.0f);
  SLIM_CHECK(alpha != 0.0f && std::isfinite(alpha), a.owner(), ": attribute 'alpha' = ", alpha,
             " must be finite and non-zero");
  return {alpha, 0.0f};
}
Params thresholded_relu_params(const Attributes& a) { return {a.get_float("alpha", 1.0f), 0.0f}; }
Params shrink_params(const Attributes& a) { return {a.get_float("lambd", 0.5f), a.get_float("bias", 0.0f)}; }
Params swish_params(const Attributes& a) { return {a.get_float("alpha", 1.0f), 0.0f}; }
Params isinf_params(const Attributes& a) {
  Params p;
  p.flag1 = int_attr(a, "detect_positive", 1, 0, 1) != 0;
  p.flag2 = int_attr(a, "detect_negative", 1, 0, 1) != 0;
  return p;
}

// ---- Bitwise ops and BitShift on the integer dtypes the engine has --------------
// (int8, uint8, int32, int64; the engine has no uint16/uint32/uint64)
const std::vector<DType> kIntTypes = {DType::kInt64, DType::kInt32, DType::kUInt8, DType::kInt8};

template <typename F>
void dispatch_int(DType d, const std::string& owner, F&& f) {
  switch (d) {
    case DType::kInt64: return f(int64_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kInt8: return f(int8_t{});
    default: fail(owner, ": expects an integer dtype, got ", dtype_name(d));
  }
}

void infer_bitwise(InferContext& c) {
  if (c.input_dtype(1) != c.input_dtype(0)) c.error("inputs have different dtypes");
  infer_broadcast(c, c.input_dtype(0));
}

enum class Bit { kAnd, kOr, kXor };

template <Bit B>
void bitwise_kernel(const KernelContext& ctx) {
  dispatch_int(ctx.inputs[0].dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    broadcast_binary<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], [](T a, T b) {
      return static_cast<T>(B == Bit::kAnd ? (a & b) : B == Bit::kOr ? (a | b) : (a ^ b));
    });
  });
}

void bitwise_not_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  dispatch_int(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* xp = x.ptr<const T>();
    T* yp = y.ptr<T>();
    for (int64_t i = 0; i < y.numel(); ++i) yp[i] = static_cast<T>(~xp[i]);
  });
}

// BitShift at opset 28: unsigned and signed integers (of those, the engine has uint8, int8, int32, int64;
// it has no uint16/uint32/uint64 nor int16). A signed right shift is arithmetic; a left shift drops the bits
// that leave the type; a shift by a negative amount or by the width or more gives what the sign extension
// alone gives: -1 for a right shift of a negative value, else 0 (C++ would leave these undefined).
void infer_bitshift(InferContext& c) {
  if (c.input_dtype(1) != c.input_dtype(0)) c.error("inputs have different dtypes");
  enum_attr(c.attrs(), "direction", "", {"LEFT", "RIGHT"});
  infer_broadcast(c, c.input_dtype(0));
}

template <typename T>
T shift(T a, T s, bool left) {
  using U = std::make_unsigned_t<T>;
  constexpr int64_t kBits = 8 * sizeof(T);
  const int64_t n = static_cast<int64_t>(s);
  const bool negative = std::is_signed_v<T> && a < 0;
  if (n < 0 || n >= kBits) return (!left && negative) ? static_cast<T>(-1) : T(0);
  if (left) return static_cast<T>(static_cast<U>(static_cast<U>(a) << n));
  // arithmetic right shift without relying on how the compiler shifts negative values
  if (negative) return static_cast<T>(~static_cast<T>(static_cast<U>(~a) >> n));
  return static_cast<T>(static_cast<U>(a) >> n);
}

void bitshift_kernel(const KernelContext& ctx) {
  const bool left = ctx.attrs.get_string("direction") == "LEFT";
  dispatch_int(ctx.inputs[0].dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    broadcast_binary<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                              [left](T a, T s) { return shift<T>(a, s, left); });
  });
}

// ---- EyeLike --------------------------------------------------------------------
void infer_eye_like(InferContext& c) {
  if (c.input_shape(0).size() != 2) c.error("input must be 2-D, got ", shape_str(c.input_shape(0)));
  DType out = c.input_dtype(0);
  if (c.attrs().has("dtype")) {
    const int64_t code = c.attrs().get_int("dtype");
    out = DType::kUndefined;
    for (DType d : kAllTypes)
      if (static_cast<int64_t>(d) == code) out = d;
    if (out == DType::kUndefined) c.error("attribute 'dtype' = ", code, " is not a dtype the engine has");
  }
  c.set_output(0, out, c.input_shape(0));
}

void eye_like_kernel(const KernelContext& ctx) {
  const TensorRef& y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int64_t rows = y.shape[0], cols = y.shape[1];
  const int64_t k = std::max(-rows, std::min(cols, ctx.attrs.get_int("k", 0)));  // beyond the matrix: all zeros
  dispatch_dtype(y.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    T* yp = y.ptr<T>();
    std::fill(yp, yp + y.numel(), T(0));
    for (int64_t i = std::max<int64_t>(0, -k); i < rows && i + k < cols; ++i) yp[i * cols + i + k] = T(1);
  });
}

// ---- ReverseSequence ------------------------------------------------------------
void infer_reverse_sequence(InferContext& c) {
  const Shape& x = c.input_shape(0);
  if (x.size() < 2) c.error("input must have rank >= 2, got ", shape_str(x));
  const int64_t batch_axis = int_attr(c.attrs(), "batch_axis", 1, 0, 1);
  const int64_t time_axis = int_attr(c.attrs(), "time_axis", 0, 0, 1);
  if (batch_axis == time_axis) c.error("batch_axis and time_axis must differ");
  require_dtype(c, 1, {DType::kInt64}, "sequence_lens");
  if (c.input_shape(1) != Shape{x[static_cast<size_t>(batch_axis)]})
    c.error("sequence_lens shape ", shape_str(c.input_shape(1)), " must be [", x[static_cast<size_t>(batch_axis)], "]");
  c.set_output(0, c.input_dtype(0), x);
}

void reverse_sequence_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int batch_axis = static_cast<int>(ctx.attrs.get_int("batch_axis", 1));
  const int time_axis = static_cast<int>(ctx.attrs.get_int("time_axis", 0));
  const int64_t* lens = ctx.inputs[1].ptr<const int64_t>();
  const int64_t batch = x.shape[batch_axis], time = x.shape[time_axis];
  const auto st = logical_strides(x.shape, Layout::kPlain);
  int64_t inner = 1;
  for (int d = 2; d < x.rank(); ++d) inner *= x.shape[d];
  const size_t es = dtype_size(x.dtype);
  const auto* src = static_cast<const uint8_t*>(x.data);
  auto* dst = static_cast<uint8_t*>(y.data);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = lens[b];
    SLIM_CHECK(len >= 0 && len <= time, ctx.attrs.owner(), ": sequence_lens[", b, "] = ", len,
               " is out of range [0, ", time, "]");
    for (int64_t t = 0; t < time; ++t) {
      const int64_t from = t < len ? len - 1 - t : t;
      const int64_t d_off = b * st[batch_axis] + t * st[time_axis], s_off = b * st[batch_axis] + from * st[time_axis];
      std::memcpy(dst + d_off * static_cast<int64_t>(es), src + s_off * static_cast<int64_t>(es),
                  static_cast<size_t>(inner) * es);
    }
  }
}

const std::vector<DType> kF32 = {DType::kFloat32};

}  // namespace
}  // namespace slim

DEFINE_OP(IsNaN) { return map_def<float, bool, f_isnan, no_params, DType::kBool>("IsNaN", kF32); }
DEFINE_OP(IsInf) { return map_def<float, bool, f_isinf, isinf_params, DType::kBool>("IsInf", kF32); }
DEFINE_OP(Sign) {
  // one kernel per dtype, picked in the kernel by the input's dtype
  return map_def<float, float, f_sign>("Sign", {DType::kFloat32, DType::kInt64, DType::kInt32})
      .kernel([](const KernelContext& ctx) {
        switch (ctx.inputs[0].dtype) {
          case DType::kInt64: return map_kernel<int64_t, int64_t, f_sign_int<int64_t>>(ctx);
          case DType::kInt32: return map_kernel<int32_t, int32_t, f_sign_int<int32_t>>(ctx);
          default: return map_kernel<float, float, f_sign>(ctx);
        }
      })
      .foldable();
}
DEFINE_OP(Celu) { return map_def<float, float, f_celu, celu_params>("Celu", kF32); }
DEFINE_OP(ThresholdedRelu) {
  return map_def<float, float, f_thresholded_relu, thresholded_relu_params>("ThresholdedRelu", kF32);
}
DEFINE_OP(Shrink) { return map_def<float, float, f_shrink, shrink_params>("Shrink", kF32); }
DEFINE_OP(Mish) { return map_def<float, float, f_mish>("Mish", kF32); }
DEFINE_OP(Swish) { return map_def<float, float, f_swish, swish_params>("Swish", kF32); }
DEFINE_OP(Tan) { return map_def<float, float, f_tan>("Tan", kF32); }
DEFINE_OP(Asin) { return map_def<float, float, f_asin>("Asin", kF32); }
DEFINE_OP(Acos) { return map_def<float, float, f_acos>("Acos", kF32); }
DEFINE_OP(Atan) { return map_def<float, float, f_atan>("Atan", kF32); }
DEFINE_OP(Sinh) { return map_def<float, float, f_sinh>("Sinh", kF32); }
DEFINE_OP(Cosh) { return map_def<float, float, f_cosh>("Cosh", kF32); }
DEFINE_OP(Asinh) { return map_def<float, float, f_asinh>("Asinh", kF32); }
DEFINE_OP(Acosh) { return map_def<float, float, f_acosh>("Acosh", kF32); }
DEFINE_OP(Atanh) { return map_def<float, float, f_atanh>("Atanh", kF32); }

namespace slim {
namespace {
OpDef bit_def(const char* type, InferFn infer, KernelFn fn, std::vector<DType> dtypes = kIntTypes) {
  return OpDef(type).dtypes(std::move(dtypes)).inputs(2).outputs(1).layout(LayoutPolicy::kAgnostic)
      .infer(std::move(infer)).kernel(std::move(fn));
}
}  // namespace
}  // namespace slim

DEFINE_OP(BitwiseAnd) { return bit_def("BitwiseAnd", infer_bitwise, bitwise_kernel<Bit::kAnd>); }
DEFINE_OP(BitwiseOr) { return bit_def("BitwiseOr", infer_bitwise, bitwise_kernel<Bit::kOr>); }
DEFINE_OP(BitwiseXor) { return bit_def("BitwiseXor", infer_bitwise, bitwise_kernel<Bit::kXor>); }
DEFINE_OP(BitwiseNot) {
  return bit_def("BitwiseNot", infer_map<DType::kUndefined>, bitwise_not_kernel).inputs(1);
}
DEFINE_OP(BitShift) { return bit_def("BitShift", infer_bitshift, bitshift_kernel); }
DEFINE_OP(EyeLike) {
  return OpDef("EyeLike").dtypes(kAllTypes).inputs(1).outputs(1).layout(LayoutPolicy::kPlain)
      .infer(infer_eye_like).kernel(eye_like_kernel);
}
DEFINE_OP(ReverseSequence) {
  return OpDef("ReverseSequence").dtypes(kAllTypes).inputs(2).outputs(1).layout(LayoutPolicy::kPlain)
      .infer(infer_reverse_sequence).kernel(reverse_sequence_kernel);
}
