// The scalar instantiation of every kernel template.
#include "kernels/simd_scalar.h"
#include "kernels/table_impl.h"

namespace slim::kernels {

const KernelTable& scalar_kernel_table() {
  static const KernelTable table = make_kernel_table<VScalar>(Isa::kScalar);
  return table;
}

}  // namespace slim::kernels
