// ReduceMean/Sum/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp over any axes, keepdims, axes as
// attribute (older opsets) or input (ReduceSum 13+, all 18+). Layout
// agnostic: each output element walks its reduced sub-domain by logical strides.
// ReduceMean and ReduceMax over axes that are one run in memory (a squeeze-
// excite's spatial mean on NHWC, a mean over the last axis) go to the global
// pooling kernels instead: [outer, reduced, inner] is their [N, pixels, C].
#include <cmath>
#include <limits>

#include "ops/common.h"

namespace slim {
namespace {

struct ReducePlan {
  Shape out;                    // with or without kept dims, as ONNX says
  std::vector<bool> reduced;    // per input axis
};

ReducePlan reduce_plan(const InferContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  std::vector<int> axes = read_axes(ctx, 1, rank);
  ReducePlan p;
  p.reduced.assign(rank, false);
  if (axes.empty()) {
    if (ctx.attrs().get_int("noop_with_empty_axes", 0) != 0) {
      p.out = in;
      return p;
    }
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  }
  for (int a : axes) p.reduced[a] = true;
  const bool keep = ctx.attrs().get_int("keepdims", 1) != 0;
  for (int i = 0; i < rank; ++i) {
    if (!p.reduced[i]) p.out.push_back(in[i]);
    else if (keep) p.out.push_back(1);
  }
  return p;
}

void infer_reduce(InferContext& ctx) {
  const ReducePlan p = reduce_plan(ctx);
  ctx.set_output(0, ctx.input_dtype(0), p.out);
}

enum class Reduce { kMean, kSum, kMax, kMin, kProd, kL2, kSumSquare, kL1, kLogSum, kLogSumExp };

struct ReduceState {
  const kernels::F32GlobalAvgPoolKernel* mean = nullptr;
  const kernels::F32GlobalMaxPoolKernel* max = nullptr;
};

template <Reduce R>
std::shared_ptr<void> prepare_reduce(PrepareContext& ctx) {
  auto st = std::make_shared<ReduceState>();
  if (R == Reduce::kMean) st->mean = ctx.use(ctx.kernels.f32_gavgpool);
  if (R == Reduce::kMax) st->max = ctx.use(ctx.kernels.f32_gmaxpool);
  return st;
}

// x seen as [outer, reduced, inner] in its memory order, with y as [outer,
// inner] in its own: possible when the reduced axes are one run in x's memory
// order and the kept axes keep their order and density in y's.
struct ReduceRuns {
  int64_t outer = 1, reduced = 1, inner = 1;
};

bool reduce_runs(const TensorRef& x, const TensorRef& y, const std::vector<bool>& reduced, ReduceRuns& runs) {
  const int rank = x.rank();
  const std::vector<int> order = memory_order(rank, x.layout);
  const auto ys = logical_strides(y.shape, y.layout);
  const bool keepdims = y.rank() == rank;
  // y's stride for each kept input axis (its index in y skips reduced axes without keepdims).
  std::vector<int64_t> y_stride(static_cast<size_t>(rank), 0);
  for (int d = 0, yi = 0; d < rank; ++d) {
    if (!reduced[d]) y_stride[d] = ys[yi++];
    else if (keepdims) ++yi;
  }
  int phase = 0;  // 0: outer kept axes, 1: reduced run, 2: inner kept axes
  std::vector<int> kept;
  for (int d : order) {
    if (x.shape[d] == 1) continue;
    if (reduced[d]) {
      if (phase == 2) return false;
      phase = 1;
      runs.reduced *= x.shape[d];
    } else {
      if (phase == 1) phase = 2;
      (phase == 0 ? runs.outer : runs.inner) *= x.shape[d];
      kept.push_back(d);
    }
  }
  // The kept axes, innermost first, must be dense in y in the same order.
  int64_t want = 1;
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
    if (y_stride[*it] != want) return false;
    want *= x.shape[*it];
  }
  return true;
}

template <Reduce R>
bool reduce_with_pool(const KernelContext& ctx, const std::vector<bool>& reduced) {
  if constexpr (R != Reduce::kMean && R != Reduce::kMax) {
    return false;
  } else {
    if (ctx.prepared == nullptr) return false;
    const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
    ReduceRuns r;
    if (x.numel() == 0 || !reduce_runs(x, y, reduced, r)) return false;
    const ReduceState& st = ctx.state<ReduceState>();
    const float* xp = x.ptr<const float>();
    float* yp = y.ptr<float>();
    const auto pool = [&](int64_t batch, const float* in, float* out, kernels::Range channels) {
      if constexpr (R == Reduce::kMean) kernels::global_avg_pool(*st.mean, batch, r.reduced, r.inner, in, out, channels);
      else kernels::global_max_pool(*st.max, batch, r.reduced, r.inner, in, out, channels);
    };
    if (r.inner > 1) {
      // Threads split the channels, so a batch of one still runs in parallel.
      ctx.parallel_for(r.inner, 64, [&](int64_t b, int64_t e) { pool(r.outer, xp, yp, {b, e}); });
    } else {
      ctx.parallel_for(r.outer, std::max<int64_t>(1, 4096 / r.reduced), [&](int64_t b, int64_t e) {
        pool(e - b, xp + b * r.reduced, yp + b, {0, 1});
      });
    }
    return true;
  }
}

template <Reduce R>
void reduce_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  InferContext ictx(ctx.attrs, present_inputs(ctx), 1);
  const ReducePlan p = reduce_plan(ictx);
  if (reduce_with_pool<R>(ctx, p.reduced)) return;
  const int rank = x.rank();
  const auto xs = logical_strides(x.shape, x.layout);
  // Kept dims map to output dims in order; reduced dims form the inner domain.
  Shape kept_shape, red_shape;
  std::vector<int64_t> kept_x, red_x;
  for (int d = 0; d < rank; ++d) {
    if (p.reduced[d]) {
      red_shape.push_back(x.shape[d]);
      red_x.push_back(xs[d]);
    } else {
      kept_shape.push_back(x.shape[d]);
      kept_x.push_back(xs[d]);
    }
  }
  // Output strides for the kept dims (skipping kept size-1 dims of keepdims).
  const auto ys = logical_strides(y.shape, y.layout);
  std::vector<int64_t> kept_y;
  {
    size_t yi = 0;
    for (int d = 0; d < rank; ++d) {
      if (p.reduced[d]) {
        if (y.rank() == rank) ++yi;
        continue;
      }
      kept_y.push_back(ys[yi++]);
    }
  }
  const int64_t red_n = numel(red_shape), kept_n = numel(kept_shape);
  const float* xp = x.ptr<const float>();
  float* yp = y.ptr<float>();
  ctx.parallel_for(kept_n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      int64_t rest = o, xo = 0, yo = 0;
      for (int k = static_cast<int>(kept_shape.size()) - 1; k >= 0; --k) {
        const int64_t c = rest % kept_shape[k];
        rest /= kept_shape[k];
        xo += c * kept_x[k];
        yo += c * kept_y[k];
      }
      double acc = R == Reduce::kMax ? -std::numeric_limits<double>::infinity()
                   : R == Reduce::kMin ? std::numeric_limits<double>::infinity()
                   : R == Reduce::kProd ? 1.0 : 0.0;
      for (int64_t i = 0; i < red_n; ++i) {
        int64_t r2 = i, off = xo;
        for (int k = static_cast<int>(red_shape.size()) - 1; k >= 0; --k) {
          off += (r2 % red_shape[k]) * red_x[k];
          r2 /= red_shape[k];
        }
        const double v = xp[off];
        if constexpr (R == Reduce::kMax) acc = (v > acc || v != v) ? v : acc;
        else if constexpr (R == Reduce::kMin) acc = (v < acc || v != v) ? v : acc;
        else if constexpr (R == Reduce::kProd) acc *= v;
        else if constexpr (R == Reduce::kL2 || R == Reduce::kSumSquare) acc += v * v;
        else if constexpr (R == Reduce::kL1) acc += std::fabs(v);
        else if constexpr (R == Reduce::kLogSumExp) acc += std::exp(v);
        else acc += v;
      }
      if (R == Reduce::kMean) acc /= static_cast<double>(red_n);
      if (R == Reduce::kL2) acc = std::sqrt(acc);
      if (R == Reduce::kLogSum || R == Reduce::kLogSumExp) acc = std::log(acc);
      yp[yo] = static_cast<float>(acc);
    }
  });
}

template <Reduce R>
OpDef reduce_def(const char* type) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(1, 2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_reduce)
      .prepare(prepare_reduce<R>)
      .kernel(reduce_kernel<R>);
}

}  // namespace
}  // namespace slim

DEFINE_OP(ReduceMean) { return reduce_def<Reduce::kMean>("ReduceMean"); }
DEFINE_OP(ReduceSum) { return reduce_def<Reduce::kSum>("ReduceSum"); }
DEFINE_OP(ReduceMax) { return reduce_def<Reduce::kMax>("ReduceMax"); }
DEFINE_OP(ReduceMin) { return reduce_def<Reduce::kMin>("ReduceMin"); }
DEFINE_OP(ReduceProd) { return reduce_def<Reduce::kProd>("ReduceProd"); }
DEFINE_OP(ReduceL2) { return reduce_def<Reduce::kL2>("ReduceL2"); }
DEFINE_OP(ReduceL1) { return reduce_def<Reduce::kL1>("ReduceL1"); }
DEFINE_OP(ReduceLogSum) { return reduce_def<Reduce::kLogSum>("ReduceLogSum"); }
DEFINE_OP(ReduceLogSumExp) {
  return reduce_def<Reduce::kLogSumExp>("ReduceLogSumExp");
}
DEFINE_OP(ReduceSumSquare) {
  return reduce_def<Reduce::kSumSquare>("ReduceSumSquare");
}
