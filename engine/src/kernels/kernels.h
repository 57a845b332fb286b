// Public API of the compute kernels (slim::kernels).
//
// Every kernel exists in several compiled variants, one per instruction set,
// each a constant named dtype_op_tile_isa (f32_gemm_6x16_avx2): the variants
// are listed once in kernels/kernel_list.h, and that list is the dispatch
// table (kernel_config), the set the kernel tests run and the set the kernel
// benchmark times. A caller picks its variant once, from kernel_config(isa),
// keeps the pointer (an op keeps it in its prepared state) and passes it to
// the driver functions below on every call; nothing dispatches per call.
//
// Every driver is a pure, single-threaded computation over an explicit work
// range: the caller (the runtime's thread pool) splits a big job into ranges
// and calls the same function from several threads on disjoint output ranges.
// Compute kernels never allocate (pack functions may) and never read globals
// other than constant tables.
//
// Conventions shared by all functions:
//  * float32 only; all matrices are row-major with an explicit leading
//    dimension (distance in floats between two consecutive rows).
//  * Images are NHWC: element (n, h, w, c) of an [N, H, W, C] tensor is at
//    ((n * H + h) * W + w) * C + c.
//  * Ranges are half-open [begin, end).
//  * No alignment is required of any pointer; 64-byte aligned buffers are faster.
//  * Invalid arguments (negative sizes, inconsistent shapes, misaligned column
//    ranges, null pointers for non-empty data) throw std::invalid_argument with
//    a message naming the offending argument. Nothing is checked per element.
//  * NaN inputs give NaN outputs (GEMM, convolutions, pools, every activation).
//  * Typical call sequence for an op: at load, pick the variants and pack
//    weights for them; per run, split the work range over threads and call the
//    driver per range with a per-thread scratch buffer where one is needed.
#pragma once

#include <cstdint>

#include "core/isa.h"
#include "kernels/kernel_list.h"

namespace slim::kernels {

// ---------------------------------------------------------------------------
// Activations (fused into the epilogue of GEMM/convolution, or applied alone)
// ---------------------------------------------------------------------------

enum class ActKind : int {
  kNone = 0,
  kRelu,         // max(x, 0)
  kClip,         // min(max(x, alpha), beta)
  kLeakyRelu,    // x >= 0 ? x : alpha * x
  kHardSigmoid,  // max(0, min(1, alpha * x + beta))
  kHardSwish,    // x * max(0, min(1, x / 6 + 1 / 2))
  kSigmoid,      // 1 / (1 + exp(-x))
  kSilu,         // x * sigmoid(x)
  kGelu,         // x / 2 * (1 + erf(x / sqrt(2)))
  kGeluTanh,     // x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))
  kTanh,
  kExp,          // exp(x), including denormal results and +inf on overflow
  kErf,          // erf(x); max abs error < 1e-6 in the SIMD variants
};

const char* act_name(ActKind kind);

struct Activation {
  ActKind kind = ActKind::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;

  static Activation none() { return {}; }
  static Activation relu() { return {ActKind::kRelu, 0.0f, 0.0f}; }
  static Activation clip(float lo, float hi) { return {ActKind::kClip, lo, hi}; }
  static Activation leaky_relu(float alpha = 0.01f) { return {ActKind::kLeakyRelu, alpha, 0.0f}; }
  static Activation hard_sigmoid(float alpha = 0.2f, float beta = 0.5f) {
    return {ActKind::kHardSigmoid, alpha, beta};
  }
  static Activation hard_swish() { return {ActKind::kHardSwish, 0.0f, 0.0f}; }
  static Activation sigmoid() { return {ActKind::kSigmoid, 0.0f, 0.0f}; }
  static Activation silu() { return {ActKind::kSilu, 0.0f, 0.0f}; }
  static Activation gelu() { return {ActKind::kGelu, 0.0f, 0.0f}; }
  static Activation gelu_tanh() { return {ActKind::kGeluTanh, 0.0f, 0.0f}; }
  static Activation tanh() { return {ActKind::kTanh, 0.0f, 0.0f}; }
  static Activation exp() { return {ActKind::kExp, 0.0f, 0.0f}; }
  static Activation erf() { return {ActKind::kErf, 0.0f, 0.0f}; }
};

// What happens to each output element after the dot product: + bias[column]
// (bias may be null), then the activation. Both are applied in registers
// before the single store of the result.
// The elementwise binary operations of f32_vbinary (ONNX Add, Sub, Mul, Div on floats).
enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv };
const char* binary_op_name(BinaryOp op);

struct Epilogue {
  const float* bias = nullptr;
  Activation act;
  // Add the product to what C holds instead of starting from the bias (which
  // is then ignored): a sum split over several calls, such as a convolution
  // taken one kernel row at a time. The activation still applies at the end.
  // Honoured by f32_gemm (and so conv2d); the depthwise kernels ignore it.
  bool accumulate = false;
};

struct Range {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// ---------------------------------------------------------------------------
// Geometry of 2-D convolutions (Conv, depthwise, and ConvTranspose as the
// convolution it transposes) and of 2-D pooling.
// ---------------------------------------------------------------------------

struct Conv2dShape {
  int64_t batch = 1;
  int64_t in_h = 1, in_w = 1, in_c = 1;
  int64_t out_c = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  // Defined out of line on purpose: an inline body would also be compiled
  // into the AVX translation units, and the linker may keep that copy for everyone.
  int64_t out_h() const;
  int64_t out_w() const;
  // Output pixels N * Ho * Wo: the M of the convolution's GEMM and the work-range domain of conv2d.
  int64_t out_pixels() const;
  // Output rows N * Ho: the work-range domain of depthwise_conv2d.
  int64_t out_rows() const;
  bool is_depthwise() const;  // groups == in_c == out_c (one filter per channel)
};

// Throws std::invalid_argument naming the first inconsistent field.
void validate(const Conv2dShape& s);

struct Pool2dShape {
  int64_t batch = 1;
  int64_t in_h = 1, in_w = 1, channels = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  // ONNX ceil_mode: output size rounds up, but a window never starts in the bottom/right padding.
  bool ceil_mode = false;
  // AveragePool: divide by the whole window clipped to the padded input (true)
  // or by the in-image elements only (false, the ONNX default).
  bool count_include_pad = false;

  int64_t out_h() const;  // out of line for the same reason as Conv2dShape's
  int64_t out_w() const;
  int64_t out_rows() const;  // batch * out_h(): the work-range domain of the pools
};

// Throws std::invalid_argument naming the first inconsistent field. Pads may
// exceed the kernel: a window that sees no pixel gives -inf (max) or 0 (average).
void validate(const Pool2dShape& s);

// ---------------------------------------------------------------------------
// Kernel variants
// ---------------------------------------------------------------------------

// The micro-kernel signatures; the drivers below check arguments and call them.
using F32GemmFn = void(int64_t K, const float* A, int64_t lda, const float* packed_b, float* C, int64_t ldc,
                       const Epilogue& ep, Range rows, Range cols);
using F32DwconvFn = void(const Conv2dShape& s, const float* input, const float* packed_w, float* output,
                         const Epilogue& ep, Range rows);
using F32PoolFn = void(const Pool2dShape& s, const float* input, float* output, Range rows);
using F32GlobalPoolFn = void(int64_t batch, int64_t pixels, int64_t channels, const float* input, float* output,
                             Range channel_range);
using F32VactFn = void(const Activation& act, const float* x, float* y, int64_t n);
// y[i] = a[i * a_stride] (op) b[i * b_stride], each stride 0 (one broadcast value) or 1.
// Softmax of one contiguous row of n floats; y may equal x.
using F32SoftmaxFn = void(const float* x, float* y, int64_t n);
// Layer normalization of one contiguous row of n floats: gamma has n values,
// beta n values or null; the row's mean and inverse deviation are written out.
using F32LayerNormFn = void(const float* x, float* y, int64_t n, const float* gamma, const float* beta, float eps,
                            float* mean, float* inv_std);
using F32VbinaryFn = void(BinaryOp op, const float* a, int64_t a_stride, const float* b, int64_t b_stride, float* y,
                          int64_t n);

// ---------------------------------------------------------------------------
// int8 (engine/QUANTIZED.md): uint8 activations, int8 symmetric weights,
// exact int32 accumulation, fp32-scale requantization rounding half to even.
// ---------------------------------------------------------------------------

// What happens to each int32 sum acc[m, n] = sum_k a[m, k] * w[k, n]:
//   v = acc + bias[n]                  (bias may be null; the caller folds -a_zp * colsum[n] into it)
//   u8 output:  y = clamp(nearbyint(float(v) * scale[n]) + zero_point, qmin, qmax)
//   f32 output: y = float(v) * scale[n]
//   i32 output: y = v                  (wrapping int32: MatMulInteger / ConvInteger; scale unused, may be null)
// `scale` has N entries (the caller repeats a per-tensor scale) and is never null (but with i32 output).
// The variants clamp the fp32 product to [qmin - zero_point, qmax - zero_point]
// before rounding: the same result for every finite product (the bounds are
// integers), and saturation rather than int32 wrap-around for huge ones. With
// u8 output, 0 <= qmin <= qmax <= 255 and zero_point in [0, 255] (checked).
struct QEpilogue {
  const int32_t* bias = nullptr;
  const float* scale = nullptr;
  int32_t zero_point = 0;
  int32_t qmin = 0;
  int32_t qmax = 255;
  bool f32_output = false;  // C is float* (QGemm without y_scale) instead of uint8_t*
  bool i32_output = false;  // C is int32_t* (the raw sums plus bias); wins over f32_output
};

// Micro-kernel of q8_gemm: rows x cols of C from A (u8, row-major, lda bytes
// per row, exactly K bytes of each row are read) and B packed by q8_pack_b.
using Q8GemmFn = void(int64_t K, const uint8_t* A, int64_t lda, const int8_t* packed_b, void* C, int64_t ldc,
                      const QEpilogue& ep, Range rows, Range cols);
// Depthwise: input NHWC u8, weights packed by q8_depthwise_pack_weights, output
// NHWC u8 over output rows. acc[c] = sum over the whole kh x kw window of
// x * w[c], where a padded position reads pad_value (pass the input zero point:
// padding is then a real zero), and the caller folds -x_zp * col_sums[c] into
// ep.bias, exactly as for the GEMM. ep.f32_output is not allowed.
using Q8DwconvFn = void(const Conv2dShape& s, const uint8_t* input, uint8_t pad_value, const int8_t* packed_w,
                        uint8_t* output, const QEpilogue& ep, Range rows);
using Q8MaxPoolFn = void(const Pool2dShape& s, const uint8_t* input, uint8_t* output, Range rows);
// Global average pool: input [N, pixels, C] u8 -> output [N, C] u8, for a channel range of every image.
struct QGlobalAvgPoolParams {
  int32_t x_zp = 0;
  float multiplier = 1.0f;  // x_scale / (pixels * y_scale)
  int32_t y_zp = 0;
};
using Q8GlobalAvgPoolFn = void(int64_t batch, int64_t pixels, int64_t channels, const uint8_t* input,
                               const QGlobalAvgPoolParams& p, uint8_t* output, Range channel_range);
// Elementwise on n elements; b_stride 0 broadcasts b[0] (scalar b), 1 walks b with a.
struct QBinaryParams {
  int32_t a_zp = 0, b_zp = 0, y_zp = 0;
  float a_multiplier = 1.0f;  // Add: a_scale / y_scale.  Mul: a_scale * b_scale / y_scale (b_multiplier unused)
  float b_multiplier = 1.0f;  // Add: b_scale / y_scale
  int32_t qmin = 0, qmax = 255;
};
using Q8BinaryFn = void(const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride, uint8_t* y,
                        int64_t n);
// Quantize: y = clamp(nearbyint(x / scale) + zero_point, 0, 255) with an fp32 division, as ONNX Runtime's
// MLAS computes it (a multiply by 1/scale differs in the last bit); NaN gives zero_point.
using Q8QuantizeFn = void(const float* x, float scale, int32_t zero_point, uint8_t* y, int64_t n);
// Dequantize: y = float(x - zero_point) * scale.
using Q8DequantizeFn = void(const uint8_t* x, float scale, int32_t zero_point, float* y, int64_t n);
using Q8LookupFn = void(const uint8_t* table, const uint8_t* x, uint8_t* y, int64_t n);

// What a kernel computes; the first part of its variants' names.
enum class Family : int {
  kF32Gemm,           // f32_gemm: C = A * packed B + epilogue (also drives conv2d)
  kF32Dwconv,         // f32_dwconv: depthwise 2-D convolution
  kF32MaxPool,        // f32_maxpool
  kF32AvgPool,        // f32_avgpool
  kF32GlobalAvgPool,  // f32_gavgpool
  kF32GlobalMaxPool,  // f32_gmaxpool
  kF32Vact,           // f32_vact: one activation over a buffer
  kF32Vbinary,        // f32_vbinary: Add/Sub/Mul/Div of two buffers, or of a buffer and a scalar
  kF32Softmax,        // f32_softmax: softmax of a contiguous row
  kF32LayerNorm,      // f32_layernorm: layer normalization of a contiguous row
  kQ8Gemm,            // q8_gemm: u8 x s8 -> s32 GEMM + requantization (also drives int8 conv2d)
  kQ8Dwconv,          // q8_dwconv: int8 depthwise 2-D convolution
  kQ8MaxPool,         // q8_maxpool
  kQ8GlobalAvgPool,   // q8_gavgpool
  kQ8Add,             // q8_add
  kQ8Mul,             // q8_mul
  kQ8Quantize,        // q8_quantize: f32 -> u8
  kQ8Dequantize,      // q8_dequantize: u8 -> f32
  kQ8Lookup,          // q8_lookup: 256-entry table
};

const char* family_name(Family family);

// One compiled variant. `tile_rows` x `tile_cols` is what one step of its
// inner loop produces: the GEMM micro-tile MR x NR (NR is also the packed-B
// panel width), 1 x channels for convolutions and pools, 1 x elements for
// activations; the name spells it (6x16, 16c, u64).
template <Family F, class Fn>
struct Kernel {
  static constexpr Family family = F;
  const char* name;
  Isa isa;
  int tile_rows;
  int tile_cols;
  Fn* fn;
};

using F32GemmKernel = Kernel<Family::kF32Gemm, F32GemmFn>;
using F32DwconvKernel = Kernel<Family::kF32Dwconv, F32DwconvFn>;
using F32MaxPoolKernel = Kernel<Family::kF32MaxPool, F32PoolFn>;
using F32AvgPoolKernel = Kernel<Family::kF32AvgPool, F32PoolFn>;
using F32GlobalAvgPoolKernel = Kernel<Family::kF32GlobalAvgPool, F32GlobalPoolFn>;
using F32GlobalMaxPoolKernel = Kernel<Family::kF32GlobalMaxPool, F32GlobalPoolFn>;
using F32VactKernel = Kernel<Family::kF32Vact, F32VactFn>;
using F32VbinaryKernel = Kernel<Family::kF32Vbinary, F32VbinaryFn>;
using F32SoftmaxKernel = Kernel<Family::kF32Softmax, F32SoftmaxFn>;
using F32LayerNormKernel = Kernel<Family::kF32LayerNorm, F32LayerNormFn>;
using Q8GemmKernel = Kernel<Family::kQ8Gemm, Q8GemmFn>;
using Q8DwconvKernel = Kernel<Family::kQ8Dwconv, Q8DwconvFn>;
using Q8MaxPoolKernel = Kernel<Family::kQ8MaxPool, Q8MaxPoolFn>;
using Q8GlobalAvgPoolKernel = Kernel<Family::kQ8GlobalAvgPool, Q8GlobalAvgPoolFn>;
using Q8AddKernel = Kernel<Family::kQ8Add, Q8BinaryFn>;
using Q8MulKernel = Kernel<Family::kQ8Mul, Q8BinaryFn>;
using Q8QuantizeKernel = Kernel<Family::kQ8Quantize, Q8QuantizeFn>;
using Q8DequantizeKernel = Kernel<Family::kQ8Dequantize, Q8DequantizeFn>;
using Q8LookupKernel = Kernel<Family::kQ8Lookup, Q8LookupFn>;

// Every variant of kernel_list.h, by name: tests and benchmarks address one
// variant directly (only those compiled for this architecture exist).
#define SLIM_DECLARE_KERNEL(family, name) extern const family##Kernel name;
SLIM_KERNELS(SLIM_DECLARE_KERNEL)
#undef SLIM_DECLARE_KERNEL

// Highest level this CPU and OS run (CPUID + XGETBV: the OS must save the
// wide registers, otherwise AVX instructions fault even when CPUID lists them).
Isa cpu_isa();

// The variant of every kernel a caller should use: for each kernel, the last
// one in kernel_list.h whose ISA is at most `isa` and at most cpu_isa().
// Built once per level; the reference stays valid for the program's lifetime.
struct KernelConfig {
  Isa isa;  // min(requested, cpu_isa())
  const F32GemmKernel* f32_gemm;
  const F32DwconvKernel* f32_dwconv;
  const F32MaxPoolKernel* f32_maxpool;
  const F32AvgPoolKernel* f32_avgpool;
  const F32GlobalAvgPoolKernel* f32_gavgpool;
  const F32GlobalMaxPoolKernel* f32_gmaxpool;
  const F32VactKernel* f32_vact;
  const F32VbinaryKernel* f32_vbinary;
  const F32SoftmaxKernel* f32_softmax;
  const F32LayerNormKernel* f32_layernorm;
  const Q8GemmKernel* q8_gemm;
  const Q8DwconvKernel* q8_dwconv;
  const Q8MaxPoolKernel* q8_maxpool;
  const Q8GlobalAvgPoolKernel* q8_gavgpool;
  const Q8AddKernel* q8_add;
  const Q8MulKernel* q8_mul;
  const Q8QuantizeKernel* q8_quantize;
  const Q8DequantizeKernel* q8_dequantize;
  const Q8LookupKernel* q8_lookup;
};
const KernelConfig& kernel_config(Isa isa);

// ---------------------------------------------------------------------------
// Activation over a buffer
// ---------------------------------------------------------------------------

// y[i] = act(x[i]) for i in [0, n). y may equal x (in place); partial overlap is not allowed.
void activation(const F32VactKernel& k, const Activation& act, const float* x, float* y, int64_t n);

// y[i] = a[i * a_stride] (op) b[i * b_stride] for i in [0, n); each stride is 0
// (that operand is one value, broadcast) or 1. y may equal a or b (in place).
void binary(const F32VbinaryKernel& k, BinaryOp op, const float* a, int64_t a_stride, const float* b,
            int64_t b_stride, float* y, int64_t n);

// ---------------------------------------------------------------------------
// Row-wise normalizations (attention and transformer blocks)
// ---------------------------------------------------------------------------

// Softmax over `rows` contiguous rows of n floats each; y may equal x.
void softmax(const F32SoftmaxKernel& k, const float* x, float* y, int64_t rows, int64_t n);
// Layer normalization over `rows` contiguous rows of n floats: gamma has n values, beta n values or
// null; mean and inv_std (each `rows` values, or null) receive each row's statistics.
void layer_norm(const F32LayerNormKernel& k, const float* x, float* y, int64_t rows, int64_t n, const float* gamma,
                const float* beta, float eps, float* mean, float* inv_std);

// ---------------------------------------------------------------------------
// SGEMM: C[M, N] = A[M, K] * B[K, N], then the epilogue.
// ---------------------------------------------------------------------------
//
// B (usually weights) is packed once into column panels of width k.tile_cols,
// zero-padded to whole panels: the packed buffer is specific to the variant's
// panel width and must be used with a variant of the same width.
// A is read in place (row-major, leading dimension lda >= K).
//
// Work range: `rows` selects rows [rows.begin, rows.end) of A and C (A and C
// pointers are the matrix origins, not the range's first row); `cols` selects
// output columns, and cols.begin must be a multiple of k.tile_cols (so
// threads can split N at panel boundaries), cols.end <= N. Disjoint ranges
// write disjoint parts of C. For good load balance split M into multiples of
// k.tile_rows.

// Floats needed by pack_b / pack_b_transposed for a K x N matrix: K * round_up(N, NR).
int64_t packed_b_floats(const F32GemmKernel& k, int64_t K, int64_t N);
// Packs B given row-major: element (k, n) at B[k * ldb + n], ldb >= N.
void pack_b(const F32GemmKernel& k, int64_t K, int64_t N, const float* B, int64_t ldb, float* packed);
// Packs B given as its transpose: element (k, n) at Bt[n * ldbt + k], ldbt >= K
// (ONNX Gemm with transB = 1; a Linear layer's [out, in] weight).
void pack_b_transposed(const F32GemmKernel& k, int64_t K, int64_t N, const float* Bt, int64_t ldbt, float* packed);

// C = A * packed(B) + epilogue over rows x cols.
void sgemm_packed(const F32GemmKernel& k, int64_t K, int64_t N, const float* A, int64_t lda, const float* packed_b,
                  float* C, int64_t ldc, const Epilogue& ep, Range rows, Range cols);

// Same with B not packed in advance (activation x activation MatMul): columns
// cols of B are packed into `scratch` first, which must hold
// packed_b_floats(k, K, cols.size()) floats and is private to this call.
// Batched MatMul is a loop of calls by the caller. When several threads share
// one B, packing it once with pack_b and calling sgemm_packed is cheaper.
void sgemm(const F32GemmKernel& k, int64_t K, int64_t N, const float* A, int64_t lda, const float* B, int64_t ldb,
           float* C, int64_t ldc, const Epilogue& ep, Range rows, Range cols, float* scratch);

// ---------------------------------------------------------------------------
// 2-D convolution, NHWC activations, ONNX OIHW weights packed once.
// ---------------------------------------------------------------------------

// General (dense or grouped) convolution as GEMM with a GEMM variant. 1x1
// stride-1 unpadded convolutions read the input directly (M = pixels, K =
// in_c, N = out_c); others gather im2col blocks of output pixels into `scratch`.
// Weights: OIHW [out_c, in_c / groups, kernel_h, kernel_w] packed per group.
int64_t conv2d_packed_weight_floats(const F32GemmKernel& k, const Conv2dShape& s);
void conv2d_pack_weights(const F32GemmKernel& k, const Conv2dShape& s, const float* w_oihw, float* packed);
// Floats of scratch one conv2d call needs (0 for 1x1 stride-1 unpadded); each
// concurrent call needs its own. Bounded (about 32K floats per im2col block)
// independently of the image size.
int64_t conv2d_scratch_floats(const F32GemmKernel& k, const Conv2dShape& s);
// input [N, H, W, in_c] -> output [N, Ho, Wo, out_c], computing the output
// pixels [pixels.begin, pixels.end) of [0, out_pixels()). Bias (per output
// channel) and activation from `ep`.
void conv2d(const F32GemmKernel& k, const Conv2dShape& s, const float* input, const float* packed_w, float* output,
            const Epilogue& ep, Range pixels, float* scratch);

// Winograd F(2x2, 3x3) on the f32_gemm variant: 3x3, stride 1, no dilation, one
// group, at least 32 input and output channels (winograd_applies). Weights are
// transformed and packed once; the work range is over 2x2 output tiles
// (winograd_tiles: batch * ceil(out_h / 2) * ceil(out_w / 2)), each thread with
// its own scratch. The activation runs through `act_kernel`; ep.accumulate is refused.
bool winograd_applies(const Conv2dShape& s);
int64_t winograd_tiles(const Conv2dShape& s);
int64_t winograd_packed_weight_floats(const F32GemmKernel& k, const Conv2dShape& s);
void winograd_pack_weights(const F32GemmKernel& k, const Conv2dShape& s, const float* w_oihw, float* packed);
int64_t winograd_scratch_floats(const F32GemmKernel& k, const Conv2dShape& s);
void winograd_conv2d(const F32GemmKernel& k, const F32VactKernel& act_kernel, const Conv2dShape& s,
                     const float* input, const float* packed_w, float* output, const Epilogue& ep, Range tiles,
                     float* scratch);

// Depthwise convolution (groups == in_c == out_c), direct SIMD over channels;
// 3x3 and 5x5 with dilation 1 have unrolled paths, other shapes run a generic loop.
// Weights: OIHW [C, 1, kernel_h, kernel_w] packed to [kernel_h, kernel_w, C]
// (the same layout for every variant). Work range: output rows [rows.begin,
// rows.end) of [0, out_rows()), row r = (n, ho) with n = r / Ho, ho = r % Ho.
int64_t depthwise_packed_weight_floats(const Conv2dShape& s);
void depthwise_pack_weights(const Conv2dShape& s, const float* w_oihw, float* packed);
void depthwise_conv2d(const F32DwconvKernel& k, const Conv2dShape& s, const float* input, const float* packed_w,
                      float* output, const Epilogue& ep, Range rows);

// ---------------------------------------------------------------------------
// Pooling, NHWC, channels vectorized.
// ---------------------------------------------------------------------------

// input [N, H, W, C] -> output [N, Ho, Wo, C] for output rows [rows.begin,
// rows.end) of [0, out_rows()). Max pooling ignores padding.
void max_pool2d(const F32MaxPoolKernel& k, const Pool2dShape& s, const float* input, float* output, Range rows);
void avg_pool2d(const F32AvgPoolKernel& k, const Pool2dShape& s, const float* input, float* output, Range rows);

// Global pools: input [N, pixels, C] (NHWC with H * W = pixels) -> output
// [N, C], for channels [channels.begin, channels.end) of every image (a
// channel range, so a batch of one still splits across threads). A plain
// [N, C, pixels] tensor is the case C = 1 with N * C images.
void global_avg_pool(const F32GlobalAvgPoolKernel& k, int64_t batch, int64_t pixels, int64_t channels,
                     const float* input, float* output, Range channel_range);
void global_max_pool(const F32GlobalMaxPoolKernel& k, int64_t batch, int64_t pixels, int64_t channels,
                     const float* input, float* output, Range channel_range);

// ---------------------------------------------------------------------------
// int8 drivers (engine/QUANTIZED.md). Same conventions as the fp32 ones:
// explicit work ranges, single-threaded, argument checks throw
// std::invalid_argument, leading dimensions in elements (bytes for u8).
// ---------------------------------------------------------------------------

// GEMM: C[M, N] = requant(A[M, K] (u8) * B[K, N] (s8)). B is packed once into
// panels of k.tile_cols columns and K rounded up to a multiple of 4 (zero
// padded), the layout every variant reads; col_sums[n] = sum_k B[k, n] (may
// be null) so the caller can fold -a_zp * col_sums[n] into the bias.
int64_t q8_packed_b_bytes(const Q8GemmKernel& k, int64_t K, int64_t N);
// B row-major: element (k, n) at B[k * ldb + n].
void q8_pack_b(const Q8GemmKernel& k, int64_t K, int64_t N, const int8_t* B, int64_t ldb, int8_t* packed,
               int32_t* col_sums);
// B given as its transpose: element (k, n) at Bt[n * ldbt + k] (QGemm transB = 1, conv weights OIHW).
void q8_pack_b_transposed(const Q8GemmKernel& k, int64_t K, int64_t N, const int8_t* Bt, int64_t ldbt,
                          int8_t* packed, int32_t* col_sums);
// rows / cols as for sgemm_packed (cols.begin a multiple of k.tile_cols). C is uint8_t* or, with
// ep.f32_output, float*; ldc in elements. K <= 65536 (65536 * 255 * 128 < 2^31: the int32 sum is exact).
// Per-call overhead is a few dozen instructions, so small ranges (a 7x7 layer split over threads) are fine.
void q8_gemm_packed(const Q8GemmKernel& k, int64_t K, int64_t N, const uint8_t* A, int64_t lda,
                    const int8_t* packed_b, void* C, int64_t ldc, const QEpilogue& ep, Range rows, Range cols);

// Convolution (dense or grouped; depthwise works but q8_depthwise_conv2d is much faster) as q8 GEMM, NHWC u8
// in / out, OIHW int8 weights packed per group; col_sums gets out_c entries (sum over each whole filter).
// im2col pads with pad_value (pass the input zero point), so the GEMM sums x * w over every tap of the window
// and the caller folds -x_zp * col_sums[o] into ep.bias. ep.bias and ep.scale have out_c entries (all groups);
// ep.f32_output is not allowed. The reduction kh * kw * in_c / groups must be <= 65536 (int32 exactness).
int64_t q8_conv2d_packed_weight_bytes(const Q8GemmKernel& k, const Conv2dShape& s);
void q8_conv2d_pack_weights(const Q8GemmKernel& k, const Conv2dShape& s, const int8_t* w_oihw, int8_t* packed,
                            int32_t* col_sums);
int64_t q8_conv2d_scratch_bytes(const Q8GemmKernel& k, const Conv2dShape& s);  // per concurrent call
void q8_conv2d(const Q8GemmKernel& k, const Conv2dShape& s, const uint8_t* input, uint8_t pad_value,
               const int8_t* packed_w, uint8_t* output, const QEpilogue& ep, Range pixels, uint8_t* scratch);

// Depthwise (groups == in_c == out_c): weights OIHW [C, 1, kh, kw] packed to [kh, kw, C] int8 (one layout for
// every variant); col_sums gets C entries (may be null). Throws when kh * kw > 514 (the fp32 sum would stop
// being exact). Work range: output rows as for depthwise_conv2d.
int64_t q8_depthwise_packed_weight_bytes(const Conv2dShape& s);
void q8_depthwise_pack_weights(const Conv2dShape& s, const int8_t* w_oihw, int8_t* packed, int32_t* col_sums);
void q8_depthwise_conv2d(const Q8DwconvKernel& k, const Conv2dShape& s, const uint8_t* input, uint8_t pad_value,
                         const int8_t* packed_w, uint8_t* output, const QEpilogue& ep, Range rows);

// Pools and elementwise ops: the semantics of the Fn types above. Max pooling
// ignores padding (a window that sees no pixel gives 0); the global average
// pool bounds pixels to 2^31 / 255. Zero points must be uint8 values, and
// 0 <= qmin <= qmax <= 255; b_stride is 0 or 1; y must not partially overlap
// a or b (in place, y == a, is fine).
void q8_max_pool2d(const Q8MaxPoolKernel& k, const Pool2dShape& s, const uint8_t* input, uint8_t* output,
                   Range rows);
void q8_global_avg_pool(const Q8GlobalAvgPoolKernel& k, int64_t batch, int64_t pixels, int64_t channels,
                        const uint8_t* input, const QGlobalAvgPoolParams& p, uint8_t* output, Range channel_range);
void q8_add(const Q8AddKernel& k, const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride,
            uint8_t* y, int64_t n);
void q8_mul(const Q8MulKernel& k, const QBinaryParams& p, const uint8_t* a, const uint8_t* b, int64_t b_stride,
            uint8_t* y, int64_t n);
void q8_quantize(const Q8QuantizeKernel& k, const float* x, float scale, int32_t zero_point, uint8_t* y, int64_t n);
void q8_dequantize(const Q8DequantizeKernel& k, const uint8_t* x, float scale, int32_t zero_point, float* y,
                   int64_t n);
void q8_lookup(const Q8LookupKernel& k, const uint8_t* table, const uint8_t* x, uint8_t* y, int64_t n);

}  // namespace slim::kernels
