// The geometry of a 2-D convolution from its ONNX attributes and weight shape,
// shared by Conv and QLinearConv so both validate a model file the same way.
#pragma once

#include "core/attrs.h"
#include "core/tensor.h"
#include "kernels/kernels.h"

namespace slim {

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

AutoPad read_auto_pad(const Attributes& attrs);

// The attributes and weight shape [M, C / group, kh, kw] as a Conv2dShape; the
// input size is a placeholder (the smallest image the dilated kernel fits).
// Every field is range-checked here, once, so that the geometry arithmetic of
// shape inference and of the kernels stays far from int64 overflow.
kernels::Conv2dShape read_conv_geometry(const Attributes& attrs, const Shape& w_shape);

// The full geometry for input x [N, C, H, W]; false when the image is too small.
bool conv_at_input(kernels::Conv2dShape& s, AutoPad auto_pad, const Shape& x);

}  // namespace slim
