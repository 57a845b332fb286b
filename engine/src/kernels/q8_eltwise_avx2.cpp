// The elementwise int8 kernels for AVX2, compiled with this ISA's flags (CMakeLists.txt).
#include "kernels/simd/avx2.h"
#include "kernels/q8_eltwise.h"

namespace slim::kernels {

const Q8AddKernel q8_add_u16_avx2 = q8_add_kernel<Q8Avx2>("q8_add_u16_avx2");
const Q8MulKernel q8_mul_u16_avx2 = q8_mul_kernel<Q8Avx2>("q8_mul_u16_avx2");
const Q8QuantizeKernel q8_quantize_u16_avx2 = q8_quantize_kernel<Q8Avx2>("q8_quantize_u16_avx2");
const Q8DequantizeKernel q8_dequantize_u16_avx2 = q8_dequantize_kernel<Q8Avx2>("q8_dequantize_u16_avx2");

}  // namespace slim::kernels
