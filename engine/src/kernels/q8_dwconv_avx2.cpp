// q8_dwconv for AVX2, compiled with this ISA's flags (CMakeLists.txt).
#include "kernels/simd/avx2.h"
#include "kernels/q8_dwconv.h"
#include "kernels/q8_dwconv_int.h"
#include "kernels/q8_dwconv_x86.h"

namespace slim::kernels {

// fp32 sums, 8 channels per step: kept as the fallback's own entry and the baseline of the benchmark.
const Q8DwconvKernel q8_dwconv_8c_avx2 = q8_dwconv_kernel<Q8Avx2>("q8_dwconv_8c_avx2");
// vpmaddwd over pairs of kernel rows, 32 channels per step.
const Q8DwconvKernel q8_dwconv_32c_avx2 = q8_dwconv_int_kernel<Q8DwX86<256, false, false>, Q8Avx2>("q8_dwconv_32c_avx2");

}  // namespace slim::kernels
