// Builds the KernelTable of one ISA from the generic templates. Included once
// by each per-ISA translation unit, after its traits header.
#pragma once

#include "kernels/depthwise_impl.h"
#include "kernels/dispatch.h"
#include "kernels/gemm_impl.h"
#include "kernels/pool_impl.h"
#include "kernels/simd_math.h"

namespace slim::kernels {

template <class V>
KernelTable make_kernel_table(Isa isa) {
  return KernelTable{
      isa,
      V::kGemmMR,
      V::kGemmNV * V::kWidth,
      &activate_buffer<V>,
      &sgemm_packed_impl<V>,
      &depthwise_impl<V>,
      &max_pool_impl<V>,
      &avg_pool_impl<V>,
      &global_avg_pool_impl<V>,
  };
}

}  // namespace slim::kernels
