// The pooling kernels for AVX2 + FMA, compiled with this ISA's flags (CMakeLists.txt); runs only when
// kernel_config() selects it.
#include "kernels/simd/avx2.h"
#include "kernels/f32_pool.h"

namespace slim::kernels {

const F32MaxPoolKernel f32_maxpool_8c_avx2 = maxpool_kernel<VAvx2>("f32_maxpool_8c_avx2");
const F32AvgPoolKernel f32_avgpool_8c_avx2 = avgpool_kernel<VAvx2>("f32_avgpool_8c_avx2");
const F32GlobalAvgPoolKernel f32_gavgpool_32c_avx2 = gavgpool_kernel<VAvx2>("f32_gavgpool_32c_avx2");
const F32GlobalMaxPoolKernel f32_gmaxpool_32c_avx2 = gmaxpool_kernel<VAvx2>("f32_gmaxpool_32c_avx2");

}  // namespace slim::kernels
