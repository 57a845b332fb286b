// Helpers shared by op files: integer inputs (shapes, axes), broadcasting, and
// a strided loop that walks any logical index domain in a tensor's memory
// order, so data-movement ops work in plain and NHWC layouts alike.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/op.h"

namespace slim {

// Spatial attributes (kernel sizes, strides, dilations, pads) above this are
// refused: 2^20 is far beyond any real network, and with dims below 2^40
// (kMaxElements) it keeps window arithmetic (index * stride + tap * dilation)
// inside int64.
constexpr int64_t kMaxWindow = int64_t(1) << 20;

// An int attribute (or `fallback` when absent) that must lie in [lo, hi]; the
// error names the node, the attribute and the value.
int64_t int_attr(const Attributes& a, const char* name, int64_t fallback, int64_t lo, int64_t hi);
// An ints attribute (or `fallback`) with `count` values (any count when 0), each in [lo, hi].
std::vector<int64_t> ints_attr(const Attributes& a, const char* name, const std::vector<int64_t>& fallback,
                               size_t count, int64_t lo, int64_t hi);
// A string attribute (or `fallback`) that must be one of `allowed`.
std::string enum_attr(const Attributes& a, const char* name, const std::string& fallback,
                      std::initializer_list<const char*> allowed);

// Shape arithmetic on values from a model file: a * b and a + b, refused (naming
// the node and `what`) when they overflow or exceed kMaxElements.
int64_t mul_dims(const std::string& owner, const char* what, int64_t a, int64_t b);
int64_t add_dims(const std::string& owner, const char* what, int64_t a, int64_t b);

// Input i must have one of the dtypes `ok`; `what` names it in the error.
void require_dtype(const InferContext& c, size_t i, std::initializer_list<DType> ok, const char* what);

// Values of an int64/int32 tensor (shape, axes, pads ...); errors name `what`.
std::vector<int64_t> int_values(const TensorRef& t, const std::string& owner, const char* what);
// Same for an input whose values must be known at plan time (constant or folded).
std::vector<int64_t> known_int_input(const InferContext& c, size_t i, const char* what);
// First value of a scalar (or 1-element) float/int tensor as double.
double scalar_value(const TensorRef& t, const std::string& owner, const char* what);

// The kernel's inputs as an InferContext sees them (omitted optional inputs are
// nullptr), so a kernel can re-run the op's attribute/input parsing.
std::vector<const TensorRef*> present_inputs(const KernelContext& ctx);

// Axes from the attribute (older opsets) or from input `input` (newer opsets),
// normalized to [0, rank); empty when neither is given.
std::vector<int> read_axes(const InferContext& c, size_t input, int rank);

// Logical strides of `in` seen as an operand broadcast to rank `out_rank` (0 on broadcast dims).
std::vector<int64_t> broadcast_strides(const TensorRef& in, int out_rank);

// Walks a logical index domain in the memory order of `layout` as `rows()`
// runs of `inner()` elements; operand k advances by strides[k] (logical
// strides, any layout) and starts at offset(row, k).
class StridedLoop {
 public:
  StridedLoop(const Shape& domain, Layout layout, std::vector<std::vector<int64_t>> strides);
  int64_t rows() const { return rows_; }
  int64_t inner() const { return inner_; }
  int64_t inner_stride(size_t k) const { return inner_strides_[k]; }
  void offsets(int64_t row, int64_t* out) const;
  // The outer dims (memory order, innermost run excluded) and operand k's strides over them.
  const Shape& outer_dims() const { return dims_; }
  const std::vector<int64_t>& outer_strides(size_t k) const { return strides_[k]; }

 private:
  Shape dims_;                                 // domain dims in memory order, innermost excluded
  std::vector<std::vector<int64_t>> strides_;  // per operand, same order as dims_
  std::vector<int64_t> inner_strides_;
  int64_t rows_ = 1, inner_ = 1;
};

// Memory-order dims of a domain for `layout` (identity unless rank 4 NHWC).
std::vector<int> memory_order(int rank, Layout layout);

// dst[d_base + idx . d_strides] = src[s_base + idx . s_strides] for every
// logical idx of `domain`, walked in `layout` memory order; any dtype.
void strided_copy(const KernelContext& ctx, const Shape& domain, Layout layout, size_t elem_size, void* dst,
                  std::vector<int64_t> d_strides, int64_t d_base, const void* src,
                  std::vector<int64_t> s_strides, int64_t s_base);

// Copy of one whole tensor into an output of the same logical shape, whatever both layouts are.
void copy_tensor(const KernelContext& ctx, const TensorRef& src, const TensorRef& dst);

// Runs fn(x, y) on float NHWC buffers of two rank-4 tensors: the kernels
// library's convolutions and pools take NHWC, which is what a kNhwc op is
// handed, except for an input the planner knows at plan time (a constant
// stays plain, and so does the output it makes); those go through NHWC copies.
void run_nhwc(const KernelContext& ctx, const TensorRef& x, const TensorRef& y,
              const std::function<void(const float* x_nhwc, float* y_nhwc)>& fn);

// Row ranges of an M-row GEMM for the thread pool, split in whole micro-tiles
// of `kernel` so that threads get full tiles.
void split_gemm_rows(const KernelContext& ctx, const kernels::F32GemmKernel& kernel, int64_t m,
                     const std::function<void(kernels::Range rows)>& fn);

// Column ranges of an N-column GEMM for the thread pool, split at panel
// boundaries of `kernel` (what sgemm_packed's cols need): for products with
// too few rows to share, such as a classifier at batch 1.
void split_gemm_cols(const KernelContext& ctx, const kernels::F32GemmKernel& kernel, int64_t n,
                     const std::function<void(kernels::Range cols)>& fn);

// Every dtype the data-movement ops accept (they copy elements without looking at them).
inline const std::vector<DType> kAllTypes = {DType::kFloat32, DType::kInt64, DType::kInt32,
                                             DType::kBool,    DType::kUInt8, DType::kInt8};

// Dtype dispatch on element types used by the generic ops.
template <typename F>
void dispatch_dtype(DType d, const std::string& owner, F&& f) {
  switch (d) {
    case DType::kFloat32: return f(float{});
    case DType::kInt64: return f(int64_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kBool: return f(bool{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kInt8: return f(int8_t{});
    default: fail(owner, ": unsupported dtype ", dtype_name(d));
  }
}

}  // namespace slim
