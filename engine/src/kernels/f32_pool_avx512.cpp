// The pooling kernels for AVX-512 F/BW/DQ/VL, compiled with this ISA's flags (CMakeLists.txt);
// runs only when kernel_config() selects it.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized through the
// deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/f32_pool.h"

namespace slim::kernels {

const F32MaxPoolKernel f32_maxpool_16c_avx512 = maxpool_kernel<VAvx512>("f32_maxpool_16c_avx512");
const F32AvgPoolKernel f32_avgpool_16c_avx512 = avgpool_kernel<VAvx512>("f32_avgpool_16c_avx512");
const F32GlobalAvgPoolKernel f32_gavgpool_64c_avx512 = gavgpool_kernel<VAvx512>("f32_gavgpool_64c_avx512");
const F32GlobalMaxPoolKernel f32_gmaxpool_64c_avx512 = gmaxpool_kernel<VAvx512>("f32_gmaxpool_64c_avx512");

}  // namespace slim::kernels
