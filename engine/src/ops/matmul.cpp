// MatMul with numpy semantics (vectors, batches with broadcasting) on the
// f32_gemm variant chosen at load. A constant 2-D B is packed once and every
// batch of A shares it as one tall GEMM; otherwise B is packed per matrix.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"
#include "ops/fused_activation.h"

namespace slim {
namespace {

struct MatMulState {
  kernels::Activation act;
  const kernels::F32GemmKernel* gemm = nullptr;
  std::vector<float> packed_b;  // a constant 2-D B, packed (else empty)
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
  require_dtype(ctx, 1, {DType::kFloat32}, "B");
  const MatMulDims d = matmul_dims(ctx.input_shape(0), ctx.input_shape(1), ctx.attrs().owner());
  Shape out = d.batch;
  if (!d.a_vec) out.push_back(d.m);
  if (!d.b_vec) out.push_back(d.n);
  ctx.set_output(0, DType::kFloat32, out);
}

// B [K, N] packed for `kernel`; never empty, so K = 0 still has a valid pointer.
std::vector<float> pack(const kernels::F32GemmKernel& kernel, int64_t k, int64_t n, const float* b) {
  std::vector<float> packed(static_cast<size_t>(std::max<int64_t>(1, kernels::packed_b_floats(kernel, k, n))));
  kernels::pack_b(kernel, k, n, b, n, packed.data());
  return packed;
}

std::shared_ptr<void> prepare_matmul(PrepareContext& ctx) {
  auto st = std::make_shared<MatMulState>();
  st->act = parse_fused_activation(ctx.attrs);
  st->gemm = ctx.use(ctx.kernels.f32_gemm);
  const TensorRef* b = ctx.constant(1);
  if (b != nullptr && b->rank() == 2 && b->dtype == DType::kFloat32)
    st->packed_b = pack(*st->gemm, b->shape[0], b->shape[1], b->ptr<const float>());
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

void matmul_kernel(const KernelContext& ctx) {
  const MatMulState& st = ctx.state<MatMulState>();
  const TensorRef &a = ctx.inputs[0], &y = ctx.outputs[0];
  const MatMulDims d = matmul_dims(a.shape, ctx.inputs[1].shape, ctx.attrs.owner());
  if (y.numel() == 0) return;
  kernels::Epilogue ep;
  ep.act = st.act;
  if (!st.packed_b.empty() && !d.a_vec) {
    // Every batch of A shares B, so all rows form one tall GEMM.
    const int64_t rows = numel(d.batch) * d.m;
    if (rows <= st.gemm->tile_rows && d.n >= 2 * st.gemm->tile_cols) {
      // One row (a batch-1 linear layer): the threads split the weight panels instead.
      split_gemm_cols(ctx, *st.gemm, d.n, [&](kernels::Range cols) {
        kernels::sgemm_packed(*st.gemm, d.k, d.n, a.ptr<const float>(), d.k, st.packed_b.data(), y.ptr<float>(), d.n,
                              ep, {0, rows}, cols);
      });
      return;
    }
    split_gemm_rows(ctx, *st.gemm, rows, [&](kernels::Range r) {
      kernels::sgemm_packed(*st.gemm, d.k, d.n, a.ptr<const float>(), d.k, st.packed_b.data(), y.ptr<float>(), d.n,
                            ep, r, {0, d.n});
    });
    return;
  }
  const int64_t batches = numel(d.batch);
  if (batches >= 2 * static_cast<int64_t>(ctx.pool.threads()) || d.m < 2 * st.gemm->tile_rows) {
    // Attention's batched products (heads x windows): threads take whole matrices, each packing its
    // own B once, instead of meeting once per matrix to split its rows.
    const TensorRef& b = ctx.inputs[1];
    const Shape ab = batch_dims(a.shape, d.a_vec), bb = batch_dims(b.shape, d.b_vec);
    ctx.parallel_for(batches, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> packed(static_cast<size_t>(std::max<int64_t>(1, kernels::packed_b_floats(*st.gemm, d.k, d.n))));
      for (int64_t i = begin; i < end; ++i) {
        const float* ap = a.ptr<const float>() + batch_offset(i, d.batch, ab, d.m * d.k);
        const float* bp = b.ptr<const float>() + batch_offset(i, d.batch, bb, d.k * d.n);
        kernels::pack_b(*st.gemm, d.k, d.n, bp, d.n, packed.data());
        kernels::sgemm_packed(*st.gemm, d.k, d.n, ap, d.k, packed.data(), y.ptr<float>() + i * d.m * d.n, d.n, ep,
                              {0, d.m}, {0, d.n});
      }
    });
    return;
  }
  for_each_matrix(ctx, d, [&](const float* ap, const float* bp, float* yp) {
    // Both operands are activations: pack B once per matrix, then split rows.
    const std::vector<float> packed = pack(*st.gemm, d.k, d.n, bp);
    split_gemm_rows(ctx, *st.gemm, d.m, [&](kernels::Range r) {
      kernels::sgemm_packed(*st.gemm, d.k, d.n, ap, d.k, packed.data(), yp, d.n, ep, r, {0, d.n});
    });
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(MatMul) {
  return OpDef("MatMul")
      .dtypes({DType::kFloat32})
      .inputs(2)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_matmul)
      .prepare(prepare_matmul)
      .kernel(matmul_kernel);
}
