// uint8 elementwise ops (engine/QUANTIZED.md): QLinearAdd and QLinearMul
// (com.microsoft, numpy broadcasting, any layout), QLinearLookup (the engine's
// 256-entry table op) and QLinearConcat (com.microsoft). The arithmetic runs
// in the kernels library's q8_add / q8_mul / q8_lookup variants chosen at
// load, one call per contiguous run of the broadcast domain; a strided run
// (operands in different layouts) is gathered into a contiguous buffer first.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned.h"
#include "ops/qlinear_common.h"

namespace slim {
namespace {

// ---- QLinearAdd / QLinearMul ---------------------------------------------------
// Inputs: A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point (optional).
enum : size_t { kA = 0, kAScale, kAZp, kB, kBScale, kBZp, kCScale, kCZp };

struct QBinaryState {
  kernels::QBinaryParams p;
  const kernels::Q8AddKernel* add = nullptr;
  const kernels::Q8MulKernel* mul = nullptr;
};

void infer_qbinary(InferContext& ctx) {
  require_dtype(ctx, kB, {DType::kUInt8}, "B");
  check_qparam_dtypes(ctx, kAScale, kAZp, QParamsSpec{"A", {DType::kUInt8}});
  check_qparam_dtypes(ctx, kBScale, kBZp, QParamsSpec{"B", {DType::kUInt8}});
  check_qparam_dtypes(ctx, kCScale, kCZp, QParamsSpec{"C", {DType::kUInt8}, 0, 1, true});
  ctx.set_output(0, DType::kUInt8, broadcast_shapes(ctx.input_shape(kA), ctx.input_shape(kB), ctx.attrs().owner()));
}

template <bool kAdd>
std::shared_ptr<void> prepare_qbinary(PrepareContext& ctx) {
  auto st = std::make_shared<QBinaryState>();
  const QParams aq = read_qparams(ctx, kAScale, kAZp, QParamsSpec{"A", {DType::kUInt8}});
  const QParams bq = read_qparams(ctx, kBScale, kBZp, QParamsSpec{"B", {DType::kUInt8}});
  const QParams cq = read_qparams(ctx, kCScale, kCZp, QParamsSpec{"C", {DType::kUInt8}, 0, 1, true});
  kernels::QBinaryParams& p = st->p;
  p.a_zp = aq.zp[0];
  p.b_zp = bq.zp[0];
  p.y_zp = cq.zp[0];
  // ONNX Runtime's (MLAS) expressions: a_scale / c_scale and b_scale / c_scale; a_scale * b_scale / c_scale.
  if (kAdd) {
    p.a_multiplier = checked_multiplier(ctx, aq.scale[0] / cq.scale[0], "A_scale / C_scale");
    p.b_multiplier = checked_multiplier(ctx, bq.scale[0] / cq.scale[0], "B_scale / C_scale");
    fused_qclamp(ctx.attrs, cq.scale[0], p.y_zp, false, p.qmin, p.qmax);
    st->add = ctx.use(ctx.kernels.q8_add);
  } else {
    p.a_multiplier = checked_multiplier(ctx, aq.scale[0] * bq.scale[0] / cq.scale[0], "A_scale * B_scale / C_scale");
    p.b_multiplier = 1.0f;
    if (ctx.attrs.has("activation")) ctx.error("QLinearMul takes no fused activation");
    st->mul = ctx.use(ctx.kernels.q8_mul);
  }
  return st;
}

void qbinary_kernel(const KernelContext& ctx) {
  const QBinaryState& st = ctx.state<QBinaryState>();
  const TensorRef &ta = ctx.inputs[kA], &tb = ctx.inputs[kB], &ty = ctx.outputs[0];
  if (ty.numel() == 0) return;
  const int rank = ty.rank();
  const StridedLoop loop(ty.shape, ty.layout,
                         {logical_strides(ty.shape, ty.layout), broadcast_strides(ta, rank), broadcast_strides(tb, rank)});
  const auto* a = ta.ptr<const uint8_t>();
  const auto* b = tb.ptr<const uint8_t>();
  auto* y = ty.ptr<uint8_t>();
  const int64_t inner = loop.inner(), sy = loop.inner_stride(0), sa = loop.inner_stride(1), sb = loop.inner_stride(2);
  // Tasks are runs of at most kChunk elements: long runs split across threads too.
  constexpr int64_t kChunk = 8192;
  const int64_t per_row = (inner + kChunk - 1) / kChunk, run = std::min(inner, kChunk);
  const auto call = [&](const uint8_t* pa, const uint8_t* pb, int64_t b_stride, uint8_t* py, int64_t n) {
    if (st.add != nullptr) kernels::q8_add(*st.add, st.p, pa, pb, b_stride, py, n);
    else kernels::q8_mul(*st.mul, st.p, pa, pb, b_stride, py, n);
  };
  ctx.parallel_for(loop.rows() * per_row, std::max<int64_t>(1, 16384 / run), [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> abuf, bbuf, ybuf;
    int64_t off[3];
    for (int64_t t = begin; t < end; ++t) {
      const int64_t row = t / per_row, i0 = (t % per_row) * kChunk, n = std::min(inner - i0, kChunk);
      loop.offsets(row, off);
      const uint8_t* pa = a + off[1] + i0 * sa;
      const uint8_t* pb = b + off[2] + i0 * sb;
      uint8_t* py = y + off[0] + i0 * sy;
      if (sa != 1) {  // gather a (a broadcast value is a fill)
        abuf.resize(static_cast<size_t>(n));
        if (sa == 0) std::memset(abuf.data(), pa[0], static_cast<size_t>(n));
        else for (int64_t i = 0; i < n; ++i) abuf[i] = pa[i * sa];
        pa = abuf.data();
      }
      int64_t b_stride = sb == 0 ? 0 : 1;
      if (sb != 0 && sb != 1) {
        bbuf.resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) bbuf[i] = pb[i * sb];
        pb = bbuf.data();
      }
      if (sy == 1) {
        call(pa, pb, b_stride, py, n);
      } else {
        ybuf.resize(static_cast<size_t>(n));
        call(pa, pb, b_stride, ybuf.data(), n);
        for (int64_t i = 0; i < n; ++i) py[i * sy] = ybuf[i];
      }
    }
  });
}

// ---- QLinearLookup -------------------------------------------------------------
struct QLookupState {
  std::array<uint8_t, 256> table{};
  const kernels::Q8LookupKernel* lookup = nullptr;
};

void infer_qlookup(InferContext& ctx) {
  require_dtype(ctx, 1, {DType::kUInt8}, "table");
  if (ctx.input_shape(1) != Shape{256}) ctx.error("table (input 1) must be uint8 [256], got ", shape_str(ctx.input_shape(1)));
  ctx.set_output(0, DType::kUInt8, ctx.input_shape(0));
}

std::shared_ptr<void> prepare_qlookup(PrepareContext& ctx) {
  const TensorRef* t = ctx.constant(1);
  if (t == nullptr) ctx.error("table (input 1) must be a constant");
  if (t->dtype != DType::kUInt8 || t->shape != Shape{256})
    ctx.error("table (input 1) must be uint8 [256], got ", dtype_name(t->dtype), " ", shape_str(t->shape));
  auto st = std::make_shared<QLookupState>();
  std::memcpy(st->table.data(), t->data, 256);
  st->lookup = ctx.use(ctx.kernels.q8_lookup);
  return st;
}

// y = table[x] over a whole buffer (x and y in one layout), split over the threads.
void lookup_buffer(const KernelContext& ctx, const kernels::Q8LookupKernel& k, const uint8_t* table, const uint8_t* x,
                   uint8_t* y, int64_t n) {
  parallel_chunks(ctx, n, 1 << 16, [&](int64_t b, int64_t e) { kernels::q8_lookup(k, table, x + b, y + b, e - b); });
}

void qlookup_kernel(const KernelContext& ctx) {
  const QLookupState& st = ctx.state<QLookupState>();
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  SLIM_CHECK(x.layout == y.layout || x.rank() != 4, ctx.attrs.owner(), ": internal error: input layout ",
             layout_name(x.layout), " differs from output layout ", layout_name(y.layout));
  lookup_buffer(ctx, *st.lookup, st.table.data(), x.ptr<const uint8_t>(), y.ptr<uint8_t>(), y.numel());
}

// ---- QLinearConcat -------------------------------------------------------------
// Inputs: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per concatenated tensor.
struct QConcatState {
  // Per input: empty = copied (same scale and zero point as the output), else the
  // requantization table Q_y(DQ_x(code)) for every code, as ONNX Runtime builds it.
  std::vector<std::vector<uint8_t>> tables;
  const kernels::Q8LookupKernel* lookup = nullptr;
};

size_t concat_inputs(size_t total, const std::string& owner) {
  SLIM_CHECK(total >= 5 && (total - 2) % 3 == 0, owner, ": takes Y_scale, Y_zero_point and then (X, X_scale, "
             "X_zero_point) triples, got ", total, " inputs");
  return (total - 2) / 3;
}

void infer_qconcat(InferContext& ctx) {
  const size_t count = concat_inputs(ctx.num_inputs(), ctx.attrs().owner());
  check_qparam_dtypes(ctx, 0, 1, QParamsSpec{"Y", {DType::kUInt8}});
  const Shape& first = ctx.input_shape(2);
  const int rank = static_cast<int>(first.size());
  const int axis = normalize_axis(ctx.attrs().get_int("axis"), rank, "axis");
  Shape out = first;
  out[axis] = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t xi = 2 + 3 * i;
    if (!ctx.has_input(xi)) ctx.error("X (input ", xi, ") is missing");
    require_dtype(ctx, xi, {DType::kUInt8}, "X");
    check_qparam_dtypes(ctx, xi + 1, xi + 2, QParamsSpec{"X", {DType::kUInt8}});
    const Shape& s = ctx.input_shape(xi);
    if (static_cast<int>(s.size()) != rank) ctx.error("input ", xi, " has rank ", s.size(), ", expected ", rank);
    for (int d = 0; d < rank; ++d)
      if (d != axis && s[d] != first[d])
        ctx.error("input ", xi, " shape ", shape_str(s), " does not match ", shape_str(first), " off axis ", axis);
    out[axis] = add_dims(ctx.attrs().owner(), "concatenated axis", out[axis], s[axis]);
  }
  ctx.set_output(0, DType::kUInt8, out);
}

std::shared_ptr<void> prepare_qconcat(PrepareContext& ctx) {
  const size_t count = concat_inputs(ctx.inputs.size(), ctx.attrs.owner());
  const QParams yq = read_qparams(ctx, 0, 1, QParamsSpec{"Y", {DType::kUInt8}});
  auto st = std::make_shared<QConcatState>();
  st->tables.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const size_t xi = 2 + 3 * i;
    const QParams xq = read_qparams(ctx, xi + 1, xi + 2, QParamsSpec{"X", {DType::kUInt8}});
    if (xq.scale[0] == yq.scale[0] && xq.zp[0] == yq.zp[0]) continue;
    if (st->lookup == nullptr) st->lookup = ctx.use(ctx.kernels.q8_lookup);
    // The table through the kernels: dequantize every code, quantize it to the output's grid.
    std::array<uint8_t, 256> codes;
    std::array<float, 256> real;
    for (int c = 0; c < 256; ++c) codes[c] = static_cast<uint8_t>(c);
    kernels::q8_dequantize(*ctx.use(ctx.kernels.q8_dequantize), codes.data(), xq.scale[0], xq.zp[0], real.data(), 256);
    st->tables[i].resize(256);
    kernels::q8_quantize(*ctx.use(ctx.kernels.q8_quantize), real.data(), yq.scale[0], yq.zp[0], st->tables[i].data(),
                         256);
  }
  return st;
}

void qconcat_kernel(const KernelContext& ctx) {
  const QConcatState& st = ctx.state<QConcatState>();
  const TensorRef& y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int axis = normalize_axis(ctx.attrs.get_int("axis"), y.rank(), "axis");
  const auto ys = logical_strides(y.shape, y.layout);
  int64_t offset = 0;
  for (size_t i = 0; i < st.tables.size(); ++i) {
    const TensorRef& x = ctx.inputs[2 + 3 * i];
    const int64_t n = x.numel();
    if (n > 0) {
      const void* src = x.data;
      std::shared_ptr<void> requantized;
      if (!st.tables[i].empty()) {
        requantized = aligned_buffer(static_cast<size_t>(n));
        lookup_buffer(ctx, *st.lookup, st.tables[i].data(), x.ptr<const uint8_t>(),
                      static_cast<uint8_t*>(requantized.get()), n);
        src = requantized.get();
      }
      strided_copy(ctx, x.shape, y.layout, 1, y.data, ys, offset * ys[axis], src, logical_strides(x.shape, x.layout), 0);
    }
    offset += x.shape[axis];
  }
}

}  // namespace
}  // namespace slim

DEFINE_OP(QLinearAdd) {
  return OpDef("QLinearAdd")
      .dtypes({DType::kUInt8})
      .inputs(7, 8)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_qbinary)
      .prepare(prepare_qbinary<true>)
      .kernel(qbinary_kernel);
}

DEFINE_OP(QLinearMul) {
  return OpDef("QLinearMul")
      .dtypes({DType::kUInt8})
      .inputs(7, 8)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_qbinary)
      .prepare(prepare_qbinary<false>)
      .kernel(qbinary_kernel);
}

DEFINE_OP(QLinearLookup) {
  return OpDef("QLinearLookup")
      .dtypes({DType::kUInt8})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_qlookup)
      .prepare(prepare_qlookup)
      .kernel(qlookup_kernel);
}

// Input 0 is Y_scale, so the dtype the registry checks (and supported_ops() lists) is float32.
DEFINE_OP(QLinearConcat) {
  return OpDef("QLinearConcat")
      .dtypes({DType::kFloat32})
      .inputs(5, 2 + 3 * (1 << 18))
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_qconcat)
      .prepare(prepare_qconcat)
      .kernel(qconcat_kernel);
}
