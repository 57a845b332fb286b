// Selection along one axis: TopK (values and int64 indices of the k largest or
// smallest) and Hardmax (one-hot of the first maximum). Ties go to the lower
// index, as ONNX specifies; NaN orders above every number (NumPy's sort order),
// so it is never silently dropped from a largest-k.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/common.h"

namespace slim {
namespace {

int64_t topk_k(const TensorRef& t, const std::string& owner) {
  SLIM_CHECK(t.numel() == 1, owner, ": K must have one element, got shape ", shape_str(t.shape));
  return int_values(t, owner, "K")[0];
}

void infer_topk(InferContext& c) {
  Shape s = c.input_shape(0);
  if (s.empty()) c.error("input must have rank >= 1");
  const int axis = normalize_axis(c.attrs().get_int("axis", -1), static_cast<int>(s.size()), "axis");
  require_dtype(c, 1, {DType::kInt64}, "K");
  const TensorRef* kt = c.input_value(1);
  if (kt == nullptr) c.error("K (input 1) must be known when the graph is planned");
  const int64_t k = topk_k(*kt, c.attrs().owner());
  if (k < 0 || k > s[axis]) c.error("K = ", k, " is out of range [0, ", s[axis], "] for axis ", axis);
  int_attr(c.attrs(), "largest", 1, 0, 1);
  int_attr(c.attrs(), "sorted", 1, 0, 1);
  s[axis] = k;
  c.set_output(0, c.input_dtype(0), s);
  c.set_output(1, DType::kInt64, s);
}

// a before b in the result: larger (or smaller) first, NaN as the largest, ties by index
template <typename T>
bool key_less(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(b)) return !std::isnan(a);
    if (std::isnan(a)) return false;
  }
  return a < b;
}

void topk_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &yv = ctx.outputs[0], &yi = ctx.outputs[1];
  if (yv.numel() == 0) return;
  const int axis = normalize_axis(ctx.attrs.get_int("axis", -1), x.rank(), "axis");
  const bool largest = ctx.attrs.get_int("largest", 1) != 0;
  const int64_t k = yv.shape[axis], n = x.shape[axis];
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* xp = x.ptr<const T>();
    T* vp = yv.ptr<T>();
    int64_t* ip = yi.ptr<int64_t>();
    ctx.parallel_for(outer * inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t r = b; r < e; ++r) {
        const int64_t o = r / inner, i = r % inner;
        const T* row = xp + o * n * inner + i;
        std::iota(order.begin(), order.end(), int64_t{0});
        const auto before = [&](int64_t p, int64_t q) {
          const T a = row[p * inner], c = row[q * inner];
          if (largest ? key_less(c, a) : key_less(a, c)) return true;
          if (largest ? key_less(a, c) : key_less(c, a)) return false;
          return p < q;
        };
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          const int64_t at = o * k * inner + j * inner + i;
          vp[at] = row[order[static_cast<size_t>(j)] * inner];
          ip[at] = order[static_cast<size_t>(j)];
        }
      }
    });
  });
}

void infer_hardmax(InferContext& c) {
  normalize_axis(c.attrs().get_int("axis", -1), static_cast<int>(c.input_shape(0).size()), "axis");
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
}

void hardmax_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int axis = normalize_axis(ctx.attrs.get_int("axis", -1), x.rank(), "axis");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
  const int64_t n = x.shape[axis];
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(outer * inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t base = (r / inner) * n * inner + r % inner;
      int64_t best = 0;
      for (int64_t j = 1; j < n; ++j)
        if (key_less(xp[base + best * inner], xp[base + j * inner])) best = j;
      for (int64_t j = 0; j < n; ++j) yp[base + j * inner] = j == best ? 1.0f : 0.0f;
    }
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(TopK) {
  return OpDef("TopK")
      .dtypes({DType::kFloat32, DType::kInt64, DType::kInt32})
      .inputs(2)
      .outputs(2)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_topk)
      .kernel(topk_kernel)
      .foldable();
}

DEFINE_OP(Hardmax) {
  return OpDef("Hardmax")
      .dtypes({DType::kFloat32})
      .inputs(1)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_hardmax)
      .kernel(hardmax_kernel);
}
