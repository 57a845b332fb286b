// q8_maxpool and q8_gavgpool for portable C++, the references the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/q8_pool.h"

namespace slim::kernels {

const Q8MaxPoolKernel q8_maxpool_1c_scalar = q8_maxpool_kernel<Q8Scalar>("q8_maxpool_1c_scalar");
const Q8GlobalAvgPoolKernel q8_gavgpool_1c_scalar = q8_gavgpool_kernel<Q8Scalar>("q8_gavgpool_1c_scalar");

}  // namespace slim::kernels
