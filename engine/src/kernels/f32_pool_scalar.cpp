// The pooling kernels for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/f32_pool.h"

namespace slim::kernels {

const F32MaxPoolKernel f32_maxpool_1c_scalar = maxpool_kernel<VScalar>("f32_maxpool_1c_scalar");
const F32AvgPoolKernel f32_avgpool_1c_scalar = avgpool_kernel<VScalar>("f32_avgpool_1c_scalar");
const F32GlobalAvgPoolKernel f32_gavgpool_4c_scalar = gavgpool_kernel<VScalar>("f32_gavgpool_4c_scalar");
const F32GlobalMaxPoolKernel f32_gmaxpool_4c_scalar = gmaxpool_kernel<VScalar>("f32_gmaxpool_4c_scalar");

}  // namespace slim::kernels
