// q8_gemm for AVX-512 VNNI (vpdpbusd), compiled with the AVX-512 flags plus -mavx512vnni (CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized / -Wuninitialized through
// the deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/simd/avx512vnni.h"
#include "kernels/q8_gemm.h"

namespace slim::kernels {

const Q8GemmKernel q8_gemm_8x32_avx512vnni = q8_gemm_kernel<Q8Avx512Vnni>("q8_gemm_8x32_avx512vnni");

}  // namespace slim::kernels
