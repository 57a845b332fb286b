// f32_dwconv for AVX2 + FMA, compiled with this ISA's flags (CMakeLists.txt); runs only when
// kernel_config() selects it.
#include "kernels/simd/avx2.h"
#include "kernels/f32_dwconv.h"

namespace slim::kernels {

const F32DwconvKernel f32_dwconv_8c_avx2 = dwconv_kernel<VAvx2>("f32_dwconv_8c_avx2");

}  // namespace slim::kernels
