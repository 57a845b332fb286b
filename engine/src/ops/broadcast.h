// Broadcasting elementwise machinery shared by arithmetic, comparison, logical ops and PRelu.
#pragma once

#include <algorithm>

#include "ops/common.h"

namespace slim {

// Infers numpy-broadcast output of all present inputs with dtype `out`.
void infer_broadcast(InferContext& ctx, DType out, size_t first_input = 0);

// y = f(a, b) elementwise with numpy broadcasting; inputs and output in any layout.
template <typename A, typename B, typename Y, typename F>
void broadcast_binary(const KernelContext& ctx, const TensorRef& ta, const TensorRef& tb, const TensorRef& ty, F f) {
  const int rank = ty.rank();
  const StridedLoop loop(ty.shape, ty.layout,
                         {logical_strides(ty.shape, ty.layout), broadcast_strides(ta, rank), broadcast_strides(tb, rank)});
  const A* a = ta.ptr<const A>();
  const B* b = tb.ptr<const B>();
  Y* y = ty.ptr<Y>();
  const int64_t inner = loop.inner(), sy = loop.inner_stride(0), sa = loop.inner_stride(1), sb = loop.inner_stride(2);
  ctx.parallel_for(loop.rows(), std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                   [&](int64_t begin, int64_t end) {
    int64_t off[3];
    for (int64_t r = begin; r < end; ++r) {
      loop.offsets(r, off);
      Y* yr = y + off[0];
      const A* ar = a + off[1];
      const B* br = b + off[2];
      // Unit/zero strides get their own loops so the compiler can vectorize them.
      if (sy == 1 && sa == 1 && sb == 1) {
        for (int64_t i = 0; i < inner; ++i) yr[i] = f(ar[i], br[i]);
      } else if (sy == 1 && sa == 1 && sb == 0) {
        const B bv = br[0];
        for (int64_t i = 0; i < inner; ++i) yr[i] = f(ar[i], bv);
      } else if (sy == 1 && sa == 0 && sb == 1) {
        const A av = ar[0];
        for (int64_t i = 0; i < inner; ++i) yr[i] = f(av, br[i]);
      } else {
        for (int64_t i = 0; i < inner; ++i) yr[i * sy] = f(ar[i * sa], br[i * sb]);
      }
    }
  });
}

}  // namespace slim
