// f32_softmax for portable C++, the reference the other variants are tested against.
#include "kernels/simd/scalar.h"
#include "kernels/f32_softmax.h"

namespace slim::kernels {

const F32SoftmaxKernel f32_softmax_u1_scalar = softmax_kernel<VScalar>("f32_softmax_u1_scalar");

}  // namespace slim::kernels
