// QGemm (com.microsoft) and QLinearMatMul (ONNX) on the q8_gemm variant chosen
// at load (engine/QUANTIZED.md): A uint8 [M, K] (QLinearMatMul: any batch dims,
// flattened into M), B a constant int8 [K, N] (QGemm transB: [N, K]) packed
// once with its column sums, so that -a_zp * colsum[n] folds into the int32
// bias. Output uint8 requantized per column, or (QGemm without y_scale) f32.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ops/fused_activation.h"
#include "ops/qlinear_common.h"

namespace slim {
namespace {

struct QGemmState {
  const kernels::Q8GemmKernel* gemm = nullptr;
  const kernels::F32VactKernel* vact = nullptr;  // QGemm with f32 output and a fused activation
  kernels::Activation f32_act;                    // applied after an f32 output
  int64_t k = 0, n = 0;
  std::vector<int8_t> packed_b;
  std::vector<int32_t> bias;       // C[n] - a_zp * colsum[n]
  std::vector<float> multiplier;   // per column
  int32_t y_zp = 0, qmin = 0, qmax = 255;
  bool f32_output = false;
};

const QParamsSpec kASpec{"a", {DType::kUInt8}};
const QParamsSpec kYSpec{"y", {DType::kUInt8}};

// Packs B (K x N, or its transpose) for `st.gemm`, computes bias' from C (may be
// null) and checks that no accumulator can overflow int32.
void pack_weights(const PrepareContext& ctx, QGemmState& st, const TensorRef& b, bool trans_b, const int32_t* c,
                  int32_t a_zp) {
  const int64_t k = st.k, n = st.n;
  if (n == 0) {  // no output column: nothing to pack (the kernels refuse empty matrices)
    st.packed_b.resize(1);
    return;
  }
  std::vector<int32_t> col_sums(static_cast<size_t>(n));
  st.packed_b.resize(static_cast<size_t>(std::max<int64_t>(1, kernels::q8_packed_b_bytes(*st.gemm, k, n))));
  if (trans_b) kernels::q8_pack_b_transposed(*st.gemm, k, n, b.ptr<const int8_t>(), k, st.packed_b.data(), col_sums.data());
  else kernels::q8_pack_b(*st.gemm, k, n, b.ptr<const int8_t>(), n, st.packed_b.data(), col_sums.data());
  st.bias.resize(static_cast<size_t>(n));
  const int64_t worst_sum = k * 255 * 128;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t cj = c ? int64_t{c[j]} : 0;
    const int64_t v = cj - int64_t{a_zp} * col_sums[j];
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max() ||
        worst_sum + (cj < 0 ? -cj : cj) > std::numeric_limits<int32_t>::max())
      ctx.error("the int32 accumulator of output column ", j, " can overflow (K = ", k, ", C = ", cj,
                ", C - a_zero_point * sum(B) = ", v, ")");
    st.bias[j] = static_cast<int32_t>(v);
  }
}

// C = requant(A * B) over the whole [M, N] output, split over the threads.
void run_qgemm(const KernelContext& ctx, const QGemmState& st, int64_t m, const uint8_t* a, void* y) {
  if (m == 0 || st.n == 0) return;
  kernels::QEpilogue ep;
  ep.bias = st.bias.data();
  ep.scale = st.multiplier.data();
  ep.zero_point = st.y_zp;
  ep.qmin = st.qmin;
  ep.qmax = st.qmax;
  ep.f32_output = st.f32_output;
  const bool act = st.f32_output && st.f32_act.kind != kernels::ActKind::kNone;
  split_q8_gemm(ctx, *st.gemm, m, st.n, [&](kernels::Range rows, kernels::Range cols) {
    kernels::q8_gemm_packed(*st.gemm, st.k, st.n, a, st.k, st.packed_b.data(), y, st.n, ep, rows, cols);
    if (act) {
      float* yf = static_cast<float*>(y);
      for (int64_t i = rows.begin; i < rows.end; ++i)
        kernels::activation(*st.vact, st.f32_act, yf + i * st.n + cols.begin, yf + i * st.n + cols.begin,
                            cols.size());
    }
  });
}

// ---- QGemm ------------------------------------------------------------------
// Inputs: A, a_scale, a_zero_point, B, b_scale, b_zero_point, C (optional), y_scale (optional), y_zero_point (optional).
enum : size_t { kA = 0, kAScale, kAZp, kB, kBScale, kBZp, kC, kYScale, kYZp };

void infer_qgemm(InferContext& ctx) {
  const Shape &a = ctx.input_shape(kA), &b = ctx.input_shape(kB);
  if (a.size() != 2 || b.size() != 2) ctx.error("A and B must be rank 2, got ", shape_str(a), " and ", shape_str(b));
  if (ctx.attrs().get_int("transA", 0) != 0) ctx.error("attribute 'transA' must be 0 (the converter transposes A)");
  const bool tb = ctx.attrs().get_int("transB", 0) != 0;
  const int64_t m = a[0], k = a[1], kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) ctx.error("inner dims differ: A ", shape_str(a), " B ", shape_str(b), " (transB ", tb, ")");
  if (k == 0) ctx.error("A ", shape_str(a), " has an empty inner dim");
  check_qparam_dtypes(ctx, kAScale, kAZp, kASpec);
  if (ctx.input_dtype(kB) != DType::kInt8)
    ctx.error("B (input 3) has dtype ", dtype_name(ctx.input_dtype(kB)),
              ", expected int8 (symmetric weights; the converter maps uint8 weights with zero point 128 to int8)");
  check_qparam_dtypes(ctx, kBScale, kBZp, QParamsSpec{"b", {DType::kInt8}});
  if (ctx.has_input(kC)) require_dtype(ctx, kC, {DType::kInt32}, "C");
  const bool u8 = ctx.has_input(kYScale);
  if (u8) check_qparam_dtypes(ctx, kYScale, kYZp, kYSpec);
  else if (ctx.has_input(kYZp)) ctx.error("y_zero_point (input 8) is given without y_scale (input 7)");
  ctx.set_output(0, u8 ? DType::kUInt8 : DType::kFloat32, {m, n});
}

std::shared_ptr<void> prepare_qgemm(PrepareContext& ctx) {
  auto st = std::make_shared<QGemmState>();
  if (ctx.attrs.get_int("transA", 0) != 0) ctx.error("attribute 'transA' must be 0 (the converter transposes A)");
  const bool trans_b = ctx.attrs.get_int("transB", 0) != 0;
  const float alpha = ctx.attrs.get_float("alpha", 1.0f);
  if (!std::isfinite(alpha) || alpha == 0.0f) ctx.error("attribute 'alpha' = ", alpha, " must be finite and non-zero");
  const TensorRef* b = ctx.constant(kB);
  if (b == nullptr) ctx.error("B (input 3) must be a constant");
  if (b->dtype != DType::kInt8)
    ctx.error("B (input 3) has dtype ", dtype_name(b->dtype),
              ", expected int8 (symmetric weights; the converter maps uint8 weights with zero point 128 to int8)");
  if (b->rank() != 2) ctx.error("B (input 3) must be rank 2, got ", shape_str(b->shape));
  st->k = trans_b ? b->shape[1] : b->shape[0];
  st->n = trans_b ? b->shape[0] : b->shape[1];
  if (st->k == 0) ctx.error("B (input 3) ", shape_str(b->shape), " has an empty inner dim");

  const QParams aq = read_qparams(ctx, kAScale, kAZp, kASpec);
  const QParams bq = read_qparams(ctx, kBScale, kBZp, QParamsSpec{"b", {DType::kInt8}, st->n});
  for (size_t i = 0; i < bq.zp.size(); ++i)
    if (bq.zp[i] != 0)
      ctx.error("b_zero_point (input 5) must be 0 (symmetric int8 weights), got ", bq.zp[i],
                bq.zp.size() > 1 ? " at index " + std::to_string(i) : std::string());
  st->f32_output = !ctx.has_input(kYScale);
  QParams yq;
  if (!st->f32_output) {
    if (!ctx.has_input(kYZp)) ctx.error("y_zero_point (input 8) is required with y_scale (input 7)");
    yq = read_qparams(ctx, kYScale, kYZp, kYSpec);
    st->y_zp = yq.zp[0];
    fused_qclamp(ctx.attrs, yq.scale[0], st->y_zp, true, st->qmin, st->qmax);
  } else {
    if (ctx.has_input(kYZp)) ctx.error("y_zero_point (input 8) is given without y_scale (input 7)");
    st->f32_act = parse_fused_activation(ctx.attrs);
    st->vact = ctx.use(ctx.kernels.f32_vact);
  }
  // ONNX Runtime's expression: (alpha * a_scale * b_scale[n]) / y_scale.
  st->multiplier.resize(static_cast<size_t>(st->n));
  for (int64_t j = 0; j < st->n; ++j) {
    float m = alpha * aq.scale[0] * bq.scale[bq.per_channel() ? static_cast<size_t>(j) : 0];
    if (!st->f32_output) m = checked_multiplier(ctx, m / yq.scale[0], "alpha * a_scale * b_scale / y_scale");
    else if (!std::isfinite(m)) ctx.error("output scale alpha * a_scale * b_scale = ", m, " is not finite");
    st->multiplier[j] = m;
  }

  const int32_t* c = nullptr;
  if (ctx.has_input(kC)) {
    const TensorRef* ct = ctx.constant(kC);
    if (ct == nullptr) ctx.error("C (input 6) must be a constant");
    const bool per_column = ct->numel() == st->n && (ct->rank() == 1 || (ct->rank() == 2 && ct->shape[0] == 1));
    if (ct->dtype != DType::kInt32 || !per_column)
      ctx.error("C (input 6) must be an int32 bias [", st->n, "] or [1, ", st->n, "], got ", dtype_name(ct->dtype), " ",
                shape_str(ct->shape));
    c = ct->ptr<const int32_t>();
  }
  st->gemm = ctx.use(ctx.kernels.q8_gemm);
  pack_weights(ctx, *st, *b, trans_b, c, aq.zp[0]);
  return st;
}

void qgemm_kernel(const KernelContext& ctx) {
  const QGemmState& st = ctx.state<QGemmState>();
  const TensorRef &a = ctx.inputs[kA], &y = ctx.outputs[0];
  SLIM_CHECK(a.shape[1] == st.k && y.shape[1] == st.n, ctx.attrs.owner(), ": A ", shape_str(a.shape),
             " does not match the packed B (K = ", st.k, ", N = ", st.n, ")");
  run_qgemm(ctx, st, y.shape[0], a.ptr<const uint8_t>(), y.data);
}

// ---- QLinearMatMul ------------------------------------------------------------
// Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point.
enum : size_t { kMa = 0, kMaScale, kMaZp, kMb, kMbScale, kMbZp, kMyScale, kMyZp };

void infer_qmatmul(InferContext& ctx) {
  const Shape &a = ctx.input_shape(kMa), &b = ctx.input_shape(kMb);
  if (a.size() < 2) ctx.error("a must have rank >= 2, got ", shape_str(a));
  if (b.size() != 2) ctx.error("b must be a rank-2 constant [K, N], got ", shape_str(b));
  if (a.back() != b[0]) ctx.error("inner dims differ: a ", shape_str(a), " b ", shape_str(b));
  if (b[0] == 0) ctx.error("b ", shape_str(b), " has an empty inner dim");
  check_qparam_dtypes(ctx, kMaScale, kMaZp, kASpec);
  if (ctx.input_dtype(kMb) != DType::kInt8)
    ctx.error("b (input 3) has dtype ", dtype_name(ctx.input_dtype(kMb)),
              ", expected int8 (symmetric weights; the converter maps uint8 weights with zero point 128 to int8)");
  check_qparam_dtypes(ctx, kMbScale, kMbZp, QParamsSpec{"b", {DType::kInt8}, 0, 2});
  check_qparam_dtypes(ctx, kMyScale, kMyZp, kYSpec);
  Shape out = a;
  out.back() = b[1];
  ctx.set_output(0, DType::kUInt8, out);
}

std::shared_ptr<void> prepare_qmatmul(PrepareContext& ctx) {
  auto st = std::make_shared<QGemmState>();
  const TensorRef* b = ctx.constant(kMb);
  if (b == nullptr) ctx.error("b (input 3) must be a constant");
  if (b->dtype != DType::kInt8)
    ctx.error("b (input 3) has dtype ", dtype_name(b->dtype),
              ", expected int8 (symmetric weights; the converter maps uint8 weights with zero point 128 to int8)");
  if (b->rank() != 2) ctx.error("b (input 3) must be rank 2 [K, N], got ", shape_str(b->shape));
  st->k = b->shape[0];
  st->n = b->shape[1];
  if (st->k == 0) ctx.error("b (input 3) ", shape_str(b->shape), " has an empty inner dim");
  const QParams aq = read_qparams(ctx, kMaScale, kMaZp, kASpec);
  const QParams bq = read_qparams(ctx, kMbScale, kMbZp, QParamsSpec{"b", {DType::kInt8}, st->n, 2});
  for (size_t i = 0; i < bq.zp.size(); ++i)
    if (bq.zp[i] != 0)
      ctx.error("b_zero_point (input 5) must be 0 (symmetric int8 weights), got ", bq.zp[i],
                bq.zp.size() > 1 ? " at index " + std::to_string(i) : std::string());
  const QParams yq = read_qparams(ctx, kMyScale, kMyZp, kYSpec);
  st->y_zp = yq.zp[0];
  fused_qclamp(ctx.attrs, yq.scale[0], st->y_zp, true, st->qmin, st->qmax);
  // ONNX Runtime's expression: a_scale * b_scale[n] / y_scale.
  st->multiplier.resize(static_cast<size_t>(st->n));
  for (int64_t j = 0; j < st->n; ++j)
    st->multiplier[j] = checked_multiplier(
        ctx, aq.scale[0] * bq.scale[bq.per_channel() ? static_cast<size_t>(j) : 0] / yq.scale[0],
        "a_scale * b_scale / y_scale");
  st->gemm = ctx.use(ctx.kernels.q8_gemm);
  pack_weights(ctx, *st, *b, false, nullptr, aq.zp[0]);
  return st;
}

void qmatmul_kernel(const KernelContext& ctx) {
  const QGemmState& st = ctx.state<QGemmState>();
  const TensorRef &a = ctx.inputs[kMa], &y = ctx.outputs[0];
  SLIM_CHECK(a.shape.back() == st.k, ctx.attrs.owner(), ": a ", shape_str(a.shape), " does not match b (K = ", st.k,
             ")");
  // kPlain: a is row-major, so its batch dims flatten into M.
  run_qgemm(ctx, st, a.numel() / st.k, a.ptr<const uint8_t>(), y.data);
}

}  // namespace
}  // namespace slim

DEFINE_OP(QGemm) {
  return OpDef("QGemm")
      .dtypes({DType::kUInt8})
      .inputs(6, 9)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_qgemm)
      .prepare(prepare_qgemm)
      .kernel(qgemm_kernel);
}

DEFINE_OP(QLinearMatMul) {
  return OpDef("QLinearMatMul")
      .dtypes({DType::kUInt8})
      .inputs(8)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_qmatmul)
      .prepare(prepare_qmatmul)
      .kernel(qmatmul_kernel);
}
