// f32_vbinary for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/f32_vbinary.h"

namespace slim::kernels {

const F32VbinaryKernel f32_vbinary_u4_scalar = vbinary_kernel<VScalar>("f32_vbinary_u4_scalar");

}  // namespace slim::kernels
