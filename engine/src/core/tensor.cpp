#include "core/tensor.h"

#include <limits>

#include "core/error.h"

namespace slim {

const char* layout_name(Layout layout) { return layout == Layout::kNhwc ? "NHWC" : "plain"; }

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool checked_numel(const Shape& shape, int64_t limit, int64_t* out) {
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > limit / d) return false;
    nonzero *= d;
  }
  *out = empty ? 0 : nonzero;
  return true;
}

std::vector<int64_t> logical_strides(const Shape& shape, Layout layout) {
  std::vector<int64_t> st(shape.size(), 1);
  if (layout == Layout::kNhwc && shape.size() == 4) {
    const int64_t c = shape[1], h = shape[2], w = shape[3];
    st[1] = 1;
    st[3] = c;
    st[2] = w * c;
    st[0] = h * w * c;
    return st;
  }
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * shape[i + 1];
  return st;
}

Shape physical_shape(const Shape& shape, Layout layout) {
  if (layout == Layout::kNhwc && shape.size() == 4) return {shape[0], shape[2], shape[3], shape[1]};
  return shape;
}

int normalize_axis(int64_t axis, int rank, const char* what) {
  // A scalar has no axis: callers index shape[axis] with the result.
  SLIM_CHECK(axis >= -rank && axis < rank, what, " ", axis, " is out of range for rank ", rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

int physical_axis(int64_t axis, int rank, Layout layout) {
  const int a = normalize_axis(axis, rank, "axis");
  if (layout != Layout::kNhwc || rank != 4) return a;
  static const int kNhwcPos[4] = {0, 3, 1, 2};
  return kNhwcPos[a];
}

}  // namespace slim
