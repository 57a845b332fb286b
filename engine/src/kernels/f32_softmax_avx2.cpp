// f32_softmax for AVX2 + FMA, compiled with this ISA's flags (CMakeLists.txt); runs only when
// kernel_config() selects it.
#include "kernels/simd/avx2.h"
#include "kernels/f32_softmax.h"

namespace slim::kernels {

const F32SoftmaxKernel f32_softmax_u8_avx2 = softmax_kernel<VAvx2>("f32_softmax_u8_avx2");

}  // namespace slim::kernels
