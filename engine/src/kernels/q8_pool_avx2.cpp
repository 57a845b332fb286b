// q8_maxpool and q8_gavgpool for AVX2, compiled with this ISA's flags (CMakeLists.txt).
#include "kernels/simd/avx2.h"
#include "kernels/q8_pool.h"

namespace slim::kernels {

const Q8MaxPoolKernel q8_maxpool_32c_avx2 = q8_maxpool_kernel<Q8Avx2>("q8_maxpool_32c_avx2");
const Q8GlobalAvgPoolKernel q8_gavgpool_32c_avx2 = q8_gavgpool_kernel<Q8Avx2>("q8_gavgpool_32c_avx2");

}  // namespace slim::kernels
