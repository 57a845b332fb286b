// Activation entry point: argument checks around the chosen f32_vact variant.
#include "kernels/check.h"
#include "kernels/kernels.h"

namespace slim::kernels {

const char* act_name(ActKind kind) {
  switch (kind) {
    case ActKind::kNone: return "None";
    case ActKind::kRelu: return "Relu";
    case ActKind::kClip: return "Clip";
    case ActKind::kLeakyRelu: return "LeakyRelu";
    case ActKind::kHardSigmoid: return "HardSigmoid";
    case ActKind::kHardSwish: return "HardSwish";
    case ActKind::kSigmoid: return "Sigmoid";
    case ActKind::kSilu: return "SiLU";
    case ActKind::kGelu: return "Gelu";
    case ActKind::kGeluTanh: return "GeluTanh";
    case ActKind::kTanh: return "Tanh";
    case ActKind::kExp: return "Exp";
    case ActKind::kErf: return "Erf";
  }
  return "unknown";
}

void activation(const F32VactKernel& k, const Activation& act, const float* x, float* y, int64_t n) {
  check_non_negative("activation", "n", n);
  if (n == 0) return;
  check_not_null("activation", "x", x);
  check_not_null("activation", "y", y);
  k.fn(act, x, y, n);
}

}  // namespace slim::kernels
