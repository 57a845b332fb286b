// f32_layernorm for AVX-512 F/BW/DQ/VL, compiled with this ISA's flags (CMakeLists.txt);
// runs only when kernel_config() selects it.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized through the
// deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/f32_layernorm.h"

namespace slim::kernels {

const F32LayerNormKernel f32_layernorm_u16_avx512 = layernorm_kernel<VAvx512>("f32_layernorm_u16_avx512");

}  // namespace slim::kernels
