// f32_gemm for AVX2 + FMA, compiled with this ISA's flags (CMakeLists.txt); runs only when
// kernel_config() selects it.
#include "kernels/simd/avx2.h"
#include "kernels/f32_gemm.h"

namespace slim::kernels {

const F32GemmKernel f32_gemm_6x16_avx2 = gemm_kernel<VAvx2>("f32_gemm_6x16_avx2");

}  // namespace slim::kernels
