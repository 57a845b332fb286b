// Element-indexed data movement: GatherElements, GatherND, ScatterElements,
// ScatterND, OneHot, Trilu, NonZero (its output's length is the data's: a
// dynamic output, OPS.md). Indices come from the graph (untrusted at run
// time too): every index is range-checked before it addresses memory, and an
// out-of-range one fails the run with the node's name. Plain layout: these ops
// index logical positions element by element, so NHWC would buy nothing.
#include <algorithm>
#include <cmath>

#include "ops/common.h"

namespace slim {
namespace {

std::vector<int64_t> plain_strides(const Shape& s) { return logical_strides(s, Layout::kPlain); }

// An index into an axis of `dim`, negative counting from the end; refused outside [-dim, dim).
int64_t wrap_index(int64_t i, int64_t dim, const std::string& owner, const char* what) {
  SLIM_CHECK(i >= -dim && i < dim, owner, ": ", what, " ", i, " is out of range for an axis of size ", dim);
  return i < 0 ? i + dim : i;
}

// Reductions of ScatterElements / ScatterND (opset 16: none, add, mul; 18: max, min).
enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction read_reduction(const Attributes& a) {
  const std::string r = enum_attr(a, "reduction", "none", {"none", "add", "mul", "max", "min"});
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return Reduction::kNone;
}

template <typename T>
void apply(Reduction r, T& dst, T v) {
  switch (r) {
    case Reduction::kNone: dst = v; break;
    case Reduction::kAdd: dst = static_cast<T>(dst + v); break;
    case Reduction::kMul: dst = static_cast<T>(dst * v); break;
    // NaN propagates: a NaN on either side wins
    case Reduction::kMax:
      if constexpr (std::is_floating_point_v<T>) dst = std::isnan(dst) || std::isnan(v) ? NAN : std::max(dst, v);
      else dst = std::max(dst, v);
      break;
    case Reduction::kMin:
      if constexpr (std::is_floating_point_v<T>) dst = std::isnan(dst) || std::isnan(v) ? NAN : std::min(dst, v);
      else dst = std::min(dst, v);
      break;
  }
}

template <>
void apply<bool>(Reduction r, bool& dst, bool v) {
  switch (r) {
    case Reduction::kNone: dst = v; break;
    case Reduction::kAdd: case Reduction::kMax: dst = dst || v; break;
    case Reduction::kMul: case Reduction::kMin: dst = dst && v; break;
  }
}

// ---- GatherElements / ScatterElements ---------------------------------------
// indices (and updates) have data's rank; off the axis their dims may not
// exceed data's, so every position they name exists in data.
void check_elements_shapes(const InferContext& c, const Shape& data, const Shape& idx, int axis) {
  if (idx.size() != data.size())
    c.error("indices rank ", idx.size(), " differs from data rank ", data.size());
  for (size_t d = 0; d < data.size(); ++d)
    if (static_cast<int>(d) != axis && idx[d] > data[d])
      c.error("indices shape ", shape_str(idx), " exceeds data shape ", shape_str(data), " off axis ", axis);
}

void infer_gather_elements(InferContext& c) {
  const Shape& data = c.input_shape(0);
  if (data.empty()) c.error("data must have rank >= 1");
  const int axis = normalize_axis(c.attrs().get_int("axis", 0), static_cast<int>(data.size()), "axis");
  require_dtype(c, 1, {DType::kInt64, DType::kInt32}, "indices");
  check_elements_shapes(c, data, c.input_shape(1), axis);
  c.set_output(0, c.input_dtype(0), c.input_shape(1));
}

// Calls fn(flat position in the index domain, offset in data minus the axis term, axis index) for every
// element of `idx_shape`, the axis index wrapped and checked.
template <typename Fn>
void for_each_element_index(const KernelContext& ctx, const Shape& data, const Shape& idx_shape,
                            const std::vector<int64_t>& idx, int axis, Fn&& fn) {
  const auto ds = plain_strides(data);
  const int rank = static_cast<int>(data.size());
  std::vector<int64_t> pos(static_cast<size_t>(rank), 0);
  const int64_t n = static_cast<int64_t>(idx.size());
  int64_t base = 0;  // data offset of pos without the axis term
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = wrap_index(idx[static_cast<size_t>(k)], data[axis], ctx.attrs.owner(), "index");
    fn(k, base + i * ds[axis]);
    for (int d = rank - 1; d >= 0; --d) {
      if (++pos[d] < idx_shape[d]) {
        if (d != axis) base += ds[d];
        break;
      }
      if (d != axis) base -= (pos[d] - 1) * ds[d];
      pos[d] = 0;
    }
  }
}

void gather_elements_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int axis = normalize_axis(ctx.attrs.get_int("axis", 0), x.rank(), "axis");
  const auto idx = int_values(ctx.inputs[1], ctx.attrs.owner(), "indices");
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* src = x.ptr<const T>();
    T* dst = y.ptr<T>();
    for_each_element_index(ctx, x.shape, y.shape, idx, axis, [&](int64_t k, int64_t off) { dst[k] = src[off]; });
  });
}

void infer_scatter_elements(InferContext& c) {
  const Shape& data = c.input_shape(0);
  if (data.empty()) c.error("data must have rank >= 1");
  const int axis = normalize_axis(c.attrs().get_int("axis", 0), static_cast<int>(data.size()), "axis");
  require_dtype(c, 1, {DType::kInt64, DType::kInt32}, "indices");
  if (c.input_dtype(2) != c.input_dtype(0)) c.error("updates dtype differs from data dtype");
  if (c.input_shape(2) != c.input_shape(1))
    c.error("updates shape ", shape_str(c.input_shape(2)), " differs from indices shape ", shape_str(c.input_shape(1)));
  check_elements_shapes(c, data, c.input_shape(1), axis);
  read_reduction(c.attrs());
  c.set_output(0, c.input_dtype(0), data);
}

void scatter_elements_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &u = ctx.inputs[2], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  std::memcpy(y.data, x.data, y.bytes());
  if (u.numel() == 0) return;
  const int axis = normalize_axis(ctx.attrs.get_int("axis", 0), x.rank(), "axis");
  const Reduction red = read_reduction(ctx.attrs);
  const auto idx = int_values(ctx.inputs[1], ctx.attrs.owner(), "indices");
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* up = u.ptr<const T>();
    T* dst = y.ptr<T>();
    // in index order: with duplicate indices the last update wins (reduction none), as in ONNX's reference
    for_each_element_index(ctx, x.shape, u.shape, idx, axis,
                           [&](int64_t k, int64_t off) { apply<T>(red, dst[off], up[k]); });
  });
}

// ---- GatherND / ScatterND ---------------------------------------------------
void infer_gather_nd(InferContext& c) {
  const Shape &data = c.input_shape(0), &idx = c.input_shape(1);
  require_dtype(c, 1, {DType::kInt64, DType::kInt32}, "indices");
  const int64_t b = int_attr(c.attrs(), "batch_dims", 0, 0, kMaxRank);
  const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(idx.size());
  if (r < 1 || q < 1) c.error("data and indices must have rank >= 1");
  if (b >= std::min(r, q)) c.error("batch_dims ", b, " must be below the ranks of data and indices");
  for (int64_t d = 0; d < b; ++d)
    if (data[d] != idx[d]) c.error("batch dim ", d, " differs: data ", shape_str(data), ", indices ", shape_str(idx));
  const int64_t k = idx.back();
  if (k < 1 || k > r - b) c.error("indices' last dim ", k, " must be in [1, ", r - b, "]");
  Shape out(idx.begin(), idx.end() - 1);
  out.insert(out.end(), data.begin() + b + k, data.end());
  c.set_output(0, c.input_dtype(0), out);
}

// Offsets into data (in elements) of the slices that the index tuples name: `idx` holds tuples of `k`
// indices into the dims after the `b` batch dims, batch entry by batch entry (as many tuples for each).
std::vector<int64_t> nd_offsets(const KernelContext& ctx, const Shape& data, const std::vector<int64_t>& idx,
                                int64_t b, int64_t k) {
  const auto ds = plain_strides(data);
  int64_t batch_size = 1;
  for (int64_t d = 0; d < b; ++d) batch_size *= data[d];
  const int64_t tuples = k == 0 ? 0 : static_cast<int64_t>(idx.size()) / k;
  const int64_t per_batch = batch_size == 0 ? 0 : tuples / batch_size;
  const int64_t batch_stride = b == 0 ? 0 : ds[b - 1];
  std::vector<int64_t> off(static_cast<size_t>(tuples));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t o = per_batch == 0 ? 0 : (t / per_batch) * batch_stride;
    for (int64_t j = 0; j < k; ++j)
      o += wrap_index(idx[static_cast<size_t>(t * k + j)], data[b + j], ctx.attrs.owner(), "index") * ds[b + j];
    off[static_cast<size_t>(t)] = o;
  }
  return off;
}

void gather_nd_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int64_t b = ctx.attrs.get_int("batch_dims", 0), k = ctx.inputs[1].shape.back();
  const auto off = nd_offsets(ctx, x.shape, int_values(ctx.inputs[1], ctx.attrs.owner(), "indices"), b, k);
  int64_t slice = 1;
  for (int d = static_cast<int>(b + k); d < x.rank(); ++d) slice *= x.shape[d];
  const size_t es = dtype_size(x.dtype), row = static_cast<size_t>(slice) * es;
  const auto* src = static_cast<const uint8_t*>(x.data);
  auto* dst = static_cast<uint8_t*>(y.data);
  for (size_t t = 0; t < off.size(); ++t) std::memcpy(dst + t * row, src + off[t] * static_cast<int64_t>(es), row);
}

void infer_scatter_nd(InferContext& c) {
  const Shape &data = c.input_shape(0), &idx = c.input_shape(1), &upd = c.input_shape(2);
  require_dtype(c, 1, {DType::kInt64, DType::kInt32}, "indices");
  if (c.input_dtype(2) != c.input_dtype(0)) c.error("updates dtype differs from data dtype");
  if (data.empty() || idx.empty()) c.error("data and indices must have rank >= 1");
  const int64_t k = idx.back();
  if (k < 1 || k > static_cast<int64_t>(data.size()))
    c.error("indices' last dim ", k, " must be in [1, ", data.size(), "]");
  Shape want(idx.begin(), idx.end() - 1);
  want.insert(want.end(), data.begin() + k, data.end());
  if (upd != want) c.error("updates shape ", shape_str(upd), " should be ", shape_str(want));
  read_reduction(c.attrs());
  c.set_output(0, c.input_dtype(0), data);
}

void scatter_nd_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &u = ctx.inputs[2], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  std::memcpy(y.data, x.data, y.bytes());
  if (u.numel() == 0) return;
  const int64_t k = ctx.inputs[1].shape.back();
  const auto off = nd_offsets(ctx, x.shape, int_values(ctx.inputs[1], ctx.attrs.owner(), "indices"), 0, k);
  const Reduction red = read_reduction(ctx.attrs);
  int64_t slice = 1;
  for (int d = static_cast<int>(k); d < x.rank(); ++d) slice *= x.shape[d];
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* up = u.ptr<const T>();
    T* dst = y.ptr<T>();
    for (size_t t = 0; t < off.size(); ++t)
      for (int64_t j = 0; j < slice; ++j) apply<T>(red, dst[off[t] + j], up[static_cast<int64_t>(t) * slice + j]);
  });
}

// ---- OneHot -----------------------------------------------------------------
int64_t one_hot_depth(const TensorRef& t, const std::string& owner) {
  SLIM_CHECK(t.numel() == 1, owner, ": depth must have one element, got shape ", shape_str(t.shape));
  const double d = scalar_value(t, owner, "depth");
  SLIM_CHECK(std::isfinite(d) && d >= 1 && d <= static_cast<double>(kMaxElements), owner, ": depth ", d,
             " is out of range");
  return static_cast<int64_t>(d);  // ONNX casts a float depth to int64 (truncation)
}

void infer_one_hot(InferContext& c) {
  const Shape& idx = c.input_shape(0);
  const TensorRef* depth = c.input_value(1);
  if (depth == nullptr) c.error("depth (input 1) must be known when the graph is planned");
  require_dtype(c, 1, {DType::kFloat32, DType::kInt64, DType::kInt32}, "depth");
  if (numel(c.input_shape(2)) != 2) c.error("values must have 2 elements (off, on), got ", shape_str(c.input_shape(2)));
  const int64_t d = one_hot_depth(*depth, c.attrs().owner());
  const int out_rank = static_cast<int>(idx.size()) + 1;
  if (idx.size() + 1 > kMaxRank) c.error("output rank ", out_rank, " exceeds ", kMaxRank);
  const int axis = normalize_axis(c.attrs().get_int("axis", -1), out_rank, "axis");
  Shape out = idx;
  out.insert(out.begin() + axis, d);
  int64_t n = 1;
  for (int64_t v : out) n = mul_dims(c.attrs().owner(), "output size", n, v);
  c.set_output(0, c.input_dtype(2), out);
}

void one_hot_kernel(const KernelContext& ctx) {
  const TensorRef &ind = ctx.inputs[0], &vals = ctx.inputs[2], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int64_t depth = one_hot_depth(ctx.inputs[1], ctx.attrs.owner());
  const int axis = normalize_axis(ctx.attrs.get_int("axis", -1), y.rank(), "axis");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= y.shape[d];
  for (int d = axis + 1; d < y.rank(); ++d) inner *= y.shape[d];
  // indices of any numeric type, cast to int64 like ONNX; NaN or out-of-range ones give an all-off row
  std::vector<int64_t> idx(static_cast<size_t>(ind.numel()));
  std::vector<bool> valid(idx.size(), true);
  dispatch_dtype(ind.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* p = ind.ptr<const T>();
    for (size_t i = 0; i < idx.size(); ++i) {
      if constexpr (std::is_floating_point_v<T>) {
        if (!(std::fabs(p[i]) < static_cast<T>(kMaxElements))) {
          valid[i] = false;
          continue;
        }
      }
      idx[i] = static_cast<int64_t>(p[i]);
    }
  });
  dispatch_dtype(vals.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T off = vals.ptr<const T>()[0], on = vals.ptr<const T>()[1];
    T* dst = y.ptr<T>();
    std::fill(dst, dst + y.numel(), off);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const size_t s = static_cast<size_t>(o * inner + i);
        if (!valid[s]) continue;
        int64_t v = idx[s];
        if (v < -depth || v >= depth) continue;
        if (v < 0) v += depth;
        dst[(o * depth + v) * inner + i] = on;
      }
  });
}

// ---- Trilu ------------------------------------------------------------------
void infer_trilu(InferContext& c) {
  if (c.input_shape(0).size() < 2) c.error("input must have rank >= 2");
  if (c.has_input(1)) {
    require_dtype(c, 1, {DType::kInt64}, "k");
    if (numel(c.input_shape(1)) != 1) c.error("k must have one element");
  }
  int_attr(c.attrs(), "upper", 1, 0, 1);
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
}

void trilu_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  int64_t k = 0;
  if (ctx.inputs.size() > 1 && ctx.inputs[1].data != nullptr) k = ctx.inputs[1].ptr<const int64_t>()[0];
  const bool upper = ctx.attrs.get_int("upper", 1) != 0;
  const int64_t rows = x.shape[x.rank() - 2], cols = x.shape[x.rank() - 1];
  const int64_t mats = y.numel() / (rows * cols);
  // k beyond the matrix keeps or zeroes everything; clamp so j - i - k cannot overflow
  k = std::max(-(rows + 1), std::min(cols + 1, k));
  const size_t es = dtype_size(x.dtype);
  const auto* src = static_cast<const uint8_t*>(x.data);
  auto* dst = static_cast<uint8_t*>(y.data);
  ctx.parallel_for(mats * rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i = r % rows;
      // upper keeps j >= i + k, lower keeps j <= i + k
      const int64_t split = upper ? std::max<int64_t>(0, std::min(cols, i + k))
                                  : std::max<int64_t>(0, std::min(cols, i + k + 1));
      const size_t row = static_cast<size_t>(r * cols) * es, cut = static_cast<size_t>(split) * es;
      const size_t all = static_cast<size_t>(cols) * es;
      if (upper) {
        std::memset(dst + row, 0, cut);
        std::memcpy(dst + row + cut, src + row + cut, all - cut);
      } else {
        std::memcpy(dst + row, src + row, cut);
        std::memset(dst + row + cut, 0, all - cut);
      }
    }
  });
}

OpDef plain_def(const char* type, std::vector<DType> dtypes, int in_min, int in_max, InferFn infer, KernelFn kernel) {
  return OpDef(type)
      .dtypes(std::move(dtypes))
      .inputs(in_min, in_max)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(std::move(infer))
      .kernel(std::move(kernel));
}

// NonZero: the indices of the non-zero elements, [rank, count], row-major order (NaN counts as non-zero).
void infer_nonzero(InferContext& ctx) { ctx.set_output_dynamic(0, DType::kInt64); }

void nonzero_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  const int rank = x.rank();
  const int64_t n = x.numel();
  dispatch_dtype(x.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    const T* p = x.ptr<const T>();
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) count += !(p[i] == T(0));
    const TensorRef y = ctx.allocate_output(0, {rank, count});
    int64_t* out = y.ptr<int64_t>();
    int64_t k = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (p[i] == T(0)) continue;
      int64_t rest = i;
      for (int d = rank - 1; d >= 0; --d) {
        out[d * count + k] = rest % x.shape[d];
        rest /= x.shape[d];
      }
      ++k;
    }
  });
}

}  // namespace
}  // namespace slim

DEFINE_OP(GatherElements) {
  return plain_def("GatherElements", kAllTypes, 2, 2, infer_gather_elements, gather_elements_kernel).foldable();
}
DEFINE_OP(GatherND) { return plain_def("GatherND", kAllTypes, 2, 2, infer_gather_nd, gather_nd_kernel).foldable(); }
DEFINE_OP(ScatterElements) {
  return plain_def("ScatterElements", kAllTypes, 3, 3, infer_scatter_elements, scatter_elements_kernel).foldable();
}
DEFINE_OP(ScatterND) {
  return plain_def("ScatterND", kAllTypes, 3, 3, infer_scatter_nd, scatter_nd_kernel).foldable();
}
DEFINE_OP(OneHot) {
  return plain_def("OneHot", {DType::kFloat32, DType::kInt64, DType::kInt32}, 3, 3, infer_one_hot, one_hot_kernel)
      .foldable();
}
DEFINE_OP(Trilu) { return plain_def("Trilu", kAllTypes, 1, 2, infer_trilu, trilu_kernel).foldable(); }
DEFINE_OP(NonZero) {
  return plain_def("NonZero", {DType::kFloat32, DType::kInt64, DType::kInt32, DType::kBool, DType::kUInt8,
                               DType::kInt8}, 1, 1, infer_nonzero, nonzero_kernel);
}
