// q8_gemm for AVX2 (vpmaddwd on 16-bit halves, exact), compiled with this ISA's flags (CMakeLists.txt).
#include "kernels/simd/avx2.h"
#include "kernels/q8_gemm.h"

namespace slim::kernels {

const Q8GemmKernel q8_gemm_4x16_avx2 = q8_gemm_kernel<Q8Avx2>("q8_gemm_4x16_avx2");

}  // namespace slim::kernels
