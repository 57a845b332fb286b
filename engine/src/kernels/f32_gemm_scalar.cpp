// f32_gemm for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/f32_gemm.h"

namespace slim::kernels {

const F32GemmKernel f32_gemm_4x4_scalar = gemm_kernel<VScalar>("f32_gemm_4x4_scalar");

}  // namespace slim::kernels
