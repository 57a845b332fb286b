// f32_vact for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/f32_vact.h"

namespace slim::kernels {

const F32VactKernel f32_vact_u4_scalar = vact_kernel<VScalar>("f32_vact_u4_scalar");

}  // namespace slim::kernels
