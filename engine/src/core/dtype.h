// Element types: sizes and names of the ONNX codes the model file uses.
#pragma once

#include <cstddef>
#include <cstdint>

#include "slimlab/engine.h"

namespace slim {

bool dtype_known(uint8_t code);
// Bytes per element; int4 packs two per byte and reports 1 (use storage_bytes).
size_t dtype_size(DType dtype);
// Bytes that `numel` elements occupy in storage (int4: ceil(numel / 2)).
size_t storage_bytes(DType dtype, size_t numel);

}  // namespace slim
