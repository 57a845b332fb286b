// The fused `activation` / `activation_params` attributes that the converter
// puts on Conv, ConvTranspose, Gemm and MatMul (FORMAT.md, "Ops"), read into
// the kernels' own Activation so the kernels apply them in their epilogue.
#pragma once

#include "core/attrs.h"
#include "kernels/kernels.h"

namespace slim {

// Reads and validates the attributes (unknown name or wrong parameter count is
// an error naming the node); absent attribute = no activation.
kernels::Activation parse_fused_activation(const Attributes& attrs);

}  // namespace slim
