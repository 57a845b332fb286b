// f32_vact for AVX2 + FMA, compiled with this ISA's flags (CMakeLists.txt); runs only when
// kernel_config() selects it.
#include "kernels/simd/avx2.h"
#include "kernels/f32_vact.h"

namespace slim::kernels {

const F32VactKernel f32_vact_u32_avx2 = vact_kernel<VAvx2>("f32_vact_u32_avx2");

}  // namespace slim::kernels
