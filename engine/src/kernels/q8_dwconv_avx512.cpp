// q8_dwconv for AVX-512 F/BW/DQ/VL, compiled with this ISA's flags (CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized / -Wuninitialized through
// the deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/q8_dwconv.h"
#include "kernels/q8_dwconv_int.h"
#include "kernels/q8_dwconv_x86.h"

namespace slim::kernels {

// fp32 sums, 16 channels per step: kept as the fallback's own entry and the baseline of the benchmark.
const Q8DwconvKernel q8_dwconv_16c_avx512 = q8_dwconv_kernel<Q8Avx512>("q8_dwconv_16c_avx512");
// vpmaddwd over pairs of kernel rows, 64 channels per step.
const Q8DwconvKernel q8_dwconv_64c_avx512 = q8_dwconv_int_kernel<Q8DwX86<512, false, true>, Q8Avx512>("q8_dwconv_64c_avx512");

}  // namespace slim::kernels
