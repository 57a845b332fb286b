// f32_layernorm for AVX2 + FMA, compiled with this ISA's flags (CMakeLists.txt); runs only when
// kernel_config() selects it.
#include "kernels/simd/avx2.h"
#include "kernels/f32_layernorm.h"

namespace slim::kernels {

const F32LayerNormKernel f32_layernorm_u8_avx2 = layernorm_kernel<VAvx2>("f32_layernorm_u8_avx2");

}  // namespace slim::kernels
