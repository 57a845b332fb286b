// The elementwise int8 kernels for portable C++, the references the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/q8_eltwise.h"

namespace slim::kernels {

const Q8AddKernel q8_add_u1_scalar = q8_add_kernel<Q8Scalar>("q8_add_u1_scalar");
const Q8MulKernel q8_mul_u1_scalar = q8_mul_kernel<Q8Scalar>("q8_mul_u1_scalar");
const Q8QuantizeKernel q8_quantize_u1_scalar = q8_quantize_kernel<Q8Scalar>("q8_quantize_u1_scalar");
const Q8DequantizeKernel q8_dequantize_u1_scalar = q8_dequantize_kernel<Q8Scalar>("q8_dequantize_u1_scalar");
const Q8LookupKernel q8_lookup_u1_scalar = q8_lookup_kernel<Q8Scalar>("q8_lookup_u1_scalar");

}  // namespace slim::kernels
