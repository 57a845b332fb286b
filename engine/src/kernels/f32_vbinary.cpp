// Elementwise binary entry point: argument checks around the chosen f32_vbinary variant.
#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "Add";
    case BinaryOp::kSub: return "Sub";
    case BinaryOp::kMul: return "Mul";
    case BinaryOp::kDiv: return "Div";
  }
  return "unknown";
}

void binary(const F32VbinaryKernel& k, BinaryOp op, const float* a, int64_t a_stride, const float* b,
            int64_t b_stride, float* y, int64_t n) {
  check_non_negative("binary", "n", n);
  if (n == 0) return;
  if ((a_stride != 0 && a_stride != 1) || (b_stride != 0 && b_stride != 1)) {
    fail_argument("binary", "operand strides must be 0 (broadcast) or 1");
  }
  check_not_null("binary", "a", a);
  check_not_null("binary", "b", b);
  check_not_null("binary", "y", y);
  k.fn(op, a, a_stride, b, b_stride, y, n);
}

}  // namespace slim::kernels
