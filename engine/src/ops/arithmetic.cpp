// Arithmetic with numpy broadcasting: Add, Sub, Mul, Div, Pow, Mod, and the
// variadic Max, Min, Sum, Mean.
// Indexing goes through logical strides, so the inputs may each be plain or
// NHWC (e.g. an NHWC activation plus a [C,1,1] constant) and the output is
// written in its own memory order.
#include <cmath>
#include <type_traits>

#include "ops/broadcast.h"

namespace slim {
namespace {

void infer_same_dtype(InferContext& ctx) {
  if (ctx.input_dtype(0) != ctx.input_dtype(1))
    ctx.error("inputs have different dtypes (", dtype_name(ctx.input_dtype(0)), " and ",
              dtype_name(ctx.input_dtype(1)), ")");
  infer_broadcast(ctx, ctx.input_dtype(0));
}

template <typename T>
T int_div(T a, T b) {
  // ONNX integer Div truncates like C; division by zero is undefined there, so
  // give 0 instead of trapping, and MIN / -1 wraps (it traps in hardware too).
  if (b == 0) return T(0);
  if (b == T(-1)) return static_cast<T>(T(0) - static_cast<std::make_unsigned_t<T>>(a));
  return a / b;
}

// Integer +, -, * wrap around as two's complement (what ONNX Runtime's
// integer kernels do in practice); signed overflow in C++ is undefined.
template <typename T, typename F>
T wrapping(T a, T b, F f) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(f(static_cast<U>(a), static_cast<U>(b)));
}

// Float Add/Sub/Mul/Div: each run of the broadcast walk whose operands are
// contiguous or one repeated value (same shapes, a scalar, a per-channel
// vector on NHWC) goes to the f32_vbinary kernel; other strides stay scalar.
struct BinaryState {
  const kernels::F32VbinaryKernel* vbinary = nullptr;
};

std::shared_ptr<void> prepare_binary(PrepareContext& ctx) {
  auto st = std::make_shared<BinaryState>();
  st->vbinary = ctx.use(ctx.kernels.f32_vbinary);
  return st;
}

template <kernels::BinaryOp Op, typename F>
void float_binary(const KernelContext& ctx, F f) {
  const TensorRef &ta = ctx.inputs[0], &tb = ctx.inputs[1], &ty = ctx.outputs[0];
  const int rank = ty.rank();
  const StridedLoop loop(ty.shape, ty.layout,
                         {logical_strides(ty.shape, ty.layout), broadcast_strides(ta, rank), broadcast_strides(tb, rank)});
  const float* a = ta.ptr<const float>();
  const float* b = tb.ptr<const float>();
  float* y = ty.ptr<float>();
  const int64_t inner = loop.inner(), sy = loop.inner_stride(0), sa = loop.inner_stride(1), sb = loop.inner_stride(2);
  // Plan-time folding runs kernels without prepare(): then the scalar loop does it.
  const kernels::F32VbinaryKernel* k = ctx.prepared ? ctx.state<BinaryState>().vbinary : nullptr;
  const bool vector = k != nullptr && sy == 1 && (sa == 0 || sa == 1) && (sb == 0 || sb == 1);
  ctx.parallel_for(loop.rows(), std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                   [&](int64_t begin, int64_t end) {
    int64_t off[3];
    for (int64_t r = begin; r < end; ++r) {
      loop.offsets(r, off);
      if (vector) {
        kernels::binary(*k, Op, a + off[1], sa, b + off[2], sb, y + off[0], inner);
      } else {
        for (int64_t i = 0; i < inner; ++i) y[off[0] + i * sy] = f(a[off[1] + i * sa], b[off[2] + i * sb]);
      }
    }
  });
}

template <typename Op>
void arith(const KernelContext& ctx) {
  const TensorRef &a = ctx.inputs[0], &b = ctx.inputs[1], &y = ctx.outputs[0];
  // Lambdas, not function pointers, so that the scalar loops inline the operation.
  switch (y.dtype) {
    case DType::kFloat32:
      return float_binary<Op::kBinary>(ctx, [](float u, float v) { return Op::template f<float>(u, v); });
    case DType::kInt32:
      return broadcast_binary<int32_t, int32_t, int32_t>(
          ctx, a, b, y, [](int32_t u, int32_t v) { return Op::template f<int32_t>(u, v); });
    case DType::kInt64:
      return broadcast_binary<int64_t, int64_t, int64_t>(
          ctx, a, b, y, [](int64_t u, int64_t v) { return Op::template f<int64_t>(u, v); });
    default: fail(ctx.attrs.owner(), ": unsupported dtype ", dtype_name(y.dtype));
  }
}

struct AddOp {
  static constexpr kernels::BinaryOp kBinary = kernels::BinaryOp::kAdd;
  template <typename T> static T f(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) return a + b;
    else return wrapping(a, b, [](auto x, auto y) { return x + y; });
  }
};
struct SubOp {
  static constexpr kernels::BinaryOp kBinary = kernels::BinaryOp::kSub;
  template <typename T> static T f(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) return a - b;
    else return wrapping(a, b, [](auto x, auto y) { return x - y; });
  }
};
struct MulOp {
  static constexpr kernels::BinaryOp kBinary = kernels::BinaryOp::kMul;
  template <typename T> static T f(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) return a * b;
    else return wrapping(a, b, [](auto x, auto y) { return x * y; });
  }
};
struct DivOp {
  static constexpr kernels::BinaryOp kBinary = kernels::BinaryOp::kDiv;
  template <typename T> static T f(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) return a / b; else return int_div(a, b);
  }
};

void pow_kernel(const KernelContext& ctx) {
  const TensorRef &a = ctx.inputs[0], &b = ctx.inputs[1], &y = ctx.outputs[0];
  auto run = [&](auto bz) {
    using B = decltype(bz);
    broadcast_binary<float, B, float>(ctx, a, b, y, [](float x, B e) {
      // Squares are common (LayerNorm variance, GELU tanh form) and exact as a product.
      return static_cast<float>(e) == 2.0f ? x * x : std::pow(x, static_cast<float>(e));
    });
  };
  switch (b.dtype) {
    case DType::kFloat32: return run(float{});
    case DType::kInt64: return run(int64_t{});
    case DType::kInt32: return run(int32_t{});
    default: fail(ctx.attrs.owner(), ": unsupported exponent dtype ", dtype_name(b.dtype));
  }
}

void infer_pow(InferContext& ctx) { infer_broadcast(ctx, ctx.input_dtype(0)); }

OpDef arith_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32, DType::kInt32, DType::kInt64})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_same_dtype)
      .foldable()
      .prepare(prepare_binary)
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(Add) { return arith_def("Add", arith<AddOp>); }
DEFINE_OP(Sub) { return arith_def("Sub", arith<SubOp>); }
DEFINE_OP(Mul) { return arith_def("Mul", arith<MulOp>); }
DEFINE_OP(Div) { return arith_def("Div", arith<DivOp>); }
DEFINE_OP(Pow) {
  return OpDef("Pow")
      .dtypes({DType::kFloat32})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_pow)
      .kernel(pow_kernel);
}

// Variadic Max, Min, Sum, Mean: folded pairwise into the output, which has the
// broadcast shape of all inputs, so each step reads and writes one index.
namespace slim {
namespace {

void infer_variadic(InferContext& ctx) {
  for (size_t i = 1; i < ctx.num_inputs(); ++i)
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) ctx.error("inputs have different dtypes");
  infer_broadcast(ctx, ctx.input_dtype(0));
}

struct MaxOp { template <typename T> static T f(T a, T b) { return (a != a || a > b) ? a : b; } };
struct MinOp { template <typename T> static T f(T a, T b) { return (a != a || a < b) ? a : b; } };

template <typename Op, bool kMean = false>
void variadic_kernel(const KernelContext& ctx) {
  const TensorRef& y = ctx.outputs[0];
  dispatch_dtype(y.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, bool>) {
      fail(ctx.attrs.owner(), ": bool inputs are not supported");
    } else {
      if (ctx.inputs.size() == 1) {
        broadcast_binary<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[0], y, [](T a, T) { return a; });
      } else {
        broadcast_binary<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], y, Op::template f<T>);
        for (size_t i = 2; i < ctx.inputs.size(); ++i)
          broadcast_binary<T, T, T>(ctx, y, ctx.inputs[i], y, Op::template f<T>);
      }
      if constexpr (kMean) {
        T* p = y.ptr<T>();
        const T n = static_cast<T>(ctx.inputs.size());
        for (int64_t i = 0; i < y.numel(); ++i) p[i] /= n;
      }
    }
  });
}

OpDef variadic_def(const char* type, KernelFn fn, std::vector<DType> dtypes) {
  return OpDef(type)
      .dtypes(std::move(dtypes))
      .inputs(1, 1 << 20)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_variadic)
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(Max) {
  return variadic_def("Max", variadic_kernel<MaxOp>, {DType::kFloat32, DType::kInt32, DType::kInt64});
}
DEFINE_OP(Min) {
  return variadic_def("Min", variadic_kernel<MinOp>, {DType::kFloat32, DType::kInt32, DType::kInt64});
}
DEFINE_OP(Sum) {
  return variadic_def("Sum", variadic_kernel<AddOp>, {DType::kFloat32, DType::kInt32, DType::kInt64});
}
DEFINE_OP(Mean) {
  return variadic_def("Mean", variadic_kernel<AddOp, true>, {DType::kFloat32});
}

// Mod: fmod = 1 keeps the dividend's sign (C fmod, required for floats);
// fmod = 0 keeps the divisor's sign (Python %), integers only.
namespace slim {
namespace {

void infer_mod(InferContext& ctx) {
  infer_same_dtype(ctx);
  if (ctx.input_dtype(0) == DType::kFloat32 && ctx.attrs().get_int("fmod", 0) == 0)
    ctx.error("float inputs need attribute fmod = 1");
}

template <typename T>
T python_mod(T a, T b) {
  if (b == 0 || b == T(-1)) return T(0);  // x % 0 is undefined in ONNX, MIN % -1 traps; x % -1 is 0
  const T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

void mod_kernel(const KernelContext& ctx) {
  const TensorRef &a = ctx.inputs[0], &b = ctx.inputs[1], &y = ctx.outputs[0];
  const bool fmod = ctx.attrs.get_int("fmod", 0) != 0;
  switch (y.dtype) {
    case DType::kFloat32:
      return broadcast_binary<float, float, float>(ctx, a, b, y, [](float p, float q) { return std::fmod(p, q); });
    case DType::kInt32:
      if (fmod) return broadcast_binary<int32_t, int32_t, int32_t>(ctx, a, b, y, [](int32_t p, int32_t q) {
        return q == 0 || q == -1 ? 0 : p % q; });
      return broadcast_binary<int32_t, int32_t, int32_t>(ctx, a, b, y, python_mod<int32_t>);
    case DType::kInt64:
      if (fmod) return broadcast_binary<int64_t, int64_t, int64_t>(ctx, a, b, y, [](int64_t p, int64_t q) {
        return q == 0 || q == -1 ? int64_t(0) : p % q; });
      return broadcast_binary<int64_t, int64_t, int64_t>(ctx, a, b, y, python_mod<int64_t>);
    default: fail(ctx.attrs.owner(), ": unsupported dtype ", dtype_name(y.dtype));
  }
}

}  // namespace
}  // namespace slim

DEFINE_OP(Mod) {
  return arith_def("Mod", mod_kernel).infer(infer_mod);
}
