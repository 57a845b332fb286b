// q8_gemm for AVX-512 BW without VNNI (vpmaddwd on 16-bit halves, exact), compiled with this ISA's flags.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized / -Wuninitialized through
// the deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/q8_gemm.h"

namespace slim::kernels {

const Q8GemmKernel q8_gemm_8x32_avx512 = q8_gemm_kernel<Q8Avx512>("q8_gemm_8x32_avx512");

}  // namespace slim::kernels
