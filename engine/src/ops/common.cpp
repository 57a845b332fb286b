#include "ops/common.h"

#include <algorithm>
#include <numeric>

#include "core/aligned.h"
#include "core/plan.h"

namespace slim {

int64_t int_attr(const Attributes& a, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const int64_t v = a.get_int(name, fallback);
  SLIM_CHECK(v >= lo && v <= hi, a.owner(), ": attribute '", name, "' = ", v, " is out of range [", lo, ", ", hi, "]");
  return v;
}

std::vector<int64_t> ints_attr(const Attributes& a, const char* name, const std::vector<int64_t>& fallback,
                               size_t count, int64_t lo, int64_t hi) {
  std::vector<int64_t> v = a.get_ints(name, fallback);
  SLIM_CHECK(count == 0 || v.size() == count, a.owner(), ": attribute '", name, "' has ", v.size(),
             " values, expected ", count);
  for (size_t i = 0; i < v.size(); ++i)
    SLIM_CHECK(v[i] >= lo && v[i] <= hi, a.owner(), ": attribute '", name, "'[", i, "] = ", v[i],
               " is out of range [", lo, ", ", hi, "]");
  return v;
}

std::string enum_attr(const Attributes& a, const char* name, const std::string& fallback,
                      std::initializer_list<const char*> allowed) {
  const std::string v = a.get_string(name, fallback);
  std::string list;
  for (const char* x : allowed) {
    if (v == x) return v;
    list += (list.empty() ? "" : ", ") + std::string(x);
  }
  fail(a.owner(), ": attribute '", name, "' = '", v, "' is not supported (", list, ")");
}

int64_t mul_dims(const std::string& owner, const char* what, int64_t a, int64_t b) {
  int64_t r = 0;
  SLIM_CHECK(checked_mul(a, b, &r) && r <= kMaxElements && r >= -kMaxElements, owner, ": ", what, " (", a, " * ", b,
             ") is out of range");
  return r;
}

int64_t add_dims(const std::string& owner, const char* what, int64_t a, int64_t b) {
  int64_t r = 0;
  SLIM_CHECK(checked_add(a, b, &r) && r <= kMaxElements && r >= -kMaxElements, owner, ": ", what, " (", a, " + ", b,
             ") is out of range");
  return r;
}

void require_dtype(const InferContext& c, size_t i, std::initializer_list<DType> ok, const char* what) {
  const DType d = c.input_dtype(i);
  std::string list;
  for (DType x : ok) {
    if (d == x) return;
    list += (list.empty() ? "" : ", ") + std::string(dtype_name(x));
  }
  c.error(what, " (input ", i, ") has dtype ", dtype_name(d), ", expected ", list);
}

std::vector<int64_t> int_values(const TensorRef& t, const std::string& owner, const char* what) {
  SLIM_CHECK(t.data != nullptr, owner, ": ", what, " must be known when the graph is planned (a constant or a shape "
             "computation)");
  const int64_t n = t.numel();
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (t.dtype == DType::kInt64) {
    if (n > 0) std::memcpy(v.data(), t.data, static_cast<size_t>(n) * sizeof(int64_t));
  } else if (t.dtype == DType::kInt32) {
    const int32_t* p = t.ptr<const int32_t>();
    for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  } else {
    fail(owner, ": ", what, " must be int64 or int32, got ", dtype_name(t.dtype));
  }
  return v;
}

std::vector<int64_t> known_int_input(const InferContext& c, size_t i, const char* what) {
  const TensorRef* t = c.input_value(i);
  if (t == nullptr) c.error(what, " (input ", i, ") must be known when the graph is planned");
  return int_values(*t, c.attrs().owner(), what);
}

double scalar_value(const TensorRef& t, const std::string& owner, const char* what) {
  SLIM_CHECK(t.data != nullptr && t.numel() >= 1, owner, ": ", what, " must be a non-empty known value");
  switch (t.dtype) {
    case DType::kFloat32: return t.ptr<const float>()[0];
    case DType::kInt64: return static_cast<double>(t.ptr<const int64_t>()[0]);
    case DType::kInt32: return t.ptr<const int32_t>()[0];
    default: fail(owner, ": ", what, " has unsupported dtype ", dtype_name(t.dtype));
  }
}

std::vector<const TensorRef*> present_inputs(const KernelContext& ctx) {
  std::vector<const TensorRef*> ins;
  for (const TensorRef& t : ctx.inputs) ins.push_back(t.data != nullptr || t.numel() == 0 ? &t : nullptr);
  return ins;
}

std::vector<int> read_axes(const InferContext& c, size_t input, int rank) {
  std::vector<int64_t> raw;
  if (c.has_input(input)) raw = known_int_input(c, input, "axes");
  else raw = c.attrs().get_ints("axes", {});
  std::vector<int> axes;
  for (int64_t a : raw) {
    if (a < -rank || a >= rank) c.error("axis ", a, " is out of range for rank ", rank);
    const int n = static_cast<int>(a < 0 ? a + rank : a);
    if (std::find(axes.begin(), axes.end(), n) != axes.end()) c.error("axis ", a, " is repeated");
    axes.push_back(n);
  }
  return axes;
}

std::vector<int64_t> broadcast_strides(const TensorRef& in, int out_rank) {
  const std::vector<int64_t> st = logical_strides(in.shape, in.layout);
  std::vector<int64_t> r(static_cast<size_t>(out_rank), 0);
  const int off = out_rank - in.rank();
  for (int d = 0; d < in.rank(); ++d)
    if (in.shape[d] != 1) r[d + off] = st[d];
  return r;
}

std::vector<int> memory_order(int rank, Layout layout) {
  std::vector<int> order(static_cast<size_t>(rank));
  std::iota(order.begin(), order.end(), 0);
  if (layout == Layout::kNhwc && rank == 4) order = {0, 2, 3, 1};
  return order;
}

StridedLoop::StridedLoop(const Shape& domain, Layout layout, std::vector<std::vector<int64_t>> strides) {
  const int rank = static_cast<int>(domain.size());
  const std::vector<int> order = memory_order(rank, layout);
  strides_.resize(strides.size());
  inner_strides_.assign(strides.size(), 0);
  // Nothing to walk; the strides of an empty domain need not even fit in int64.
  if (std::find(domain.begin(), domain.end(), 0) != domain.end()) {
    rows_ = 0;
    return;
  }
  if (rank == 0) return;
  // Drop size-1 dims and merge neighbours that are contiguous for every operand:
  // fewer, longer runs make the inner loop the one that matters.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> st(strides.size());
  for (int p = 0; p < rank; ++p) {
    const int d = order[p];
    if (domain[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < strides.size() && merge; ++k) merge = st[k].back() == strides[k][d] * domain[d];
    if (merge) {
      dims.back() *= domain[d];
      for (size_t k = 0; k < strides.size(); ++k) st[k].back() = strides[k][d];
    } else {
      dims.push_back(domain[d]);
      for (size_t k = 0; k < strides.size(); ++k) st[k].push_back(strides[k][d]);
    }
  }
  rows_ = numel(domain) == 0 ? 0 : 1;
  if (dims.empty()) return;
  inner_ = dims.back();
  for (size_t k = 0; k < strides.size(); ++k) {
    inner_strides_[k] = st[k].back();
    strides_[k].assign(st[k].begin(), st[k].end() - 1);
  }
  dims_.assign(dims.begin(), dims.end() - 1);
  for (int64_t d : dims_) rows_ *= d;
  if (numel(domain) == 0) rows_ = 0;
}

void StridedLoop::offsets(int64_t row, int64_t* out) const {
  for (size_t k = 0; k < strides_.size(); ++k) out[k] = 0;
  for (int p = static_cast<int>(dims_.size()) - 1; p >= 0; --p) {
    const int64_t c = row % dims_[p];
    row /= dims_[p];
    for (size_t k = 0; k < strides_.size(); ++k) out[k] += c * strides_[k][p];
  }
}

namespace {

// The offsets of a run of consecutive rows, advanced like an odometer: a
// division per dim per row costs more than copying a short run (the 2-float
// runs of MobileViT's patch unfolding, a shuffle's channel pairs).
class RowWalker {
 public:
  RowWalker(const Shape& dims, const std::vector<int64_t>& s0, const std::vector<int64_t>& s1, int64_t row)
      : dims_(dims), s0_(s0), s1_(s1), idx_(dims.size(), 0) {
    for (int p = static_cast<int>(dims.size()) - 1; p >= 0; --p) {
      idx_[p] = row % dims[p];
      row /= dims[p];
      off0_ += idx_[p] * s0[p];
      off1_ += idx_[p] * s1[p];
    }
  }
  int64_t off0() const { return off0_; }
  int64_t off1() const { return off1_; }
  void next() {
    for (int p = static_cast<int>(dims_.size()) - 1; p >= 0; --p) {
      off0_ += s0_[p];
      off1_ += s1_[p];
      if (++idx_[p] < dims_[p]) return;
      off0_ -= dims_[p] * s0_[p];
      off1_ -= dims_[p] * s1_[p];
      idx_[p] = 0;
    }
  }

 private:
  const Shape& dims_;
  const std::vector<int64_t>& s0_;
  const std::vector<int64_t>& s1_;
  std::vector<int64_t> idx_;
  int64_t off0_ = 0, off1_ = 0;
};

// dst runs are contiguous but src walks them with a stride, and an outer dim
// `p` is contiguous in src: a 2-D transpose between that dim and the inner
// run, done in square tiles so that both sides stay in L1.
template <typename T>
void transpose_runs(const KernelContext& ctx, const StridedLoop& loop, size_t p, T* dst, const T* src) {
  constexpr int64_t kTile = 16;
  Shape rest = loop.outer_dims();
  std::vector<int64_t> rd = loop.outer_strides(0), rs = loop.outer_strides(1);
  const int64_t a = rest[p], a_dst = rd[p];  // the dim contiguous in src; its stride in dst
  rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(p));
  rd.erase(rd.begin() + static_cast<std::ptrdiff_t>(p));
  rs.erase(rs.begin() + static_cast<std::ptrdiff_t>(p));
  const int64_t b = loop.inner(), b_src = loop.inner_stride(1);
  const int64_t a_tiles = (a + kTile - 1) / kTile;
  const int64_t units = numel(rest) * a_tiles;
  ctx.parallel_for(units, std::max<int64_t>(1, 4096 / std::max<int64_t>(kTile * b, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const RowWalker at(rest, rd, rs, u / a_tiles);
      const int64_t i0 = (u % a_tiles) * kTile, i1 = std::min(a, i0 + kTile);
      T* d = dst + at.off0();
      const T* s = src + at.off1();
      for (int64_t j0 = 0; j0 < b; j0 += kTile) {
        const int64_t j1 = std::min(b, j0 + kTile);
        for (int64_t i = i0; i < i1; ++i) {
          T* drow = d + i * a_dst;
          const T* scol = s + i;
          for (int64_t j = j0; j < j1; ++j) drow[j] = scol[j * b_src];
        }
      }
    }
  });
}

// n runs of kLen contiguous elements, the runs `d_step` / `s_step` apart.
template <typename T, int kLen>
void copy_short_runs(T* d, int64_t d_step, const T* s, int64_t s_step, int64_t n) {
  for (int64_t j = 0; j < n; ++j, d += d_step, s += s_step) {
    for (int i = 0; i < kLen; ++i) d[i] = s[i];
  }
}

template <typename T>
void copy_runs(const KernelContext& ctx, const StridedLoop& loop, T* dst, const T* src) {
  const int64_t inner = loop.inner(), ds = loop.inner_stride(0), ss = loop.inner_stride(1);
  if (ds == 1 && ss != 1 && inner > 1) {
    const std::vector<int64_t>& outer_src = loop.outer_strides(1);
    for (size_t p = 0; p < outer_src.size(); ++p) {
      if (outer_src[p] == 1 && loop.outer_dims()[p] > 1) return transpose_runs(ctx, loop, p, dst, src);
    }
  }
  constexpr int64_t kChunk = 16384;  // elements: long contiguous runs (a Concat's planes) are split between threads
  if (ds == 1 && ss == 1 && inner > 2 * kChunk) {
    const int64_t chunks = (inner + kChunk - 1) / kChunk;
    ctx.parallel_for(loop.rows() * chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const RowWalker at(loop.outer_dims(), loop.outer_strides(0), loop.outer_strides(1), u / chunks);
        const int64_t i0 = (u % chunks) * kChunk, i1 = std::min(inner, i0 + kChunk);
        std::memcpy(dst + at.off0() + i0, src + at.off1() + i0, static_cast<size_t>(i1 - i0) * sizeof(T));
      }
    });
    return;
  }
  const Shape& od = loop.outer_dims();
  if (ds == 1 && ss == 1 && inner <= 4 && !od.empty()) {
    // Runs of 1-4 elements (MobileViT's 2x2 patch unfolding): the innermost outer dim is walked
    // in a tight loop with a compile-time run length, the odometer only once per pass over it.
    const int64_t n = od.back(), d_step = loop.outer_strides(0).back(), s_step = loop.outer_strides(1).back();
    const Shape rest(od.begin(), od.end() - 1);
    const std::vector<int64_t> rd(loop.outer_strides(0).begin(), loop.outer_strides(0).end() - 1);
    const std::vector<int64_t> rs(loop.outer_strides(1).begin(), loop.outer_strides(1).end() - 1);
    ctx.parallel_for(numel(rest), std::max<int64_t>(1, 8192 / (n * inner)), [&](int64_t begin, int64_t end) {
      RowWalker at(rest, rd, rs, begin);
      for (int64_t q = begin; q < end; ++q, at.next()) {
        T* d = dst + at.off0();
        const T* s = src + at.off1();
        switch (inner) {
          case 1: copy_short_runs<T, 1>(d, d_step, s, s_step, n); break;
          case 2: copy_short_runs<T, 2>(d, d_step, s, s_step, n); break;
          case 3: copy_short_runs<T, 3>(d, d_step, s, s_step, n); break;
          default: copy_short_runs<T, 4>(d, d_step, s, s_step, n); break;
        }
      }
    });
    return;
  }
  ctx.parallel_for(loop.rows(), std::max<int64_t>(1, 8192 / std::max<int64_t>(inner, 1)),
                   [&](int64_t begin, int64_t end) {
    RowWalker at(loop.outer_dims(), loop.outer_strides(0), loop.outer_strides(1), begin);
    for (int64_t r = begin; r < end; ++r, at.next()) {
      T* d = dst + at.off0();
      const T* s = src + at.off1();
      if (ds == 1 && ss == 1) {
        if (inner <= 4) {
          for (int64_t i = 0; i < inner; ++i) d[i] = s[i];
        } else {
          std::memcpy(d, s, static_cast<size_t>(inner) * sizeof(T));
        }
      } else {
        for (int64_t i = 0; i < inner; ++i) d[i * ds] = s[i * ss];
      }
    }
  });
}

}  // namespace

void strided_copy(const KernelContext& ctx, const Shape& domain, Layout layout, size_t elem_size, void* dst,
                  std::vector<int64_t> d_strides, int64_t d_base, const void* src,
                  std::vector<int64_t> s_strides, int64_t s_base) {
  const StridedLoop loop(domain, layout, {std::move(d_strides), std::move(s_strides)});
  switch (elem_size) {
    case 1: return copy_runs(ctx, loop, static_cast<uint8_t*>(dst) + d_base, static_cast<const uint8_t*>(src) + s_base);
    case 2: return copy_runs(ctx, loop, static_cast<uint16_t*>(dst) + d_base, static_cast<const uint16_t*>(src) + s_base);
    case 4: return copy_runs(ctx, loop, static_cast<uint32_t*>(dst) + d_base, static_cast<const uint32_t*>(src) + s_base);
    case 8: return copy_runs(ctx, loop, static_cast<uint64_t*>(dst) + d_base, static_cast<const uint64_t*>(src) + s_base);
    default: fail(ctx.attrs.owner(), ": cannot copy elements of ", elem_size, " bytes");
  }
}

void copy_tensor(const KernelContext& ctx, const TensorRef& src, const TensorRef& dst) {
  SLIM_CHECK(src.shape == dst.shape && src.dtype == dst.dtype, ctx.attrs.owner(), ": copy between ",
             shape_str(src.shape), " and ", shape_str(dst.shape));
  if (src.layout == dst.layout || src.rank() != 4) {
    if (dst.data != src.data) std::memcpy(dst.data, src.data, dst.bytes());
    return;
  }
  strided_copy(ctx, dst.shape, dst.layout, dtype_size(dst.dtype), dst.data, logical_strides(dst.shape, dst.layout),
               0, src.data, logical_strides(src.shape, src.layout), 0);
}

void run_nhwc(const KernelContext& ctx, const TensorRef& x, const TensorRef& y,
              const std::function<void(const float* x_nhwc, float* y_nhwc)>& fn) {
  if (x.layout == Layout::kNhwc && y.layout == Layout::kNhwc) return fn(x.ptr<const float>(), y.ptr<float>());
  std::shared_ptr<void> x_copy, y_copy;
  TensorRef xn = x, yn = y;
  if (x.layout != Layout::kNhwc) {
    x_copy = aligned_buffer(x.bytes());
    xn = TensorRef{x_copy.get(), x.dtype, x.shape, Layout::kNhwc};
    convert_layout(x, xn, ctx.pool);
  }
  if (y.layout != Layout::kNhwc) {
    y_copy = aligned_buffer(y.bytes());
    yn = TensorRef{y_copy.get(), y.dtype, y.shape, Layout::kNhwc};
  }
  fn(xn.ptr<const float>(), yn.ptr<float>());
  if (y_copy) convert_layout(yn, y, ctx.pool);
}

void split_gemm_cols(const KernelContext& ctx, const kernels::F32GemmKernel& kernel, int64_t n,
                     const std::function<void(kernels::Range cols)>& fn) {
  const int64_t nr = kernel.tile_cols;
  ctx.parallel_for((n + nr - 1) / nr, 1, [&](int64_t b, int64_t e) { fn({b * nr, std::min(n, e * nr)}); });
}

void split_gemm_rows(const KernelContext& ctx, const kernels::F32GemmKernel& kernel, int64_t m,
                     const std::function<void(kernels::Range rows)>& fn) {
  const int64_t tile = kernel.tile_rows;
  const int64_t tiles = (m + tile - 1) / tile;
  ctx.parallel_for(tiles, 1, [&](int64_t b, int64_t e) { fn({b * tile, std::min(m, e * tile)}); });
}

}  // namespace slim
