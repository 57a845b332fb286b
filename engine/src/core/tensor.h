// What kernels see of a tensor. Shapes are always the LOGICAL ONNX order
// (N, C, H, W for images) whatever the memory layout, so shape inference never
// depends on layout; only strides do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace slim {

using Shape = std::vector<int64_t>;

enum class Layout : uint8_t {
  kPlain = 0,  // row-major in logical order (ONNX NCHW)
  kNhwc = 1,   // rank 4 only: memory order N, H, W, C
};

// Largest dim, and largest element count, of any tensor the engine plans
// (2^40: more than any machine holds). A product of two values below it
// still fits in int64, which keeps stride and offset arithmetic exact.
constexpr int64_t kMaxElements = int64_t(1) << 40;
// Largest rank of any tensor, in the file (FORMAT.md) and in shape inference.
constexpr size_t kMaxRank = 8;

const char* layout_name(Layout layout);
std::string shape_str(const Shape& shape);
int64_t numel(const Shape& shape);  // for validated shapes (non-negative, no overflow)
// numel of an untrusted shape; false on a negative dim, or when the product
// of its non-zero dims exceeds `limit` (a zero dim must not hide huge others:
// strides multiply them).
bool checked_numel(const Shape& shape, int64_t limit, int64_t* out);

// Overflow-checked int64 arithmetic for values read from a model file; false on overflow.
inline bool checked_add(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }
inline bool checked_mul(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// Element stride of each LOGICAL dim given the memory layout; broadcasting and
// elementwise kernels index through these and so work in either layout.
std::vector<int64_t> logical_strides(const Shape& shape, Layout layout);
// The dims in memory order.
Shape physical_shape(const Shape& shape, Layout layout);
// Memory-order position of a logical axis (e.g. channel axis 1 -> 3 in NHWC);
// `axis` may be negative (ONNX style) and is validated against `rank`.
int physical_axis(int64_t axis, int rank, Layout layout);
// Normalizes an ONNX axis (negative counts from the end); throws when out of
// range, so always for rank 0.
int normalize_axis(int64_t axis, int rank, const char* what);

struct TensorRef {
  void* data = nullptr;
  DType dtype = DType::kUndefined;
  Shape shape;
  Layout layout = Layout::kPlain;

  int rank() const { return static_cast<int>(shape.size()); }
  int64_t numel() const { return slim::numel(shape); }
  size_t bytes() const { return storage_bytes(dtype, static_cast<size_t>(numel())); }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
};

}  // namespace slim
