// f32_dwconv for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/f32_dwconv.h"

namespace slim::kernels {

const F32DwconvKernel f32_dwconv_1c_scalar = dwconv_kernel<VScalar>("f32_dwconv_1c_scalar");

}  // namespace slim::kernels
