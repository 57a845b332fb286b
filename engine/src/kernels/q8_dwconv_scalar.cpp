// q8_dwconv for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/q8_dwconv.h"

namespace slim::kernels {

const Q8DwconvKernel q8_dwconv_1c_scalar = q8_dwconv_kernel<Q8Scalar>("q8_dwconv_1c_scalar");

}  // namespace slim::kernels
