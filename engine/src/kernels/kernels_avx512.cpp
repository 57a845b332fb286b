// The avx512 instantiation of every kernel template. Compiled with this ISA's
// flags (see CMakeLists.txt); nothing here runs unless the caller asked for avx512.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized through the
// deliberately undefined pass-through operand of some intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/simd_avx512.h"
#include "kernels/table_impl.h"

namespace slim::kernels {

const KernelTable& avx512_kernel_table() {
  static const KernelTable table = make_kernel_table<VAvx512>(Isa::kAvx512);
  return table;
}

}  // namespace slim::kernels
