// Gemm and MatMul. The scalar variants are the reference; the AVX2/AVX-512
// variants run the kernels library's packed SGEMM with constant B operands
// packed once at load and rows split across the session's threads.
#include <cstring>

#include "ops/activation.h"
#include "ops/common.h"
#ifdef SLIMLAB_HAVE_KERNELS
#include "kernels/kernels.h"
#endif

namespace slim {
namespace {

#ifdef SLIMLAB_HAVE_KERNELS
// Row ranges in whole micro-tiles so threads get balanced full tiles.
void split_rows(const KernelContext& ctx, int64_t m, const std::function<void(kernels::Range)>& fn) {
  const int64_t tile = kernels::gemm_tile_rows(ctx.isa);
  const int64_t tiles = (m + tile - 1) / tile;
  ctx.parallel_for(tiles, 1, [&](int64_t b, int64_t e) { fn({b * tile, std::min(m, e * tile)}); });
}
#endif

// ---- Gemm -------------------------------------------------------------------
struct GemmState {
  FusedActivation act;
  float alpha = 1.0f, beta = 1.0f;
  bool trans_a = false, trans_b = false;
  int64_t k = 0, n = 0;
  std::vector<float> packed_b;  // alpha * B packed for the SIMD kernel (empty: B not constant / scalar)
  std::vector<float> bias;      // beta * C as a per-column bias when C is a constant [N] / [1, N]
};

void infer_gemm(InferContext& ctx) {
  const Shape &a = ctx.input_shape(0), &b = ctx.input_shape(1);
  if (a.size() != 2 || b.size() != 2) ctx.error("A and B must be rank 2, got ", shape_str(a), " and ", shape_str(b));
  const bool ta = ctx.attrs().get_int("transA", 0) != 0, tb = ctx.attrs().get_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) ctx.error("inner dims differ: A ", shape_str(a), " B ", shape_str(b), " (transA ", ta, ", transB ", tb, ")");
  if (ctx.has_input(2)) broadcast_shapes(ctx.input_shape(2), {m, n}, ctx.attrs().owner());
  ctx.set_output(0, DType::kFloat32, {m, n});
}

std::shared_ptr<void> prepare_gemm(const PrepareContext& ctx) {
  auto st = std::make_shared<GemmState>();
  st->act = parse_fused_activation(ctx.attrs);
  st->alpha = ctx.attrs.get_float("alpha", 1.0f);
  st->beta = ctx.attrs.get_float("beta", 1.0f);
  st->trans_a = ctx.attrs.get_int("transA", 0) != 0;
  st->trans_b = ctx.attrs.get_int("transB", 0) != 0;
#ifdef SLIMLAB_HAVE_KERNELS
  const TensorRef* b = ctx.constant(1);
  if (ctx.isa != Isa::kScalar && b != nullptr && b->rank() == 2 && b->dtype == DType::kFloat32) {
    st->k = st->trans_b ? b->shape[1] : b->shape[0];
    st->n = st->trans_b ? b->shape[0] : b->shape[1];
    std::vector<float> scaled(b->ptr<const float>(), b->ptr<const float>() + b->numel());
    for (float& v : scaled) v *= st->alpha;
    st->packed_b.resize(static_cast<size_t>(kernels::packed_b_floats(ctx.isa, st->k, st->n)));
    if (st->trans_b) kernels::pack_b_transposed(ctx.isa, st->k, st->n, scaled.data(), st->k, st->packed_b.data());
    else kernels::pack_b(ctx.isa, st->k, st->n, scaled.data(), st->n, st->packed_b.data());
    const TensorRef* c = ctx.constant(2);
    if (c != nullptr && c->numel() == st->n && c->dtype == DType::kFloat32 && (c->rank() == 1 || c->shape[0] == 1)) {
      st->bias.resize(static_cast<size_t>(st->n));
      for (int64_t j = 0; j < st->n; ++j) st->bias[j] = st->beta * c->ptr<const float>()[j];
    }
  }
#endif
  return st;
}

// y = act(alpha * A' B' + beta * C), all plain.
void gemm_scalar(const KernelContext& ctx) {
  const GemmState& st = ctx.state<GemmState>();
  const TensorRef &a = ctx.inputs[0], &b = ctx.inputs[1], &y = ctx.outputs[0];
  const int64_t m = y.shape[0], n = y.shape[1], k = st.trans_a ? a.shape[0] : a.shape[1];
  const float* ap = a.ptr<const float>();
  const float* bp = b.ptr<const float>();
  float* yp = y.ptr<float>();
  const bool has_c = ctx.inputs.size() > 2 && ctx.inputs[2].data != nullptr;
  std::vector<int64_t> cs = has_c ? broadcast_strides(ctx.inputs[2], 2) : std::vector<int64_t>{0, 0};
  const float* cp = has_c ? ctx.inputs[2].ptr<const float>() : nullptr;
  ctx.parallel_for(m, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      for (int64_t j = 0; j < n; ++j) {
        float acc = 0.0f;
        for (int64_t p = 0; p < k; ++p)
          acc += ap[st.trans_a ? p * m + i : i * k + p] * bp[st.trans_b ? j * k + p : p * n + j];
        float v = st.alpha * acc;
        if (has_c) v += st.beta * cp[i * cs[0] + j * cs[1]];
        yp[i * n + j] = st.act.apply(v);
      }
  });
}

#ifdef SLIMLAB_HAVE_KERNELS
void gemm_simd(const KernelContext& ctx) {
  const GemmState& st = ctx.state<GemmState>();
  const bool has_c = ctx.inputs.size() > 2 && ctx.inputs[2].data != nullptr;
  if (st.packed_b.empty() || st.trans_a || (has_c && st.bias.empty())) return gemm_scalar(ctx);
  const TensorRef &a = ctx.inputs[0], &y = ctx.outputs[0];
  const int64_t m = y.shape[0];
  kernels::Epilogue ep;
  ep.bias = st.bias.empty() ? nullptr : st.bias.data();
  ep.act = to_kernel_activation(st.act);
  split_rows(ctx, m, [&](kernels::Range rows) {
    kernels::sgemm_packed(ctx.isa, st.k, st.n, a.ptr<const float>(), st.k, st.packed_b.data(), y.ptr<float>(), st.n,
                          ep, rows, {0, st.n});
  });
}
#endif

// ---- MatMul (numpy semantics, batched with broadcasting) --------------------
struct MatMulState {
  FusedActivation act;
  int64_t k = 0, n = 0;
  std::vector<float> packed_b;  // constant 2-D B, packed for the SIMD kernel
};

struct MatMulDims {
  Shape batch;        // broadcast batch dims of the output
  int64_t m = 1, k = 1, n = 1;
  bool a_vec = false, b_vec = false;
};

MatMulDims matmul_dims(const Shape& a0, const Shape& b0, const std::string& owner) {
  SLIM_CHECK(!a0.empty() && !b0.empty(), owner, ": MatMul inputs must have rank >= 1");
  MatMulDims d;
  Shape a = a0, b = b0;
  if (a.size() == 1) { a.insert(a.begin(), 1); d.a_vec = true; }
  if (b.size() == 1) { b.push_back(1); d.b_vec = true; }
  d.m = a[a.size() - 2];
  d.k = a.back();
  d.n = b.back();
  SLIM_CHECK(b[b.size() - 2] == d.k, owner, ": inner dims differ: ", shape_str(a0), " x ", shape_str(b0));
  d.batch = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2), owner);
  return d;
}

void infer_matmul(InferContext& ctx) {
  const MatMulDims d = matmul_dims(ctx.input_shape(0), ctx.input_shape(1), ctx.attrs().owner());
  Shape out = d.batch;
  if (!d.a_vec) out.push_back(d.m);
  if (!d.b_vec) out.push_back(d.n);
  ctx.set_output(0, DType::kFloat32, out);
}

std::shared_ptr<void> prepare_matmul(const PrepareContext& ctx) {
  auto st = std::make_shared<MatMulState>();
  st->act = parse_fused_activation(ctx.attrs);
#ifdef SLIMLAB_HAVE_KERNELS
  const TensorRef* b = ctx.constant(1);
  if (ctx.isa != Isa::kScalar && b != nullptr && b->rank() == 2 && b->dtype == DType::kFloat32) {
    st->k = b->shape[0];
    st->n = b->shape[1];
    st->packed_b.resize(static_cast<size_t>(kernels::packed_b_floats(ctx.isa, st->k, st->n)));
    kernels::pack_b(ctx.isa, st->k, st->n, b->ptr<const float>(), st->n, st->packed_b.data());
  }
#endif
  return st;
}

// Offset of batch item `i` of an operand with batch dims `own` broadcast to `batch`.
int64_t batch_offset(int64_t i, const Shape& batch, const Shape& own, int64_t matrix) {
  int64_t off = 0, stride = matrix;
  const int shift = static_cast<int>(batch.size()) - static_cast<int>(own.size());
  std::vector<int64_t> strides(own.size());
  for (int d = static_cast<int>(own.size()) - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= own[d];
  }
  for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
    const int64_t c = i % batch[d];
    i /= batch[d];
    const int od = d - shift;
    if (od >= 0 && own[od] != 1) off += c * strides[od];
  }
  return off;
}

Shape batch_dims(const Shape& s, bool vec) {
  if (vec || s.size() < 2) return {};
  return Shape(s.begin(), s.end() - 2);
}

template <typename Fn>
void for_each_matrix(const KernelContext& ctx, const MatMulDims& d, Fn fn) {
  const TensorRef &a = ctx.inputs[0], &b = ctx.inputs[1];
  const Shape ab = batch_dims(a.shape, d.a_vec), bb = batch_dims(b.shape, d.b_vec);
  const int64_t batches = numel(d.batch);
  for (int64_t i = 0; i < batches; ++i)
    fn(a.ptr<const float>() + batch_offset(i, d.batch, ab, d.m * d.k),
       b.ptr<const float>() + batch_offset(i, d.batch, bb, d.k * d.n), ctx.outputs[0].ptr<float>() + i * d.m * d.n);
}

void matmul_scalar(const KernelContext& ctx) {
  const MatMulState& st = ctx.state<MatMulState>();
  const MatMulDims d = matmul_dims(ctx.inputs[0].shape, ctx.inputs[1].shape, ctx.attrs.owner());
  for_each_matrix(ctx, d, [&](const float* a, const float* b, float* y) {
    ctx.parallel_for(d.m, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> row(static_cast<size_t>(d.n));
      for (int64_t i = begin; i < end; ++i) {
        std::fill(row.begin(), row.end(), 0.0f);
        for (int64_t p = 0; p < d.k; ++p) {
          const float av = a[i * d.k + p];
          for (int64_t j = 0; j < d.n; ++j) row[j] += av * b[p * d.n + j];
        }
        for (int64_t j = 0; j < d.n; ++j) y[i * d.n + j] = st.act.apply(row[j]);
      }
    });
  });
}

#ifdef SLIMLAB_HAVE_KERNELS
void matmul_simd(const KernelContext& ctx) {
  const MatMulState& st = ctx.state<MatMulState>();
  const TensorRef &a = ctx.inputs[0], &y = ctx.outputs[0];
  const MatMulDims d = matmul_dims(a.shape, ctx.inputs[1].shape, ctx.attrs.owner());
  kernels::Epilogue ep;
  ep.act = to_kernel_activation(st.act);
  if (!st.packed_b.empty() && !d.a_vec) {
    // Constant B: every batch of A shares it, so all rows form one tall GEMM.
    const int64_t rows = numel(d.batch) * d.m;
    split_rows(ctx, rows, [&](kernels::Range r) {
      kernels::sgemm_packed(ctx.isa, d.k, d.n, a.ptr<const float>(), d.k, st.packed_b.data(), y.ptr<float>(), d.n, ep,
                            r, {0, d.n});
    });
    return;
  }
  const int64_t scratch = kernels::packed_b_floats(ctx.isa, d.k, d.n);
  for_each_matrix(ctx, d, [&](const float* ap, const float* bp, float* yp) {
    // Both operands are activations: pack B once per matrix, then split rows.
    std::vector<float> packed(static_cast<size_t>(scratch));
    kernels::pack_b(ctx.isa, d.k, d.n, bp, d.n, packed.data());
    split_rows(ctx, d.m, [&](kernels::Range r) {
      kernels::sgemm_packed(ctx.isa, d.k, d.n, ap, d.k, packed.data(), yp, d.n, ep, r, {0, d.n});
    });
  });
}
#endif

#ifdef SLIMLAB_HAVE_KERNELS
OpDef with_simd(OpDef def, KernelFn simd) {
  def.kernel(Isa::kAvx2, simd).kernel(Isa::kAvx512, simd);
  return def;
}
#endif

}  // namespace
}  // namespace slim

REGISTER_OP(Gemm) {
  using namespace slim;
  OpDef def("Gemm");
  def.dtypes({DType::kFloat32}).inputs(2, 3).outputs(1).layout(LayoutPolicy::kPlain).infer(infer_gemm)
      .prepare(prepare_gemm).kernel(Isa::kScalar, gemm_scalar);
#ifdef SLIMLAB_HAVE_KERNELS
  def = with_simd(def, gemm_simd);
#endif
  return def;
}
REGISTER_OP(MatMul) {
  using namespace slim;
  OpDef def("MatMul");
  def.dtypes({DType::kFloat32}).inputs(2).outputs(1).layout(LayoutPolicy::kPlain).infer(infer_matmul)
      .prepare(prepare_matmul).kernel(Isa::kScalar, matmul_scalar);
#ifdef SLIMLAB_HAVE_KERNELS
  def = with_simd(def, matmul_simd);
#endif
  return def;
}
