#include "kernels/dispatch.h"

namespace slim::kernels {

const KernelTable& kernel_table(Isa isa) {
#if defined(SLIM_KERNELS_HAVE_X86_SIMD)
  switch (isa) {
    case Isa::kAvx512: return avx512_kernel_table();
    case Isa::kAvx2: return avx2_kernel_table();
    case Isa::kScalar: break;
  }
#else
  (void)isa;  // only the scalar variant is compiled on this architecture
#endif
  return scalar_kernel_table();
}

}  // namespace slim::kernels
