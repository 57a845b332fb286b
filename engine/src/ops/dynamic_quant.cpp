// Dynamic quantization (ONNX Runtime's quantize_dynamic): DynamicQuantizeLinear,
// MatMulInteger, ConvInteger (ONNX), and DynamicQuantMatMul (engine op: the
// converter's fusion of DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul
// [-> Add], export/passes/dynamic_quant_fusion.py).
//
// The exact-integer scheme (engine/QUANTIZED.md, "Dynamic quantization"). The
// q8_gemm kernel multiplies u8 A by s8 B, so both operands are moved into those
// types with their zero points moved along, which leaves every difference
// (a - a_zp), (b - b_zp) unchanged:
//   int8 A:  a' = a + 128, a_zp' = a_zp + 128       uint8 B: b' = b - 128, b_zp' = b_zp - 128
// and then, with colsum[n] = sum_k b'[k, n] (from the packer) and rowsum[m] = sum_k a'[m, k]:
//   sum_k (a' - a_zp')(b' - b_zp') = sum_k a' b' - a_zp' colsum[n] - b_zp'[n] rowsum[m] + K a_zp' b_zp'[n].
// A per-tensor a_zp' makes the 2nd and 4th terms per column: they go into the
// kernel's int32 bias. The 3rd (any b_zp' != 0) and a per-row a_zp run as a
// pass over the int32 output. Every step is int32 arithmetic modulo 2^32, as
// ONNX Runtime's (and NumPy's int32) is, so the result is bit-exact whatever
// the values; the kernel's own sum is exact for K <= 65536 (checked).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ops/conv_geometry.h"
#include "ops/qlinear_common.h"

namespace slim {
namespace {

constexpr int64_t kMaxK = 65536;  // the q8_gemm kernel's exact-int32 bound

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }

// ---- DynamicQuantizeLinear's parameters ----------------------------------------------
// ONNX Runtime's expression (GetQuantizationParameter): the range is widened to
// include 0; a NaN compares false and is skipped; an all-zero range has scale 1;
// the zero point is clamped to [0, 255] before rounding half to even, and
// std::min(255, NaN) = 255 as ORT's argument order gives.
struct DynParams {
  float scale = 1.0f;
  int32_t zp = 0;
  bool has_nan = false;
};

// min / max / any NaN of x[0, n), 16 independent lanes so that the compiler keeps
// them in vector registers: `v < lo ? v : lo` is exactly minps(v, lo), which
// keeps lo when v is NaN, the skip ORT's expression gives.
struct Range3 {
  float lo = 0.0f, hi = 0.0f;
  bool nan = false;
};

Range3 min_max(const float* x, int64_t n) {
  constexpr int L = 16;
  float lo[L] = {}, hi[L] = {};
  int32_t nan[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    for (int l = 0; l < L; ++l) {
      const float v = x[i + l];
      lo[l] = v < lo[l] ? v : lo[l];
      hi[l] = v > hi[l] ? v : hi[l];
      nan[l] |= v != v;
    }
  }
  Range3 r;
  for (; i < n; ++i) {
    const float v = x[i];
    r.lo = v < r.lo ? v : r.lo;
    r.hi = v > r.hi ? v : r.hi;
    r.nan = r.nan || v != v;
  }
  for (int l = 0; l < L; ++l) {
    r.lo = lo[l] < r.lo ? lo[l] : r.lo;
    r.hi = hi[l] > r.hi ? hi[l] : r.hi;
    r.nan = r.nan || nan[l] != 0;
  }
  return r;
}

DynParams dynamic_params(const KernelContext& ctx, const float* x, int64_t n) {
  // Chunks of the thread pool, combined in order (min and max do not depend on it).
  constexpr int64_t kChunk = 32768;
  const int64_t chunks = std::max<int64_t>(1, (n + kChunk - 1) / kChunk);
  std::vector<Range3> part(static_cast<size_t>(chunks));
  if (n > 0)
    ctx.parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c)
        part[static_cast<size_t>(c)] = min_max(x + c * kChunk, std::min(kChunk, n - c * kChunk));
    });
  float mn = 0.0f, mx = 0.0f;
  bool nan = false;
  for (const Range3& r : part) {
    mn = r.lo < mn ? r.lo : mn;
    mx = r.hi > mx ? r.hi : mx;
    nan = nan || r.nan;
  }
  DynParams p;
  p.scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  const float initial = 0.0f - mn / p.scale;
  const float hi = std::min(255.0f, initial);
  p.zp = static_cast<int32_t>(std::nearbyint(std::max(0.0f, hi)));
  p.has_nan = nan;
  return p;
}

// y = saturate(round(x / scale) + zp) with the q8_quantize kernel. ORT clamps
// before adding the zero point with maxps, which turns a NaN quotient (a NaN
// x, or an infinite x over an infinite scale) into 0, not into the zero point
// the kernel gives: those elements are patched after.
void quantize_dynamic(const KernelContext& ctx, const kernels::Q8QuantizeKernel& k, const float* x, int64_t n,
                      const DynParams& p, uint8_t* y) {
  const bool patch = p.has_nan || std::isinf(p.scale);
  parallel_chunks(ctx, n, 16384, [&](int64_t b, int64_t e) {
    kernels::q8_quantize(k, x + b, p.scale, p.zp, y + b, e - b);
    if (patch)
      for (int64_t i = b; i < e; ++i)
        if (std::isnan(x[i] / p.scale)) y[i] = 0;
  });
}

// ---- The integer GEMM -------------------------------------------------------------------
// B as the kernel wants it: packed s8 codes b', their column sums and b_zp'.
struct PackedB {
  int64_t k = 0, n = 0;
  std::vector<int8_t> packed;
  std::vector<int32_t> colsum;
  std::vector<int32_t> zp;  // b_zp' per column
  bool zp_zero = true;
};

// Packs B (K x N: element (k, n) at b[k * k_stride + n * n_stride]) of dtype u8
// or s8 with zero points zp[n * zp_stride] (null: 0).
void pack_integer_b(const kernels::Q8GemmKernel& gemm, int64_t k, int64_t n, const void* b, bool b_u8,
                    int64_t k_stride, int64_t n_stride, const void* zp, int64_t zp_stride, PackedB& out) {
  out.k = k;
  out.n = n;
  std::vector<int8_t> codes(static_cast<size_t>(k * n));
  const int shift = b_u8 ? 128 : 0;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i) {
      const int64_t src = i * k_stride + j * n_stride;
      const int v = b_u8 ? static_cast<const uint8_t*>(b)[src] : static_cast<const int8_t*>(b)[src];
      codes[static_cast<size_t>(i * n + j)] = static_cast<int8_t>(v - shift);
    }
  out.packed.assign(static_cast<size_t>(std::max<int64_t>(1, kernels::q8_packed_b_bytes(gemm, k, n))), 0);
  out.colsum.assign(static_cast<size_t>(n), 0);
  if (n > 0 && k > 0) kernels::q8_pack_b(gemm, k, n, codes.data(), n, out.packed.data(), out.colsum.data());
  out.zp.assign(static_cast<size_t>(n), 0);
  out.zp_zero = true;
  for (int64_t j = 0; j < n; ++j) {
    int v = 0;
    if (zp != nullptr)
      v = b_u8 ? static_cast<const uint8_t*>(zp)[j * zp_stride] : static_cast<const int8_t*>(zp)[j * zp_stride];
    out.zp[static_cast<size_t>(j)] = v - shift;
    out.zp_zero = out.zp_zero && v - shift == 0;
  }
}

// c[m, n] (int32, row stride ldc) = sum_k (a[m, k] - a_zp_m) * (b'[k, n] - b_zp'[n]),
// a u8 codes (row stride lda), a_zp_m = row_zp[m] when row_zp, else a_zp.
void integer_gemm(const KernelContext& ctx, const kernels::Q8GemmKernel& gemm, const PackedB& b, int64_t m,
                  const uint8_t* a, int64_t lda, int32_t a_zp, const int32_t* row_zp, int32_t* c, int64_t ldc) {
  if (m == 0 || b.n == 0) return;
  const int64_t k = b.k, n = b.n;
  std::vector<int32_t> bias(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j)
    bias[static_cast<size_t>(j)] = static_cast<int32_t>(
        u32(-int64_t{a_zp}) * u32(b.colsum[static_cast<size_t>(j)]) + u32(k) * u32(a_zp) * u32(b.zp[static_cast<size_t>(j)]));
  kernels::QEpilogue ep;
  ep.bias = bias.data();
  ep.i32_output = true;
  split_q8_gemm(ctx, gemm, m, n, [&](kernels::Range rows, kernels::Range cols) {
    kernels::q8_gemm_packed(gemm, k, n, a, lda, b.packed.data(), c, ldc, ep, rows, cols);
  });
  if (b.zp_zero && row_zp == nullptr) return;
  ctx.parallel_for(m, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      const uint8_t* row = a + i * lda;
      uint32_t rs = 0;
      for (int64_t t = 0; t < k; ++t) rs += row[t];
      const uint32_t az = row_zp ? u32(row_zp[i]) : 0u;
      int32_t* out = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) {
        const uint32_t bz = u32(b.zp[static_cast<size_t>(j)]);
        const uint32_t v = u32(out[j]) - bz * rs - az * u32(b.colsum[static_cast<size_t>(j)]) + u32(k) * az * bz;
        out[j] = static_cast<int32_t>(v);
      }
    }
  });
}

bool is_u8(DType d) { return d == DType::kUInt8; }

// Reads a one-element zero point of dtype `d` (absent: 0).
int32_t scalar_zp(const TensorRef& t) {
  if (t.data == nullptr) return 0;
  return is_u8(t.dtype) ? int32_t{t.ptr<const uint8_t>()[0]} : int32_t{t.ptr<const int8_t>()[0]};
}

// ---- DynamicQuantizeLinear ----------------------------------------------------------------

struct DqlState {
  const kernels::Q8QuantizeKernel* quantize = nullptr;
};

void infer_dql(InferContext& ctx) {
  ctx.set_output(0, DType::kUInt8, ctx.input_shape(0));
  ctx.set_output(1, DType::kFloat32, {});
  ctx.set_output(2, DType::kUInt8, {});
}

std::shared_ptr<void> prepare_dql(PrepareContext& ctx) {
  auto st = std::make_shared<DqlState>();
  st->quantize = ctx.use(ctx.kernels.q8_quantize);
  return st;
}

void dql_kernel(const KernelContext& ctx) {
  const DqlState& st = ctx.state<DqlState>();
  const TensorRef& x = ctx.inputs[0];
  const int64_t n = x.numel();
  const DynParams p = dynamic_params(ctx, x.ptr<const float>(), n);
  ctx.outputs[1].ptr<float>()[0] = p.scale;
  ctx.outputs[2].ptr<uint8_t>()[0] = static_cast<uint8_t>(p.zp);
  if (n > 0) quantize_dynamic(ctx, *st.quantize, x.ptr<const float>(), n, p, ctx.outputs[0].ptr<uint8_t>());
}

// ---- MatMulInteger --------------------------------------------------------------------------
// Inputs: A, B, a_zero_point (optional), b_zero_point (optional). MatMul's shapes
// (1-D promotion, broadcast batch dims). a_zero_point: one value, or per row of A
// ([M] for a 2-D A, A's shape with K replaced by 1 otherwise); b_zero_point: one
// value, or per column of B ([N] for a 2-D B, B's shape with K replaced by 1).
enum : size_t { kA = 0, kB, kAZp, kBZp };

struct MatMulDims {
  Shape out;
  Shape batch;       // broadcast batch dims
  Shape a_batch, b_batch;
  int64_t m = 1, k = 1, n = 1;
};

MatMulDims matmul_dims(const std::string& owner, const Shape& a, const Shape& b) {
  SLIM_CHECK(!a.empty() && !b.empty(), owner, ": A ", shape_str(a), " and B ", shape_str(b), " must have rank >= 1");
  MatMulDims d;
  const Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  const Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  d.m = a2[a2.size() - 2];
  d.k = a2.back();
  d.n = b2.back();
  SLIM_CHECK(b2[b2.size() - 2] == d.k, owner, ": inner dims differ: A ", shape_str(a), " B ", shape_str(b));
  SLIM_CHECK(d.k <= kMaxK, owner, ": K = ", d.k, " > ", kMaxK, " (the int8 GEMM's exact int32 bound)");
  d.a_batch.assign(a2.begin(), a2.end() - 2);
  d.b_batch.assign(b2.begin(), b2.end() - 2);
  d.batch = broadcast_shapes(d.a_batch, d.b_batch, owner);
  d.out = d.batch;
  if (a.size() > 1) d.out.push_back(d.m);
  if (b.size() > 1) d.out.push_back(d.n);
  return d;
}

// Flat index into `dims` (right-aligned, broadcast) of the flat index `i` of `out`.
int64_t broadcast_index(const Shape& out, const Shape& dims, int64_t i) {
  int64_t idx = 0, stride = 1;
  const size_t off = out.size() - dims.size();
  for (size_t r = out.size(); r-- > 0;) {
    const int64_t coord = i % out[r];
    i /= out[r];
    if (r >= off) {
      const int64_t d = dims[r - off];
      if (d != 1) idx += coord * stride;
      stride *= d;
    }
  }
  return idx;
}

// How a zero point applies: 0 = one value, 1 = per row of A / column of B.
int zp_mode(const std::string& owner, const char* what, const Shape& zp, const Shape& x, bool is_a) {
  int64_t count = 1;
  for (int64_t d : zp) count *= d;
  if (count == 1) return 0;
  Shape want = x;
  if (x.size() >= 2) want[x.size() - (is_a ? 1 : 2)] = 1;
  const int64_t len = x.size() >= 2 ? x[x.size() - (is_a ? 2 : 1)] : -1;
  if (x.size() == 2 && zp.size() == 1 && zp[0] == len) return 1;
  if (x.size() >= 2 && zp == want) return 1;
  fail(owner, ": ", what, " has shape ", shape_str(zp), "; expected one value or ",
       x.size() == 2 ? "[" + std::to_string(len) + "] or " : std::string(), shape_str(want),
       is_a ? " (per row of A)" : " (per column of B)");
}

void infer_matmul_integer(InferContext& ctx) {
  require_dtype(ctx, kB, {DType::kUInt8, DType::kInt8}, "B");
  const std::string& owner = ctx.attrs().owner();
  const MatMulDims d = matmul_dims(owner, ctx.input_shape(kA), ctx.input_shape(kB));
  if (ctx.has_input(kAZp)) {
    if (ctx.input_dtype(kAZp) != ctx.input_dtype(kA))
      ctx.error("a_zero_point (input 2) has dtype ", dtype_name(ctx.input_dtype(kAZp)), ", A has ",
                dtype_name(ctx.input_dtype(kA)));
    zp_mode(owner, "a_zero_point (input 2)", ctx.input_shape(kAZp), ctx.input_shape(kA), true);
  }
  if (ctx.has_input(kBZp)) {
    if (ctx.input_dtype(kBZp) != ctx.input_dtype(kB))
      ctx.error("b_zero_point (input 3) has dtype ", dtype_name(ctx.input_dtype(kBZp)), ", B has ",
                dtype_name(ctx.input_dtype(kB)));
    zp_mode(owner, "b_zero_point (input 3)", ctx.input_shape(kBZp), ctx.input_shape(kB), false);
  }
  ctx.set_output(0, DType::kInt32, d.out);
}

struct MatMulIntegerState {
  const kernels::Q8GemmKernel* gemm = nullptr;
  bool const_b = false;  // B (2-D) and its zero point packed at load
  PackedB b;
};

std::shared_ptr<void> prepare_matmul_integer(PrepareContext& ctx) {
  auto st = std::make_shared<MatMulIntegerState>();
  st->gemm = ctx.use(ctx.kernels.q8_gemm);
  const TensorRef* b = ctx.constant(kB);
  const bool zp_known = !ctx.has_input(kBZp) || ctx.constant(kBZp) != nullptr;
  if (b != nullptr && b->rank() == 2 && zp_known && b->dtype == (ctx.has_input(kBZp) ? ctx.inputs[kBZp]->dtype : b->dtype)) {
    const TensorRef* zp = ctx.constant(kBZp);
    const int mode = zp ? zp_mode(ctx.attrs.owner(), "b_zero_point (input 3)", zp->shape, b->shape, false) : 0;
    if (b->shape[0] > kMaxK) ctx.error("K = ", b->shape[0], " > ", kMaxK, " (the int8 GEMM's exact int32 bound)");
    pack_integer_b(*st->gemm, b->shape[0], b->shape[1], b->data, is_u8(b->dtype), b->shape[1], 1,
                   zp ? zp->data : nullptr, mode, st->b);
    st->const_b = true;
  }
  return st;
}

void matmul_integer_kernel(const KernelContext& ctx) {
  const MatMulIntegerState& st = ctx.state<MatMulIntegerState>();
  const TensorRef &a = ctx.inputs[kA], &b = ctx.inputs[kB], &y = ctx.outputs[0];
  const std::string& owner = ctx.attrs.owner();
  const MatMulDims d = matmul_dims(owner, a.shape, b.shape);
  if (y.numel() == 0) return;
  int32_t* out = y.ptr<int32_t>();
  if (d.k == 0) {  // an empty sum
    std::fill(out, out + y.numel(), 0);
    return;
  }
  const bool a_u8 = is_u8(a.dtype), b_u8 = is_u8(b.dtype);
  const TensorRef* azp = ctx.inputs.size() > kAZp && ctx.inputs[kAZp].data ? &ctx.inputs[kAZp] : nullptr;
  const TensorRef* bzp = ctx.inputs.size() > kBZp && ctx.inputs[kBZp].data ? &ctx.inputs[kBZp] : nullptr;
  const int a_mode = azp ? zp_mode(owner, "a_zero_point (input 2)", azp->shape, a.shape, true) : 0;
  const int b_mode = bzp ? zp_mode(owner, "b_zero_point (input 3)", bzp->shape, b.shape, false) : 0;
  const int32_t a_shift = a_u8 ? 0 : 128;  // int8 A -> uint8 codes
  const int32_t a_zp = (azp ? scalar_zp(*azp) : 0) + a_shift;

  int64_t batches = 1;
  for (int64_t v : d.batch) batches *= v;
  std::vector<uint8_t> a_codes(a_u8 ? 0 : static_cast<size_t>(d.m * d.k));
  std::vector<int32_t> row_zp(a_mode == 1 ? static_cast<size_t>(d.m) : 0);
  PackedB runtime_b;
  int64_t packed_index = -1;
  for (int64_t t = 0; t < batches; ++t) {
    const int64_t ai = broadcast_index(d.batch, d.a_batch, t), bi = broadcast_index(d.batch, d.b_batch, t);
    const uint8_t* a_ptr;
    if (a_u8) {
      a_ptr = a.ptr<const uint8_t>() + ai * d.m * d.k;
    } else {
      const int8_t* src = a.ptr<const int8_t>() + ai * d.m * d.k;
      for (size_t i = 0; i < a_codes.size(); ++i) a_codes[i] = static_cast<uint8_t>(src[i] + 128);
      a_ptr = a_codes.data();
    }
    if (a_mode == 1)
      for (int64_t i = 0; i < d.m; ++i)
        row_zp[static_cast<size_t>(i)] =
            (a_u8 ? int32_t{azp->ptr<const uint8_t>()[ai * d.m + i]} : int32_t{azp->ptr<const int8_t>()[ai * d.m + i]}) +
            a_shift;
    const PackedB* pb = &st.b;
    if (!st.const_b) {
      if (bi != packed_index) {
        const char* bp = static_cast<const char*>(b.data) + bi * d.k * d.n;  // one byte per element
        const char* zp = nullptr;
        if (bzp) zp = static_cast<const char*>(bzp->data) + (b_mode == 1 && bzp->rank() > 1 ? bi * d.n : 0);
        pack_integer_b(*st.gemm, d.k, d.n, bp, b_u8, d.n, 1, zp, b_mode, runtime_b);
        packed_index = bi;
      }
      pb = &runtime_b;
    }
    integer_gemm(ctx, *st.gemm, *pb, d.m, a_ptr, d.k, a_mode == 1 ? 0 : a_zp, a_mode == 1 ? row_zp.data() : nullptr,
                 out + t * d.m * d.n, d.n);
  }
}

// ---- ConvInteger ----------------------------------------------------------------------------
// Inputs: x, w, x_zero_point (optional, one value), w_zero_point (optional, one
// value or one per output channel). Conv's attributes, 2-D. Per image and
// group: im2col of the u8 codes padded with the input zero point (a padded tap
// then contributes (x_zp - x_zp) * w = 0, as ORT's padding does), the integer
// GEMM into [pixels, M / group], transposed into the NCHW int32 output.
enum : size_t { kX = 0, kW, kXZp, kWZp };

struct ConvIntegerState {
  const kernels::Q8GemmKernel* gemm = nullptr;
  kernels::Conv2dShape shape;
  AutoPad auto_pad = AutoPad::kNotSet;
  bool const_w = false;
  std::vector<PackedB> groups;  // packed at load when w is a constant
};

int w_zp_mode(const std::string& owner, const Shape& zp, int64_t out_c) {
  int64_t count = 1;
  for (int64_t d : zp) count *= d;
  if (count == 1) return 0;
  if (zp.size() == 1 && zp[0] == out_c) return 1;
  fail(owner, ": w_zero_point (input 3) has shape ", shape_str(zp), "; expected one value or [", out_c, "]");
}

void check_x_zp(const std::string& owner, const Shape& zp) {
  int64_t count = 1;
  for (int64_t d : zp) count *= d;
  SLIM_CHECK(count == 1, owner, ": x_zero_point (input 2) has shape ", shape_str(zp), "; expected one value");
}

void infer_conv_integer(InferContext& ctx) {
  const Shape &x = ctx.input_shape(kX), &w = ctx.input_shape(kW);
  const std::string& owner = ctx.attrs().owner();
  if (x.size() != 4) ctx.error("expects a rank-4 input (N, C, H, W), got ", shape_str(x));
  require_dtype(ctx, kW, {DType::kUInt8, DType::kInt8}, "w");
  kernels::Conv2dShape s = read_conv_geometry(ctx.attrs(), w);
  if (x[1] != s.in_c)
    ctx.error("input has ", x[1], " channels but weight ", shape_str(w), " with group ", s.groups, " expects ", s.in_c);
  if (s.in_c / s.groups * s.kernel_h * s.kernel_w > kMaxK)
    ctx.error("the reduction C / group * kh * kw = ", s.in_c / s.groups * s.kernel_h * s.kernel_w, " > ", kMaxK);
  if (ctx.has_input(kXZp)) {
    if (ctx.input_dtype(kXZp) != ctx.input_dtype(kX))
      ctx.error("x_zero_point (input 2) has dtype ", dtype_name(ctx.input_dtype(kXZp)), ", x has ",
                dtype_name(ctx.input_dtype(kX)));
    check_x_zp(owner, ctx.input_shape(kXZp));
  }
  if (ctx.has_input(kWZp)) {
    if (ctx.input_dtype(kWZp) != ctx.input_dtype(kW))
      ctx.error("w_zero_point (input 3) has dtype ", dtype_name(ctx.input_dtype(kWZp)), ", w has ",
                dtype_name(ctx.input_dtype(kW)));
    w_zp_mode(owner, ctx.input_shape(kWZp), w[0]);
  }
  if (!conv_at_input(s, read_auto_pad(ctx.attrs()), x))
    ctx.error("input ", shape_str(x), " is smaller than the (dilated, padded) kernel ", s.kernel_h, "x", s.kernel_w);
  ctx.set_output(0, DType::kInt32, {x[0], w[0], s.out_h(), s.out_w()});
}

// Packs every group of w [M, C / g, kh, kw] (u8 or s8) as B [C / g * kh * kw, M / g].
void pack_conv_groups(const kernels::Q8GemmKernel& gemm, const kernels::Conv2dShape& s, const TensorRef& w,
                      const TensorRef* zp, int zp_mode_v, std::vector<PackedB>& groups) {
  const int64_t mg = s.out_c / s.groups, kc = s.in_c / s.groups * s.kernel_h * s.kernel_w;
  groups.resize(static_cast<size_t>(s.groups));
  for (int64_t g = 0; g < s.groups; ++g) {
    const char* wp = static_cast<const char*>(w.data) + g * mg * kc;
    const char* zp_ptr = zp ? static_cast<const char*>(zp->data) + (zp_mode_v == 1 ? g * mg : 0) : nullptr;
    pack_integer_b(gemm, kc, mg, wp, is_u8(w.dtype), 1, kc, zp_ptr, zp_mode_v, groups[static_cast<size_t>(g)]);
  }
}

std::shared_ptr<void> prepare_conv_integer(PrepareContext& ctx) {
  auto st = std::make_shared<ConvIntegerState>();
  st->gemm = ctx.use(ctx.kernels.q8_gemm);
  st->auto_pad = read_auto_pad(ctx.attrs);
  const TensorRef* w = ctx.constant(kW);
  const bool zp_known = !ctx.has_input(kWZp) || ctx.constant(kWZp) != nullptr;
  if (w != nullptr && zp_known) {
    st->shape = read_conv_geometry(ctx.attrs, w->shape);
    const TensorRef* zp = ctx.constant(kWZp);
    if (zp && zp->dtype != w->dtype) ctx.error("w_zero_point (input 3) dtype differs from w's");
    const int mode = zp ? w_zp_mode(ctx.attrs.owner(), zp->shape, w->shape[0]) : 0;
    pack_conv_groups(*st->gemm, st->shape, *w, zp, mode, st->groups);
    st->const_w = true;
  }
  return st;
}

void conv_integer_kernel(const KernelContext& ctx) {
  const ConvIntegerState& st = ctx.state<ConvIntegerState>();
  const TensorRef &x = ctx.inputs[kX], &w = ctx.inputs[kW], &y = ctx.outputs[0];
  const std::string& owner = ctx.attrs.owner();
  kernels::Conv2dShape s = read_conv_geometry(ctx.attrs, w.shape);
  conv_at_input(s, st.auto_pad, x.shape);
  if (y.numel() == 0) return;
  const TensorRef* xzp = ctx.inputs.size() > kXZp && ctx.inputs[kXZp].data ? &ctx.inputs[kXZp] : nullptr;
  const TensorRef* wzp = ctx.inputs.size() > kWZp && ctx.inputs[kWZp].data ? &ctx.inputs[kWZp] : nullptr;
  if (xzp) check_x_zp(owner, xzp->shape);
  std::vector<PackedB> runtime;
  const std::vector<PackedB>* groups = &st.groups;
  if (!st.const_w) {
    pack_conv_groups(*st.gemm, s, w, wzp, wzp ? w_zp_mode(owner, wzp->shape, s.out_c) : 0, runtime);
    groups = &runtime;
  }
  const bool x_u8 = is_u8(x.dtype);
  const int32_t x_zp = (xzp ? scalar_zp(*xzp) : 0) + (x_u8 ? 0 : 128);
  const int64_t cg = s.in_c / s.groups, mg = s.out_c / s.groups, kc = cg * s.kernel_h * s.kernel_w;
  const int64_t oh = s.out_h(), ow = s.out_w(), pixels = oh * ow;
  std::vector<uint8_t> cols(static_cast<size_t>(pixels * kc));
  std::vector<int32_t> acc(static_cast<size_t>(pixels * mg));
  const uint8_t pad = static_cast<uint8_t>(x_zp);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t g = 0; g < s.groups; ++g) {
      ctx.parallel_for(pixels, 64, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t oy = p / ow, ox = p % ow;
          uint8_t* row = cols.data() + p * kc;
          for (int64_t c = 0; c < cg; ++c) {
            const int64_t plane = (n * s.in_c + g * cg + c) * s.in_h * s.in_w;
            for (int64_t i = 0; i < s.kernel_h; ++i) {
              const int64_t iy = oy * s.stride_h - s.pad_top + i * s.dilation_h;
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t ix = ox * s.stride_w - s.pad_left + j * s.dilation_w;
                uint8_t v = pad;
                if (iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w) {
                  const int64_t at = plane + iy * s.in_w + ix;
                  v = x_u8 ? x.ptr<const uint8_t>()[at] : static_cast<uint8_t>(x.ptr<const int8_t>()[at] + 128);
                }
                row[(c * s.kernel_h + i) * s.kernel_w + j] = v;
              }
            }
          }
        }
      });
      integer_gemm(ctx, *st.gemm, (*groups)[static_cast<size_t>(g)], pixels, cols.data(), kc, x_zp, nullptr,
                   acc.data(), mg);
      int32_t* dst = y.ptr<int32_t>() + (n * s.out_c + g * mg) * pixels;
      ctx.parallel_for(mg, 1, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o)
          for (int64_t p = 0; p < pixels; ++p) dst[o * pixels + p] = acc[static_cast<size_t>(p * mg + o)];
      });
    }
  }
}

// ---- DynamicQuantMatMul (engine op) -----------------------------------------------------------
// Inputs: x f32 [..., K], B int8 constant [K, N], b_scale f32 [1 or N] constant,
// b_zero_point int8 [1 or N] (optional, constant; the converter moves uint8
// weights to int8 as above), bias f32 [N] (optional, constant).
// y = float(int32 sum) * (x_scale * b_scale[n]) [+ bias[n]]: the same fp32
// operations, in the same order, as the unfused graph (Cast, Mul by the
// product of the scales, Add), with x quantized as DynamicQuantizeLinear does.
enum : size_t { kDx = 0, kDb, kDbScale, kDbZp, kDbias };

struct DqMatMulState {
  const kernels::Q8GemmKernel* gemm = nullptr;
  const kernels::Q8QuantizeKernel* quantize = nullptr;
  PackedB b;
  std::vector<float> b_scale;  // N entries
  std::vector<float> bias;     // empty or N
};

void infer_dq_matmul(InferContext& ctx) {
  const Shape &x = ctx.input_shape(kDx), &b = ctx.input_shape(kDb);
  if (x.empty()) ctx.error("x must have rank >= 1");
  if (b.size() != 2) ctx.error("B must be a rank-2 constant [K, N], got ", shape_str(b));
  if (x.back() != b[0]) ctx.error("inner dims differ: x ", shape_str(x), " B ", shape_str(b));
  if (b[0] == 0 || b[0] > kMaxK) ctx.error("K = ", b[0], " must be in [1, ", kMaxK, "]");
  require_dtype(ctx, kDb, {DType::kInt8}, "B");
  require_dtype(ctx, kDbScale, {DType::kFloat32}, "b_scale");
  if (ctx.has_input(kDbZp)) require_dtype(ctx, kDbZp, {DType::kInt8}, "b_zero_point");
  if (ctx.has_input(kDbias)) require_dtype(ctx, kDbias, {DType::kFloat32}, "bias");
  Shape out = x;
  if (x.size() == 1) out = {b[1]};
  else out.back() = b[1];
  ctx.set_output(0, DType::kFloat32, out);
}

std::shared_ptr<void> prepare_dq_matmul(PrepareContext& ctx) {
  auto st = std::make_shared<DqMatMulState>();
  st->gemm = ctx.use(ctx.kernels.q8_gemm);
  st->quantize = ctx.use(ctx.kernels.q8_quantize);
  const TensorRef* b = ctx.constant(kDb);
  if (b == nullptr || b->dtype != DType::kInt8 || b->rank() != 2)
    ctx.error("B (input 1) must be a constant int8 [K, N]");
  const int64_t k = b->shape[0], n = b->shape[1];
  if (k == 0 || k > kMaxK) ctx.error("K = ", k, " must be in [1, ", kMaxK, "]");
  const TensorRef* scale = ctx.constant(kDbScale);
  if (scale == nullptr || scale->dtype != DType::kFloat32 || scale->rank() > 1 ||
      (scale->numel() != 1 && scale->numel() != n))
    ctx.error("b_scale (input 2) must be a constant float32 scalar or [", n, "]");
  for (int64_t j = 0; j < n; ++j) {
    const float v = scale->ptr<const float>()[scale->numel() == 1 ? 0 : j];
    st->b_scale.push_back(v);
  }
  const TensorRef* zp = nullptr;
  if (ctx.has_input(kDbZp)) {
    zp = ctx.constant(kDbZp);
    if (zp == nullptr || zp->dtype != DType::kInt8 || zp->rank() > 1 || (zp->numel() != 1 && zp->numel() != n))
      ctx.error("b_zero_point (input 3) must be a constant int8 scalar or [", n, "]");
  }
  pack_integer_b(*st->gemm, k, n, b->data, false, n, 1, zp ? zp->data : nullptr, zp && zp->numel() > 1 ? 1 : 0,
                 st->b);
  if (ctx.has_input(kDbias)) {
    const TensorRef* bias = ctx.constant(kDbias);
    if (bias == nullptr || bias->dtype != DType::kFloat32 || bias->numel() != n)
      ctx.error("bias (input 4) must be a constant float32 [", n, "]");
    st->bias.assign(bias->ptr<const float>(), bias->ptr<const float>() + n);
  }
  return st;
}

void dq_matmul_kernel(const KernelContext& ctx) {
  const DqMatMulState& st = ctx.state<DqMatMulState>();
  const TensorRef &x = ctx.inputs[kDx], &y = ctx.outputs[0];
  const int64_t k = st.b.k, n = st.b.n;
  SLIM_CHECK(x.shape.back() == k, ctx.attrs.owner(), ": x ", shape_str(x.shape), " does not match B (K = ", k, ")");
  const int64_t m = x.numel() / k;
  if (m == 0 || n == 0) return;
  const DynParams p = dynamic_params(ctx, x.ptr<const float>(), x.numel());
  std::vector<uint8_t> xq(static_cast<size_t>(m * k));
  quantize_dynamic(ctx, *st.quantize, x.ptr<const float>(), m * k, p, xq.data());
  std::vector<float> scale(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) scale[static_cast<size_t>(j)] = p.scale * st.b_scale[static_cast<size_t>(j)];
  float* out = y.ptr<float>();
  const bool bias = !st.bias.empty();
  if (st.b.zp_zero) {
    // The common case (symmetric weights): the f32 epilogue does Cast and Mul in one step.
    std::vector<int32_t> ibias(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j)
      ibias[static_cast<size_t>(j)] = static_cast<int32_t>(u32(-int64_t{p.zp}) * u32(st.b.colsum[static_cast<size_t>(j)]));
    kernels::QEpilogue ep;
    ep.bias = ibias.data();
    ep.scale = scale.data();
    ep.f32_output = true;
    split_q8_gemm(ctx, *st.gemm, m, n, [&](kernels::Range rows, kernels::Range cols) {
      kernels::q8_gemm_packed(*st.gemm, k, n, xq.data(), k, st.b.packed.data(), out, n, ep, rows, cols);
      if (bias)
        for (int64_t i = rows.begin; i < rows.end; ++i)
          for (int64_t j = cols.begin; j < cols.end; ++j) out[i * n + j] += st.bias[static_cast<size_t>(j)];
    });
    return;
  }
  // A weight zero point needs the row sums of x: exact int32 first, then the same fp32 steps.
  std::vector<int32_t> acc(static_cast<size_t>(m * n));
  integer_gemm(ctx, *st.gemm, st.b, m, xq.data(), k, p.zp, nullptr, acc.data(), n);
  ctx.parallel_for(m, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i)
      for (int64_t j = 0; j < n; ++j) {
        float v = static_cast<float>(acc[static_cast<size_t>(i * n + j)]) * scale[static_cast<size_t>(j)];
        if (bias) v += st.bias[static_cast<size_t>(j)];
        out[i * n + j] = v;
      }
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(DynamicQuantizeLinear) {
  return OpDef("DynamicQuantizeLinear")
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(3)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_dql)
      .prepare(prepare_dql)
      .kernel(dql_kernel);
}

DEFINE_OP(MatMulInteger) {
  return OpDef("MatMulInteger")
      .dtypes({DType::kUInt8, DType::kInt8})
      .inputs(2, 4)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_matmul_integer)
      .prepare(prepare_matmul_integer)
      .kernel(matmul_integer_kernel);
}

DEFINE_OP(ConvInteger) {
  return OpDef("ConvInteger")
      .dtypes({DType::kUInt8, DType::kInt8})
      .inputs(2, 4)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_conv_integer)
      .prepare(prepare_conv_integer)
      .kernel(conv_integer_kernel);
}

DEFINE_OP(DynamicQuantMatMul) {
  return OpDef("DynamicQuantMatMul")
      .dtypes({DType::kFloat32})
      .inputs(3, 5)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_dq_matmul)
      .prepare(prepare_dq_matmul)
      .kernel(dq_matmul_kernel);
}
