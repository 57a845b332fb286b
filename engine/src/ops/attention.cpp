// MatMulSoftmaxMatMul: Y = Softmax(A x B, last axis) x C over matching batch
// dims, the core of scaled dot-product attention (A = scaled queries, B = the
// transposed keys, C = values), written by export/passes/attention_fusion.py.
//
// Computed a block of query rows at a time: the block's scores stay in a
// small buffer (L1/L2) through the softmax and the second product, instead
// of an [M, N] score tensor per head going to memory and back twice (4 MB per
// MobileViT attention at 256 tokens, which made the unfused chain
// bandwidth-bound).
#include <algorithm>
#include <memory>
#include <vector>

#include "ops/common.h"

namespace slim {
namespace {

struct AttentionState {
  const kernels::F32GemmKernel* gemm = nullptr;
  const kernels::F32SoftmaxKernel* softmax = nullptr;
};

struct AttentionDims {
  int64_t batches = 1, m = 1, k = 1, n = 1, d = 1;
};

AttentionDims attention_dims(const Shape& a, const Shape& b, const Shape& c, const std::string& owner) {
  SLIM_CHECK(a.size() >= 2 && a.size() == b.size() && a.size() == c.size(), owner,
             ": inputs must have the same rank >= 2, got ", shape_str(a), ", ", shape_str(b), ", ", shape_str(c));
  AttentionDims dims;
  const size_t r = a.size();
  for (size_t i = 0; i + 2 < r; ++i) {
    SLIM_CHECK(a[i] == b[i] && a[i] == c[i], owner, ": batch dims differ: ", shape_str(a), ", ", shape_str(b), ", ",
               shape_str(c));
    dims.batches *= a[i];
  }
  dims.m = a[r - 2];
  dims.k = a[r - 1];
  dims.n = b[r - 1];
  dims.d = c[r - 1];
  SLIM_CHECK(b[r - 2] == dims.k, owner, ": A ", shape_str(a), " and B ", shape_str(b), " do not multiply");
  SLIM_CHECK(c[r - 2] == dims.n, owner, ": scores [", dims.m, ", ", dims.n, "] and C ", shape_str(c),
             " do not multiply");
  return dims;
}

void infer_attention(InferContext& ctx) {
  for (size_t i = 0; i < 3; ++i) require_dtype(ctx, i, {DType::kFloat32}, i == 0 ? "A" : i == 1 ? "B" : "C");
  const Shape &a = ctx.input_shape(0), &c = ctx.input_shape(2);
  attention_dims(a, ctx.input_shape(1), c, ctx.attrs().owner());
  Shape out = a;
  out.back() = c.back();
  ctx.set_output(0, DType::kFloat32, out);
}

std::shared_ptr<void> prepare_attention(PrepareContext& ctx) {
  auto st = std::make_shared<AttentionState>();
  st->gemm = ctx.use(ctx.kernels.f32_gemm);
  st->softmax = ctx.use(ctx.kernels.f32_softmax);
  return st;
}

void attention_kernel(const KernelContext& ctx) {
  const AttentionState& st = ctx.state<AttentionState>();
  const kernels::F32GemmKernel& gemm = *st.gemm;
  const TensorRef &a = ctx.inputs[0], &b = ctx.inputs[1], &c = ctx.inputs[2], &y = ctx.outputs[0];
  const AttentionDims dd = attention_dims(a.shape, b.shape, c.shape, ctx.attrs.owner());
  if (y.numel() == 0) return;
  // Both right-hand matrices of every batch item packed once, up front (threads split the items).
  const int64_t pb = std::max<int64_t>(1, kernels::packed_b_floats(gemm, dd.k, dd.n));
  const int64_t pc = std::max<int64_t>(1, kernels::packed_b_floats(gemm, dd.n, dd.d));
  std::vector<float> packed(static_cast<size_t>(dd.batches * (pb + pc)));
  const float *ap = a.ptr<const float>(), *bp = b.ptr<const float>(), *cp = c.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(dd.batches, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      kernels::pack_b(gemm, dd.k, dd.n, bp + i * dd.k * dd.n, dd.n, packed.data() + i * (pb + pc));
      kernels::pack_b(gemm, dd.n, dd.d, cp + i * dd.n * dd.d, dd.d, packed.data() + i * (pb + pc) + pb);
    }
  });
  // Work units: blocks of query rows of one batch item; a block's scores are rows x N floats.
  const int64_t rows = std::max<int64_t>(gemm.tile_rows, std::min<int64_t>(64, 8192 / std::max<int64_t>(dd.n, 1)) /
                                                             gemm.tile_rows * gemm.tile_rows);
  const int64_t blocks = (dd.m + rows - 1) / rows;
  ctx.parallel_for(dd.batches * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(rows * dd.n));
    for (int64_t u = begin; u < end; ++u) {
      const int64_t i = u / blocks, r0 = (u % blocks) * rows, nr = std::min(rows, dd.m - r0);
      const float* pbi = packed.data() + i * (pb + pc);
      kernels::sgemm_packed(gemm, dd.k, dd.n, ap + (i * dd.m + r0) * dd.k, dd.k, pbi, scores.data(), dd.n,
                            kernels::Epilogue{}, {0, nr}, {0, dd.n});
      kernels::softmax(*st.softmax, scores.data(), scores.data(), nr, dd.n);
      kernels::sgemm_packed(gemm, dd.n, dd.d, scores.data(), dd.n, pbi + pb, yp + (i * dd.m + r0) * dd.d, dd.d,
                            kernels::Epilogue{}, {0, nr}, {0, dd.d});
    }
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(MatMulSoftmaxMatMul) {
  return OpDef("MatMulSoftmaxMatMul")
      .dtypes({DType::kFloat32})
      .inputs(3)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_attention)
      .prepare(prepare_attention)
      .kernel(attention_kernel);
}
