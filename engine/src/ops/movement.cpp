// Data movement that keeps the rank: Concat, Split, Slice, Transpose, Expand,
// Tile, Pad, DepthToSpace, SpaceToDepth, plus Gather. All go through logical
// strides (common.h), so they run in plain and NHWC layouts alike; a channel
// Concat of NHWC tensors is a series of contiguous row copies.
#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/aligned.h"
#include "ops/common.h"

namespace slim {
namespace {

std::vector<int64_t> strides_of(const TensorRef& t) { return logical_strides(t.shape, t.layout); }

// ---- Concat ---------------------------------------------------------------
void infer_concat(InferContext& ctx) {
  const Shape& first = ctx.input_shape(0);
  const int rank = static_cast<int>(first.size());
  const int axis = normalize_axis(ctx.attrs().get_int("axis"), rank, "axis");
  Shape out = first;
  out[axis] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape& s = ctx.input_shape(i);
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) ctx.error("inputs have different dtypes");
    if (static_cast<int>(s.size()) != rank) ctx.error("input ", i, " has rank ", s.size(), ", expected ", rank);
    for (int d = 0; d < rank; ++d)
      if (d != axis && s[d] != first[d])
        ctx.error("input ", i, " shape ", shape_str(s), " does not match ", shape_str(first), " off axis ", axis);
    out[axis] = add_dims(ctx.attrs().owner(), "concatenated axis", out[axis], s[axis]);
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
}

void concat_kernel(const KernelContext& ctx) {
  const TensorRef& y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int axis = normalize_axis(ctx.attrs.get_int("axis"), y.rank(), "axis");
  const auto ys = strides_of(y);
  int64_t offset = 0;
  for (const TensorRef& x : ctx.inputs) {
    strided_copy(ctx, x.shape, y.layout, dtype_size(y.dtype), y.data, ys, offset * ys[axis], x.data, strides_of(x), 0);
    offset += x.shape[axis];
  }
}

// ---- Split ----------------------------------------------------------------
std::vector<int64_t> split_sizes(const Attributes& a, const TensorRef* split_input, int64_t dim, size_t outputs,
                                 const std::string& owner) {
  std::vector<int64_t> sizes;
  if (split_input != nullptr) sizes = int_values(*split_input, owner, "split");
  else sizes = a.get_ints("split", {});
  if (sizes.empty()) {
    // Equal parts; opset 18's num_outputs allows a smaller last part.
    const int64_t n = static_cast<int64_t>(outputs);
    const int64_t part = (dim + n - 1) / n;
    SLIM_CHECK(a.has("num_outputs") || dim % n == 0, owner, ": axis size ", dim, " is not divisible into ", n,
               " outputs");
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::max<int64_t>(0, std::min(part, dim - i * part)));
  }
  SLIM_CHECK(sizes.size() == outputs, owner, ": split has ", sizes.size(), " sizes for ", outputs, " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) {
    SLIM_CHECK(s >= 0 && s <= dim, owner, ": split size ", s, " is out of range for an axis of ", dim);
    total += s;  // each <= dim <= 2^40, at most 2^20 of them: no overflow
  }
  SLIM_CHECK(total == dim, owner, ": split sizes sum to ", total, " but the axis has ", dim);
  return sizes;
}

void infer_split(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const int axis = normalize_axis(ctx.attrs().get_int("axis", 0), static_cast<int>(in.size()), "axis");
  const TensorRef* split = ctx.has_input(1) ? ctx.input_value(1) : nullptr;
  if (ctx.has_input(1) && split == nullptr) ctx.error("split (input 1) must be known when the graph is planned");
  const auto sizes = split_sizes(ctx.attrs(), split, in[axis], ctx.num_outputs(), ctx.attrs().owner());
  for (size_t o = 0; o < sizes.size(); ++o) {
    Shape s = in;
    s[axis] = sizes[o];
    ctx.set_output(o, ctx.input_dtype(0), s);
  }
}

void split_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  const int axis = normalize_axis(ctx.attrs.get_int("axis", 0), x.rank(), "axis");
  const auto xs = strides_of(x);
  int64_t offset = 0;
  for (const TensorRef& y : ctx.outputs) {
    strided_copy(ctx, y.shape, y.layout, dtype_size(y.dtype), y.data, strides_of(y), 0, x.data, xs,
                 offset * xs[axis]);
    offset += y.shape[axis];
  }
}

// ---- Slice ----------------------------------------------------------------
struct SliceSpec {
  Shape out;
  std::vector<int64_t> start, step;
};

SliceSpec slice_spec(const InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  const auto starts = known_int_input(ctx, 1, "starts");
  const auto ends = known_int_input(ctx, 2, "ends");
  if (starts.size() != ends.size()) ctx.error("starts and ends have different lengths");
  std::vector<int64_t> axes(starts.size());
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  if (ctx.has_input(3)) axes = known_int_input(ctx, 3, "axes");
  std::vector<int64_t> steps(starts.size(), 1);
  if (ctx.has_input(4)) steps = known_int_input(ctx, 4, "steps");
  if (axes.size() != starts.size() || steps.size() != starts.size())
    ctx.error("starts, ends, axes and steps must have one length");
  SliceSpec s{in, std::vector<int64_t>(rank, 0), std::vector<int64_t>(rank, 1)};
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    if (axes[i] < -rank || axes[i] >= rank) ctx.error("axis ", axes[i], " is out of range for rank ", rank);
    const int a = static_cast<int>(axes[i] < 0 ? axes[i] + rank : axes[i]);
    if (seen[a]) ctx.error("axis ", axes[i], " is repeated");
    seen[a] = true;
    const int64_t dim = in[a], step = steps[i];
    if (step == 0) ctx.error("steps must not be 0");
    // starts/ends are clamped below, so adding a dim (< 2^40) to a negative one cannot overflow.
    int64_t b = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    // Clamp as ONNX does: [0, dim] for positive steps, [-1, dim - 1] for negative ones.
    // Counted as 1 + (span - 1) / |step|: steps reach +-2^63, spans do not.
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      s.out[a] = e > b ? 1 + (e - b - 1) / step : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      s.out[a] = b > e ? 1 + (b - e - 1) / -std::max(step, -kMaxElements) : 0;
    }
    s.start[a] = s.out[a] > 0 ? b : 0;
    // A step matters only between two taken elements, so it is then below the
    // dim and stride * step stays inside the tensor's extent.
    s.step[a] = s.out[a] > 1 ? step : 1;
  }
  return s;
}

void infer_slice(InferContext& ctx) { ctx.set_output(0, ctx.input_dtype(0), slice_spec(ctx).out); }

void slice_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  InferContext ictx(ctx.attrs, present_inputs(ctx), 1);
  const SliceSpec s = slice_spec(ictx);
  auto xs = strides_of(x);
  int64_t base = 0;
  for (int d = 0; d < x.rank(); ++d) {
    base += s.start[d] * xs[d];
    xs[d] *= s.step[d];
  }
  if (y.numel() == 0) return;
  strided_copy(ctx, y.shape, y.layout, dtype_size(y.dtype), y.data, strides_of(y), 0, x.data, xs, base);
}

// ---- Transpose ------------------------------------------------------------
std::vector<int64_t> transpose_perm(const Attributes& a, int rank) {
  std::vector<int64_t> perm = a.get_ints("perm", {});
  if (perm.empty())
    for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
  SLIM_CHECK(static_cast<int>(perm.size()) == rank, a.owner(), ": perm has ", perm.size(), " entries for rank ", rank);
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    SLIM_CHECK(p >= -rank && p < rank, a.owner(), ": perm entry ", p, " is out of range");
    if (p < 0) p += rank;
    SLIM_CHECK(!seen[p], a.owner(), ": perm repeats axis ", p);
    seen[p] = true;
  }
  return perm;
}

void infer_transpose(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const auto perm = transpose_perm(ctx.attrs(), static_cast<int>(in.size()));
  Shape out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[perm[i]];
  ctx.set_output(0, ctx.input_dtype(0), out);
}

void transpose_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  const auto perm = transpose_perm(ctx.attrs, x.rank());
  const auto xs = strides_of(x);
  std::vector<int64_t> src(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) src[i] = xs[perm[i]];
  strided_copy(ctx, y.shape, y.layout, dtype_size(y.dtype), y.data, strides_of(y), 0, x.data, src, 0);
}

// ---- Expand / Tile --------------------------------------------------------
// A target shape computed at run time makes the output dynamic (its shape read on every run).
Shape expanded_shape(const Shape& x, const TensorRef& shape, const std::string& owner) {
  const Shape out = broadcast_shapes(x, int_values(shape, owner, "shape"), owner);
  int64_t n = 0;
  SLIM_CHECK(checked_numel(out, kMaxElements, &n), owner, ": shape ", shape_str(out), " is too large");
  return out;
}

void infer_expand(InferContext& ctx) {
  if (ctx.input_value(1) == nullptr) return ctx.set_output_dynamic(0, ctx.input_dtype(0));
  ctx.set_output(0, ctx.input_dtype(0), expanded_shape(ctx.input_shape(0), *ctx.input_value(1), ctx.attrs().owner()));
}

void expand_kernel(const KernelContext& ctx) {
  const TensorRef& x = ctx.inputs[0];
  const TensorRef y = ctx.output_dynamic(0)
                          ? ctx.allocate_output(0, expanded_shape(x.shape, ctx.inputs[1], ctx.attrs.owner()))
                          : ctx.outputs[0];
  if (y.numel() == 0) return;
  strided_copy(ctx, y.shape, y.layout, dtype_size(y.dtype), y.data, strides_of(y), 0, x.data,
               broadcast_strides(x, y.rank()), 0);
}

void infer_tile(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const auto reps = known_int_input(ctx, 1, "repeats");
  if (reps.size() != in.size()) ctx.error("repeats has ", reps.size(), " values for rank ", in.size());
  Shape out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (reps[i] < 0) ctx.error("repeats must be >= 0");
    out[i] = mul_dims(ctx.attrs().owner(), "tiled dim", in[i], reps[i]);
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
}

void tile_kernel(const KernelContext& ctx) {
  // One strided copy per tile: each tile is the whole input at a shifted origin.
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int rank = x.rank();
  const auto ys = strides_of(y), xs = strides_of(x);
  Shape reps(rank);
  for (int d = 0; d < rank; ++d) reps[d] = x.shape[d] == 0 ? 0 : y.shape[d] / x.shape[d];
  const int64_t tiles = numel(reps);
  for (int64_t t = 0; t < tiles; ++t) {
    int64_t rest = t, base = 0;
    for (int d = rank - 1; d >= 0; --d) {
      base += (rest % reps[d]) * x.shape[d] * ys[d];
      rest /= reps[d];
    }
    strided_copy(ctx, x.shape, y.layout, dtype_size(y.dtype), y.data, ys, base, x.data, xs, 0);
  }
}

// ---- Pad ------------------------------------------------------------------
struct PadSpec {
  std::vector<int64_t> begin, end;
  std::string mode;
};

PadSpec pad_spec(const InferContext& ctx) {
  const int rank = static_cast<int>(ctx.input_shape(0).size());
  PadSpec p;
  p.mode = enum_attr(ctx.attrs(), "mode", "constant", {"constant", "reflect", "edge"});
  const auto pads = ctx.has_input(1) ? known_int_input(ctx, 1, "pads") : ctx.attrs().get_ints("pads");
  std::vector<int64_t> axes;
  if (ctx.has_input(3)) {
    for (int64_t a : known_int_input(ctx, 3, "axes")) {
      if (a < -rank || a >= rank) ctx.error("axis ", a, " is out of range for rank ", rank);
      axes.push_back(a < 0 ? a + rank : a);
    }
  } else {
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  }
  if (pads.size() != 2 * axes.size()) ctx.error("pads has ", pads.size(), " values, expected ", 2 * axes.size());
  p.begin.assign(rank, 0);
  p.end.assign(rank, 0);
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    if (seen[axes[i]]) ctx.error("axis ", axes[i], " is repeated");
    seen[axes[i]] = true;
    p.begin[axes[i]] = pads[i];
    p.end[axes[i]] = pads[i + axes.size()];
  }
  return p;
}

void infer_pad(InferContext& ctx) {
  const PadSpec p = pad_spec(ctx);
  Shape out = ctx.input_shape(0);
  const std::string& owner = ctx.attrs().owner();
  for (size_t d = 0; d < out.size(); ++d) {
    if (p.begin[d] < -kMaxElements || p.begin[d] > kMaxElements || p.end[d] < -kMaxElements || p.end[d] > kMaxElements)
      ctx.error("pads (", p.begin[d], ", ", p.end[d], ") on axis ", d, " are out of range");
    out[d] = add_dims(owner, "padded axis", add_dims(owner, "padded axis", out[d], p.begin[d]), p.end[d]);
    if (out[d] < 0) ctx.error("pads make axis ", d, " negative");
    if (p.mode != "constant" && ctx.input_shape(0)[d] == 0 && out[d] > 0)
      ctx.error("mode ", p.mode, " cannot pad an empty axis");
    // Reflection mirrors once: a pad must stay inside the axis it mirrors.
    if (p.mode == "reflect" && (p.begin[d] >= ctx.input_shape(0)[d] || p.end[d] >= ctx.input_shape(0)[d]) &&
        (p.begin[d] > 0 || p.end[d] > 0))
      ctx.error("reflect pads must be smaller than the axis size on axis ", d);
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
}

int64_t pad_source(int64_t i, int64_t n, const std::string& mode) {
  if (i >= 0 && i < n) return i;
  if (mode == "edge") return i < 0 ? 0 : n - 1;
  if (mode == "reflect") return i < 0 ? -i : 2 * (n - 1) - i;
  return -1;
}

void pad_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  InferContext ictx(ctx.attrs, present_inputs(ctx), 1);
  const PadSpec p = pad_spec(ictx);
  const int rank = y.rank();
  if (y.numel() == 0) return;
  const auto xs = strides_of(x), ys = strides_of(y);
  dispatch_dtype(y.dtype, ctx.attrs.owner(), [&](auto z) {
    using T = decltype(z);
    T value = T(0);
    if (ctx.inputs.size() > 2 && ctx.inputs[2].data && ctx.inputs[2].numel() > 0) {
      // A value of the data's own dtype is taken as is (uint8 / int8 / bool have no scalar_value).
      if (ctx.inputs[2].dtype == y.dtype) value = ctx.inputs[2].ptr<const T>()[0];
      else value = static_cast<T>(scalar_value(ctx.inputs[2], ctx.attrs.owner(), "constant_value"));
    }
    const T* xp = x.ptr<const T>();
    T* yp = y.ptr<T>();
    const int64_t total = y.numel();
    ctx.parallel_for(total, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t e = begin; e < end; ++e) {
        int64_t rest = e, src = 0, dst = 0;
        bool inside = true;
        for (int d = rank - 1; d >= 0; --d) {
          const int64_t c = rest % y.shape[d];
          rest /= y.shape[d];
          dst += c * ys[d];
          const int64_t s = pad_source(c - p.begin[d], x.shape[d], p.mode);
          if (s < 0) inside = false; else src += s * xs[d];
        }
        yp[dst] = inside ? xp[src] : value;
      }
    });
  });
}

// ---- DepthToSpace / SpaceToDepth (6-D strided views) ----------------------
void infer_depth_to_space(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const int64_t bs = int_attr(ctx.attrs(), "blocksize", 0, 1, kMaxWindow);
  enum_attr(ctx.attrs(), "mode", "DCR", {"DCR", "CRD"});
  const std::string& owner = ctx.attrs().owner();
  if (in.size() != 4 || in[1] % (bs * bs) != 0)
    ctx.error("needs a rank-4 input with channels divisible by blocksize^2, got ", shape_str(in), " and ", bs);
  ctx.set_output(0, ctx.input_dtype(0),
                 {in[0], in[1] / (bs * bs), mul_dims(owner, "height", in[2], bs), mul_dims(owner, "width", in[3], bs)});
}

void depth_to_space_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int64_t bs = ctx.attrs.get_int("blocksize");
  const bool crd = ctx.attrs.get_string("mode", "DCR") == "CRD";
  const auto s = strides_of(x), o = strides_of(y);
  const int64_t c = y.shape[1];
  // Domain (n, c, h, i, w, j): out (n, c, h*bs+i, w*bs+j).
  const Shape domain = {x.shape[0], c, x.shape[2], bs, x.shape[3], bs};
  const std::vector<int64_t> dst = {o[0], o[1], bs * o[2], o[2], bs * o[3], o[3]};
  const std::vector<int64_t> src = crd ? std::vector<int64_t>{s[0], bs * bs * s[1], s[2], bs * s[1], s[3], s[1]}
                                       : std::vector<int64_t>{s[0], s[1], s[2], bs * c * s[1], s[3], c * s[1]};
  strided_copy(ctx, domain, Layout::kPlain, dtype_size(y.dtype), y.data, dst, 0, x.data, src, 0);
}

void infer_space_to_depth(InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const int64_t bs = int_attr(ctx.attrs(), "blocksize", 0, 1, kMaxWindow);
  if (in.size() != 4 || in[2] % bs != 0 || in[3] % bs != 0)
    ctx.error("needs a rank-4 input with H and W divisible by blocksize, got ", shape_str(in), " and ", bs);
  const int64_t c = mul_dims(ctx.attrs().owner(), "channels", mul_dims(ctx.attrs().owner(), "channels", in[1], bs), bs);
  ctx.set_output(0, ctx.input_dtype(0), {in[0], c, in[2] / bs, in[3] / bs});
}

void space_to_depth_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (y.numel() == 0) return;
  const int64_t bs = ctx.attrs.get_int("blocksize");
  const auto s = strides_of(x), o = strides_of(y);
  const int64_t c = x.shape[1];
  const Shape domain = {x.shape[0], c, y.shape[2], bs, y.shape[3], bs};
  const std::vector<int64_t> dst = {o[0], o[1], o[2], bs * c * o[1], o[3], c * o[1]};
  const std::vector<int64_t> src = {s[0], s[1], bs * s[2], s[2], bs * s[3], s[3]};
  strided_copy(ctx, domain, Layout::kPlain, dtype_size(y.dtype), y.data, dst, 0, x.data, src, 0);
}

// ---- Gather ---------------------------------------------------------------
void infer_gather(InferContext& ctx) {
  const Shape& data = ctx.input_shape(0);
  if (data.empty()) ctx.error("data must have rank >= 1");
  const int axis = normalize_axis(ctx.attrs().get_int("axis", 0), static_cast<int>(data.size()), "axis");
  if (ctx.input_dtype(1) != DType::kInt64 && ctx.input_dtype(1) != DType::kInt32)
    ctx.error("indices must be int64 or int32");
  Shape out(data.begin(), data.begin() + axis);
  for (int64_t d : ctx.input_shape(1)) out.push_back(d);
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  ctx.set_output(0, ctx.input_dtype(0), out);
}

void gather_plain(const KernelContext& ctx, const TensorRef& x, const TensorRef& y) {
  const int axis = normalize_axis(ctx.attrs.get_int("axis", 0), x.rank(), "axis");
  const auto idx = int_values(ctx.inputs[1], ctx.attrs.owner(), "indices");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
  const int64_t dim = x.shape[axis], n = static_cast<int64_t>(idx.size());
  if (y.numel() == 0) return;
  const size_t es = dtype_size(y.dtype), row = static_cast<size_t>(inner) * es;
  const auto* src = static_cast<const uint8_t*>(x.data);
  auto* dst = static_cast<uint8_t*>(y.data);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k = 0; k < n; ++k) {
      int64_t i = idx[k];
      SLIM_CHECK(i >= -dim && i < dim, ctx.attrs.owner(), ": index ", i, " is out of range for axis size ", dim);
      if (i < 0) i += dim;
      std::memcpy(dst + (o * n + k) * row, src + (o * dim + i) * row, row);
    }
  }
}

// A channel gather on NHWC (a channel shuffle, see export/passes/channel_shuffle.py):
// every pixel's channel vector is permuted; threads split the pixels.
template <typename T>
void gather_channels_nhwc(const KernelContext& ctx, const TensorRef& x, const TensorRef& y,
                          const std::vector<int64_t>& idx) {
  const int64_t pixels = x.shape[0] * x.shape[2] * x.shape[3], cin = x.shape[1];
  const int64_t cout = static_cast<int64_t>(idx.size());
  const T* src = x.ptr<const T>();
  T* dst = y.ptr<T>();
  // ShuffleNet's two-group shuffle interleaves the two halves: a loop the compiler vectorizes
  // (unpack instructions) instead of an indexed load per element.
  bool two_groups = cout == cin && cin % 2 == 0;
  for (int64_t k = 0; k < cout && two_groups; ++k) two_groups = idx[static_cast<size_t>(k)] == (k % 2) * (cin / 2) + k / 2;
  const int64_t half = cin / 2;
  std::vector<int32_t> idx32;
  if (!two_groups) idx32.assign(idx.begin(), idx.end());
  ctx.parallel_for(pixels, std::max<int64_t>(1, 4096 / std::max<int64_t>(cout, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* __restrict s = src + p * cin;  // input and output are distinct arena slots
      T* __restrict d = dst + p * cout;
      if (two_groups) {
        int64_t j = 0;
#if defined(__SSE2__)
        if constexpr (sizeof(T) == 1) {
          // uint8 codes: GCC leaves the byte interleave scalar, unpack does 16 pairs at once
          for (; j + 16 <= half; j += 16) {
            const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + j));
            const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + half + j));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * j), _mm_unpacklo_epi8(lo, hi));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * j + 16), _mm_unpackhi_epi8(lo, hi));
          }
        }
#endif
        for (; j < half; ++j) {
          d[2 * j] = s[j];
          d[2 * j + 1] = s[half + j];
        }
      } else {
        for (int64_t k = 0; k < cout; ++k) d[k] = s[idx32[static_cast<size_t>(k)]];
      }
    }
  });
}

void gather_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  if (x.layout == Layout::kPlain && y.layout == Layout::kPlain) return gather_plain(ctx, x, y);
  const int axis = normalize_axis(ctx.attrs.get_int("axis", 0), x.rank(), "axis");
  if (x.layout == Layout::kNhwc && y.layout == Layout::kNhwc && axis == 1 && ctx.inputs[1].rank() == 1 &&
      y.numel() > 0) {
    auto idx = int_values(ctx.inputs[1], ctx.attrs.owner(), "indices");
    const int64_t dim = x.shape[1];
    for (int64_t& i : idx) {
      SLIM_CHECK(i >= -dim && i < dim, ctx.attrs.owner(), ": index ", i, " is out of range for axis size ", dim);
      if (i < 0) i += dim;
    }
    switch (dtype_size(x.dtype)) {
      case 1: return gather_channels_nhwc<uint8_t>(ctx, x, y, idx);
      case 4: return gather_channels_nhwc<uint32_t>(ctx, x, y, idx);
      case 8: return gather_channels_nhwc<uint64_t>(ctx, x, y, idx);
      default: break;
    }
  }
  // Any other layout combination: through plain copies.
  std::shared_ptr<void> xb, yb;
  TensorRef xp = x, yp = y;
  if (x.layout != Layout::kPlain) {
    xb = aligned_buffer(x.bytes());
    xp = TensorRef{xb.get(), x.dtype, x.shape, Layout::kPlain};
    copy_tensor(ctx, x, xp);
  }
  if (y.layout != Layout::kPlain) {
    yb = aligned_buffer(y.bytes());
    yp = TensorRef{yb.get(), y.dtype, y.shape, Layout::kPlain};
  }
  gather_plain(ctx, xp, yp);
  if (yb) copy_tensor(ctx, yp, y);
}

OpDef agnostic_def(const char* type, int min_in, int max_in, InferFn infer, KernelFn kernel) {
  return OpDef(type)
      .dtypes(kAllTypes)
      .inputs(min_in, max_in)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(std::move(infer))
      .foldable()
      .kernel(std::move(kernel));
}

}  // namespace
}  // namespace slim

DEFINE_OP(Concat) { return agnostic_def("Concat", 1, 1 << 20, infer_concat, concat_kernel); }
DEFINE_OP(Split) {
  return agnostic_def("Split", 1, 2, infer_split, split_kernel).outputs(1, 1 << 20);
}
DEFINE_OP(Slice) { return agnostic_def("Slice", 3, 5, infer_slice, slice_kernel); }
DEFINE_OP(Transpose) { return agnostic_def("Transpose", 1, 1, infer_transpose, transpose_kernel); }
DEFINE_OP(Expand) { return agnostic_def("Expand", 2, 2, infer_expand, expand_kernel); }
DEFINE_OP(Tile) { return agnostic_def("Tile", 2, 2, infer_tile, tile_kernel); }
DEFINE_OP(Pad) { return agnostic_def("Pad", 1, 4, infer_pad, pad_kernel); }
DEFINE_OP(DepthToSpace) {
  return agnostic_def("DepthToSpace", 1, 1, infer_depth_to_space, depth_to_space_kernel);
}
DEFINE_OP(SpaceToDepth) {
  return agnostic_def("SpaceToDepth", 1, 1, infer_space_to_depth, space_to_depth_kernel);
}
DEFINE_OP(Gather) {
  return agnostic_def("Gather", 2, 2, infer_gather, gather_kernel);
}
