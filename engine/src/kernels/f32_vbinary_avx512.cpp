// f32_vbinary for AVX-512 F/BW/DQ/VL, compiled with this ISA's flags (CMakeLists.txt);
// runs only when kernel_config() selects it.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized through the
// deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/f32_vbinary.h"

namespace slim::kernels {

const F32VbinaryKernel f32_vbinary_u64_avx512 = vbinary_kernel<VAvx512>("f32_vbinary_u64_avx512");

}  // namespace slim::kernels
