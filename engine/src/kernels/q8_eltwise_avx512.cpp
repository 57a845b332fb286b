// The elementwise int8 kernels for AVX-512 F/BW/DQ/VL, compiled with this ISA's flags (CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized / -Wuninitialized through
// the deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/q8_eltwise.h"

namespace slim::kernels {

const Q8AddKernel q8_add_u32_avx512 = q8_add_kernel<Q8Avx512>("q8_add_u32_avx512");
const Q8MulKernel q8_mul_u32_avx512 = q8_mul_kernel<Q8Avx512>("q8_mul_u32_avx512");
const Q8QuantizeKernel q8_quantize_u32_avx512 = q8_quantize_kernel<Q8Avx512>("q8_quantize_u32_avx512");
const Q8DequantizeKernel q8_dequantize_u32_avx512 = q8_dequantize_kernel<Q8Avx512>("q8_dequantize_u32_avx512");

}  // namespace slim::kernels
