// AVX-512 VNNI int8 traits. Include only from *_avx512vnni.cpp (compiled with
// -mavx512vnni on top of the AVX-512 flags).
#pragma once

#include "kernels/simd/avx512.h"

namespace slim::kernels {

// vpdpbusd GEMM tile, MR x (NV * 16): chosen with slim_kernels_bench (see q8_gemm_avx512vnni.cpp).
using Q8Avx512Vnni = Q8Avx512T<Isa::kAvx512Vnni, 8, 2>;

}  // namespace slim::kernels
