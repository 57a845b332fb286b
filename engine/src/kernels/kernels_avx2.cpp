// The avx2 instantiation of every kernel template. Compiled with this ISA's
// flags (see CMakeLists.txt); nothing here runs unless the caller asked for avx2.
#include "kernels/simd_avx2.h"
#include "kernels/table_impl.h"

namespace slim::kernels {

const KernelTable& avx2_kernel_table() {
  static const KernelTable table = make_kernel_table<VAvx2>(Isa::kAvx2);
  return table;
}

}  // namespace slim::kernels
