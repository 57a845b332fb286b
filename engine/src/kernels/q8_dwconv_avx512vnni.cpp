// q8_dwconv for AVX-512 VNNI (vpdpbusd over 4 kernel rows), compiled with the
// AVX-512 flags plus -mavx512vnni (CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized / -Wuninitialized through
// the deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/simd/avx512vnni.h"
#include "kernels/q8_dwconv.h"
#include "kernels/q8_dwconv_int.h"
#include "kernels/q8_dwconv_x86.h"

namespace slim::kernels {

const Q8DwconvKernel q8_dwconv_64c_avx512vnni =
    q8_dwconv_int_kernel<Q8DwX86<512, true, true>, Q8Avx512Vnni>("q8_dwconv_64c_avx512vnni");

}  // namespace slim::kernels
