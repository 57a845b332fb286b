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
struct Epilogue {
  const float* bias = nullptr;
  Activation act;
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

// What a kernel computes; the first part of its variants' names.
enum class Family : int {
  kF32Gemm,           // f32_gemm: C = A * packed B + epilogue (also drives conv2d)
  kF32Dwconv,         // f32_dwconv: depthwise 2-D convolution
  kF32MaxPool,        // f32_maxpool
  kF32AvgPool,        // f32_avgpool
  kF32GlobalAvgPool,  // f32_gavgpool
  kF32GlobalMaxPool,  // f32_gmaxpool
  kF32Vact,           // f32_vact: one activation over a buffer
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
};
const KernelConfig& kernel_config(Isa isa);

// ---------------------------------------------------------------------------
// Activation over a buffer
// ---------------------------------------------------------------------------

// y[i] = act(x[i]) for i in [0, n). y may equal x (in place); partial overlap is not allowed.
void activation(const F32VactKernel& k, const Activation& act, const float* x, float* y, int64_t n);

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

}  // namespace slim::kernels
