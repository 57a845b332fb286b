// f32_layernorm for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/f32_layernorm.h"

namespace slim::kernels {

const F32LayerNormKernel f32_layernorm_u1_scalar = layernorm_kernel<VScalar>("f32_layernorm_u1_scalar");

}  // namespace slim::kernels
