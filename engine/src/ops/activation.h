// The fused `activation` / `activation_params` attributes that the converter
// puts on Conv, ConvTranspose, Gemm and MatMul (FORMAT.md, "Ops").
#pragma once

#include <cstdint>

#include "core/attrs.h"
#ifdef SLIMLAB_HAVE_KERNELS
#include "kernels/kernels.h"
#endif

namespace slim {

enum class Activation { kNone, kRelu, kClip, kLeakyRelu, kHardSigmoid, kHardSwish, kSigmoid, kSiLU, kGelu, kTanh };

struct FusedActivation {
  Activation kind = Activation::kNone;
  float a = 0.0f;  // first parameter (Clip min, LeakyRelu alpha, HardSigmoid alpha)
  float b = 0.0f;  // second parameter (Clip max, HardSigmoid beta)
  float apply(float x) const;
};

// Reads and validates the attributes (unknown name or wrong parameter count is
// an error naming the node); absent attribute = no activation.
FusedActivation parse_fused_activation(const Attributes& attrs);
void apply_activation(const FusedActivation& act, float* data, int64_t n);
#ifdef SLIMLAB_HAVE_KERNELS
// The same activation as the kernels library's fused epilogue describes it.
kernels::Activation to_kernel_activation(const FusedActivation& act);
#endif

}  // namespace slim
