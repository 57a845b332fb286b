#include "core/dtype.h"

namespace slim {

bool dtype_known(uint8_t code) {
  switch (static_cast<DType>(code)) {
    case DType::kFloat32: case DType::kUInt8: case DType::kInt8: case DType::kInt32:
    case DType::kInt64: case DType::kBool: case DType::kFloat16: case DType::kInt4:
      return true;
    case DType::kUndefined:
      return false;
  }
  return false;
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kFloat16: return 2;
    case DType::kUInt8: case DType::kInt8: case DType::kBool: case DType::kInt4: return 1;
    case DType::kUndefined: return 0;
  }
  return 0;
}

size_t storage_bytes(DType dtype, size_t numel) {
  if (dtype == DType::kInt4) return numel / 2 + numel % 2;
  return numel * dtype_size(dtype);
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kInt4: return "int4";
    case DType::kUndefined: return "undefined";
  }
  return "undefined";
}

}  // namespace slim
