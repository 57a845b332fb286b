// Shared by the int8 ops (engine/QUANTIZED.md): reading and validating the
// constant scale / zero-point inputs at load, the integer clamp of a fused
// Relu / Clip, and NHWC uint8 buffers for the kernels that take NHWC.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ops/common.h"

namespace slim {

// One tensor's quantization parameters: `scale` has 1 value (per tensor) or
// one per channel; `zp` has as many values as `scale` (a single zero point is
// repeated to match a per-channel scale).
struct QParams {
  std::vector<float> scale;
  std::vector<int32_t> zp;
  bool per_channel() const { return scale.size() > 1; }
};

// How read_qparams checks a (scale, zero point) pair of inputs.
struct QParamsSpec {
  const char* name;                     // "x", "w", "y" ...: errors say "<name>_scale (input i)"
  std::vector<DType> zp_dtypes = {DType::kUInt8};
  int64_t channels = 0;                 // > 0: a per-channel scale of this length is allowed too; < 0: any length
  size_t max_rank = 1;                  // scalar or 1-D (2: QLinearMatMul's [1, N])
  bool zp_optional = false;             // absent zero point = 0
};

// Reads the scale at input `scale_input` and the zero point at `zp_input` (an
// absent optional one is 0). Both must be constants; the scale float32, every
// value finite and > 0; the zero point of an allowed dtype and length 1 or the
// scale's. Errors name the node, the field and the offending value.
QParams read_qparams(const PrepareContext& c, size_t scale_input, size_t zp_input, const QParamsSpec& spec);

// Plan-time dtype checks of the same pair (the values are checked at load).
void check_qparam_dtypes(const InferContext& c, size_t scale_input, size_t zp_input, const QParamsSpec& spec);

// [qmin, qmax] of a uint8 output with (y_scale, y_zp) under the node's fused
// `activation` (none, Relu, or Clip when `allow_clip`): qlo = clamp(y_zp +
// nearbyint(lo / y_scale), 0, 255), the same for hi. Other activations are refused.
void fused_qclamp(const Attributes& attrs, float y_scale, int32_t y_zp, bool allow_clip, int32_t& qmin,
                  int32_t& qmax);

// fp32 multiplier that must be finite and > 0 (a product of scales can over- or underflow).
float checked_multiplier(const PrepareContext& c, float m, const char* what);

// Runs fn(x, y) on NHWC buffers of two rank-4 tensors of any dtype, converting
// a plain input (a constant) or a plain output through temporary NHWC copies.
void run_nhwc_any(const KernelContext& ctx, const TensorRef& x, const TensorRef& y,
                  const std::function<void(const void* x_nhwc, void* y_nhwc)>& fn);

// Splits [0, n) elements into chunks of about `chunk` for the thread pool and
// calls fn(begin, end) per chunk (contiguous elementwise work on one buffer).
void parallel_chunks(const KernelContext& ctx, int64_t n, int64_t chunk,
                     const std::function<void(int64_t, int64_t)>& fn);

// Work split of an M x N q8 GEMM: whole micro-tiles of rows, and column blocks
// (multiples of the panel width) when there are too few row tiles to feed the threads.
void split_q8_gemm(const KernelContext& ctx, const kernels::Q8GemmKernel& k, int64_t m, int64_t n,
                   const std::function<void(kernels::Range rows, kernels::Range cols)>& fn);

}  // namespace slim
