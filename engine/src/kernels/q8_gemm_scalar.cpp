// q8_gemm for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/q8_gemm.h"

namespace slim::kernels {

const Q8GemmKernel q8_gemm_4x4_scalar = q8_gemm_kernel<Q8Scalar>("q8_gemm_4x4_scalar");

}  // namespace slim::kernels
