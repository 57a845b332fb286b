// f32_vbinary for AVX2 + FMA, compiled with this ISA's flags (CMakeLists.txt); runs only when
// kernel_config() selects it.
#include "kernels/simd/avx2.h"
#include "kernels/f32_vbinary.h"

namespace slim::kernels {

const F32VbinaryKernel f32_vbinary_u32_avx2 = vbinary_kernel<VAvx2>("f32_vbinary_u32_avx2");

}  // namespace slim::kernels
