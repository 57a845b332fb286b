// f32_dwconv for AVX-512 F/BW/DQ/VL, compiled with this ISA's flags (CMakeLists.txt);
// runs only when kernel_config() selects it.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized through the
// deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/simd/avx512.h"
#include "kernels/f32_dwconv.h"

namespace slim::kernels {

const F32DwconvKernel f32_dwconv_16c_avx512 = dwconv_kernel<VAvx512>("f32_dwconv_16c_avx512");

}  // namespace slim::kernels
