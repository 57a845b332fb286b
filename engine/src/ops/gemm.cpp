// Gemm: y = act(alpha * A' B' + beta * C) on the f32_gemm variant chosen at
// load. A constant B is packed once (alpha folded in); a per-column C (a
// bias) rides in the kernel's epilogue; any other C is added afterwards,
// followed by the activation.
#include <algorithm>
#include <memory>
#include <vector>

#include "ops/common.h"
#include "ops/fused_activation.h"

namespace slim {
namespace {

struct GemmState {
  kernels::Activation act;
  float alpha = 1.0f, beta = 1.0f;
  bool trans_a = false, trans_b = false;
  const kernels::F32GemmKernel* gemm = nullptr;
  const kernels::F32VactKernel* vact = nullptr;  // the activation after a C that is not a bias
  std::vector<float> packed_b;  // alpha * B packed, when B is a constant (else empty)
  std::vector<float> bias;      // beta * C, when C is a constant [N] / [1, N] (else empty)
};

void infer_gemm(InferContext& ctx) {
  const Shape &a = ctx.input_shape(0), &b = ctx.input_shape(1);
  if (a.size() != 2 || b.size() != 2) ctx.error("A and B must be rank 2, got ", shape_str(a), " and ", shape_str(b));
  const bool ta = ctx.attrs().get_int("transA", 0) != 0, tb = ctx.attrs().get_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) ctx.error("inner dims differ: A ", shape_str(a), " B ", shape_str(b), " (transA ", ta, ", transB ", tb, ")");
  require_dtype(ctx, 1, {DType::kFloat32}, "B");
  if (ctx.has_input(2)) {
    require_dtype(ctx, 2, {DType::kFloat32}, "C");
    // C broadcasts to [M, N] one way only: the kernel indexes it with [M, N] strides.
    const Shape& c = ctx.input_shape(2);
    if (c.size() > 2 || broadcast_shapes(c, {m, n}, ctx.attrs().owner()) != Shape{m, n})
      ctx.error("C ", shape_str(c), " does not broadcast to [", m, ", ", n, "]");
  }
  ctx.set_output(0, DType::kFloat32, {m, n});
}

// C broadcasts along M, so it is a per-column bias of the epilogue.
bool is_bias(const TensorRef& c, int64_t n) { return c.numel() == n && (c.rank() == 1 || c.shape[0] == 1); }

// alpha * B packed for `kernel`; never empty, so K = 0 still has a valid pointer.
std::vector<float> pack_scaled_b(const kernels::F32GemmKernel& kernel, const TensorRef& b, bool trans_b, float alpha) {
  const int64_t k = trans_b ? b.shape[1] : b.shape[0], n = trans_b ? b.shape[0] : b.shape[1];
  std::vector<float> packed(static_cast<size_t>(std::max<int64_t>(1, kernels::packed_b_floats(kernel, k, n))));
  if (trans_b) kernels::pack_b_transposed(kernel, k, n, b.ptr<const float>(), k, packed.data());
  else kernels::pack_b(kernel, k, n, b.ptr<const float>(), n, packed.data());
  // Scaling the packed copy equals scaling B: padding columns stay zero.
  if (alpha != 1.0f)
    for (float& v : packed) v *= alpha;
  return packed;
}

std::shared_ptr<void> prepare_gemm(PrepareContext& ctx) {
  auto st = std::make_shared<GemmState>();
  st->act = parse_fused_activation(ctx.attrs);
  st->alpha = ctx.attrs.get_float("alpha", 1.0f);
  st->beta = ctx.attrs.get_float("beta", 1.0f);
  st->trans_a = ctx.attrs.get_int("transA", 0) != 0;
  st->trans_b = ctx.attrs.get_int("transB", 0) != 0;
  st->gemm = ctx.use(ctx.kernels.f32_gemm);
  st->vact = ctx.use(ctx.kernels.f32_vact);
  const TensorRef* b = ctx.constant(1);
  if (b != nullptr && b->rank() == 2 && b->dtype == DType::kFloat32) {
    st->packed_b = pack_scaled_b(*st->gemm, *b, st->trans_b, st->alpha);
    const TensorRef* c = ctx.constant(2);
    const int64_t n = st->trans_b ? b->shape[0] : b->shape[1];
    if (c != nullptr && c->dtype == DType::kFloat32 && is_bias(*c, n)) {
      st->bias.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) st->bias[j] = st->beta * c->ptr<const float>()[j];
    }
  }
  return st;
}

void gemm_kernel(const KernelContext& ctx) {
  const GemmState& st = ctx.state<GemmState>();
  const TensorRef &a = ctx.inputs[0], &y = ctx.outputs[0];
  const int64_t m = y.shape[0], n = y.shape[1], k = st.trans_a ? a.shape[0] : a.shape[1];
  if (m == 0 || n == 0) return;
  // The kernel reads A row-major, so A' is materialized.
  std::vector<float> a_t;
  const float* ap = a.ptr<const float>();
  if (st.trans_a) {
    a_t.resize(static_cast<size_t>(m * k));
    for (int64_t p = 0; p < k; ++p)
      for (int64_t i = 0; i < m; ++i) a_t[static_cast<size_t>(i * k + p)] = ap[p * m + i];
    ap = a_t.data();
  }
  std::vector<float> b_run;
  const float* packed_b = st.packed_b.data();
  if (st.packed_b.empty()) {
    b_run = pack_scaled_b(*st.gemm, ctx.inputs[1], st.trans_b, st.alpha);
    packed_b = b_run.data();
  }
  const bool has_c = ctx.inputs.size() > 2 && ctx.inputs[2].data != nullptr;
  std::vector<float> bias_run;
  const float* bias = st.bias.empty() ? nullptr : st.bias.data();
  const bool c_after = has_c && bias == nullptr && !is_bias(ctx.inputs[2], n);
  if (has_c && bias == nullptr && !c_after) {
    bias_run.resize(static_cast<size_t>(n));
    const TensorRef& c = ctx.inputs[2];
    for (int64_t j = 0; j < n; ++j) bias_run[j] = st.beta * c.ptr<const float>()[j];
    bias = bias_run.data();
  }
  kernels::Epilogue ep;
  ep.bias = bias;
  if (!c_after) ep.act = st.act;
  const std::vector<int64_t> cs = c_after ? broadcast_strides(ctx.inputs[2], 2) : std::vector<int64_t>{0, 0};
  const float* cp = c_after ? ctx.inputs[2].ptr<const float>() : nullptr;
  float* yp = y.ptr<float>();
  if (!c_after && m <= st.gemm->tile_rows && n >= 2 * st.gemm->tile_cols) {
    // A classifier at batch 1: one row of A, so the threads split the columns (the weight panels),
    // each streaming its share of a weight matrix too large for the caches.
    split_gemm_cols(ctx, *st.gemm, n, [&](kernels::Range cols) {
      kernels::sgemm_packed(*st.gemm, k, n, ap, k, packed_b, yp, n, ep, {0, m}, cols);
    });
    return;
  }
  split_gemm_rows(ctx, *st.gemm, m, [&](kernels::Range rows) {
    kernels::sgemm_packed(*st.gemm, k, n, ap, k, packed_b, yp, n, ep, rows, {0, n});
    if (!c_after) return;
    for (int64_t i = rows.begin; i < rows.end; ++i)
      for (int64_t j = 0; j < n; ++j) yp[i * n + j] += st.beta * cp[i * cs[0] + j * cs[1]];
    if (st.act.kind != kernels::ActKind::kNone)
      kernels::activation(*st.vact, st.act, yp + rows.begin * n, yp + rows.begin * n, rows.size() * n);
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(Gemm) {
  return OpDef("Gemm")
      .dtypes({DType::kFloat32})
      .inputs(2, 3)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_gemm)
      .prepare(prepare_gemm)
      .kernel(gemm_kernel);
}
