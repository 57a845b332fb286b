// ReduceMean/Sum/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp over any axes, keepdims, axes as
// attribute (older opsets) or input (ReduceSum 13+, all 18+). Layout
// agnostic: each output element walks its reduced sub-domain by logical strides.
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

template <Reduce R>
void reduce_kernel(const KernelContext& ctx) {
  const TensorRef &x = ctx.inputs[0], &y = ctx.outputs[0];
  InferContext ictx(ctx.attrs, present_inputs(ctx), 1);
  const ReducePlan p = reduce_plan(ictx);
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

OpDef reduce_def(const char* type, KernelFn fn) {
  return OpDef(type)
      .dtypes({DType::kFloat32})
      .inputs(1, 2)
      .outputs(1)
      .layout(LayoutPolicy::kAgnostic)
      .infer(infer_reduce)
      .kernel(std::move(fn));
}

}  // namespace
}  // namespace slim

DEFINE_OP(ReduceMean) { return reduce_def("ReduceMean", reduce_kernel<Reduce::kMean>); }
DEFINE_OP(ReduceSum) { return reduce_def("ReduceSum", reduce_kernel<Reduce::kSum>); }
DEFINE_OP(ReduceMax) { return reduce_def("ReduceMax", reduce_kernel<Reduce::kMax>); }
DEFINE_OP(ReduceMin) { return reduce_def("ReduceMin", reduce_kernel<Reduce::kMin>); }
DEFINE_OP(ReduceProd) { return reduce_def("ReduceProd", reduce_kernel<Reduce::kProd>); }
DEFINE_OP(ReduceL2) { return reduce_def("ReduceL2", reduce_kernel<Reduce::kL2>); }
DEFINE_OP(ReduceL1) { return reduce_def("ReduceL1", reduce_kernel<Reduce::kL1>); }
DEFINE_OP(ReduceLogSum) { return reduce_def("ReduceLogSum", reduce_kernel<Reduce::kLogSum>); }
DEFINE_OP(ReduceLogSumExp) {
  return reduce_def("ReduceLogSumExp", reduce_kernel<Reduce::kLogSumExp>);
}
DEFINE_OP(ReduceSumSquare) {
  return reduce_def("ReduceSumSquare", reduce_kernel<Reduce::kSumSquare>);
}
