// q8_maxpool and q8_gavgpool for AVX-512 F/BW/DQ/VL, compiled with this ISA's flags (CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized / -Wuninitialized through
// the deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/q8_pool.h"

namespace slim::kernels {

const Q8MaxPoolKernel q8_maxpool_64c_avx512 = q8_maxpool_kernel<Q8Avx512>("q8_maxpool_64c_avx512");
const Q8GlobalAvgPoolKernel q8_gavgpool_64c_avx512 = q8_gavgpool_kernel<Q8Avx512>("q8_gavgpool_64c_avx512");

}  // namespace slim::kernels
