// The in-memory form of a validated model file (FORMAT.md). Produced only by
// the loader, so everything here already satisfies the structural rules.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/attrs.h"
#include "core/tensor.h"

namespace slim {

// kCaptured only appears in a subgraph's file entry (a value of the enclosing graph it reads); the
// loader turns each into an extra input of the subgraph (after its formal inputs).
enum class TensorKind : uint8_t { kValue = 0, kInput = 1, kConstant = 2, kCaptured = 3 };

struct ModelTensor {
  std::string name;
  DType dtype = DType::kUndefined;
  TensorKind kind = TensorKind::kValue;
  Shape shape;                         // -1 = symbolic
  std::vector<std::string> dim_names;  // "" for static dims
  // Constants only: points into the mapped file, or into `Model::owned` after
  // fp16 -> fp32 widening; 64-byte aligned either way.
  const void* data = nullptr;
  DType storage_dtype = DType::kUndefined;
};

struct ModelNode {
  std::string op_type;
  std::string name;
  std::vector<int32_t> inputs;  // -1 = omitted optional input
  std::vector<uint32_t> outputs;
  Attributes attrs;
};

// A whole model, or a subgraph (a graph attribute): then `inputs` are its formal inputs followed by
// its captures, `captured_from[k]` is the enclosing graph's tensor for capture k and
// `capture_input[k]` the position of that tensor among the owning node's inputs.
struct Model {
  uint16_t version_minor = 0;
  size_t num_formal_inputs = 0;
  std::vector<uint32_t> captured_from;
  std::vector<size_t> capture_input;
  std::vector<ModelTensor> tensors;
  std::vector<uint32_t> inputs;
  std::vector<uint32_t> outputs;
  std::vector<ModelNode> nodes;
  std::vector<std::pair<std::string, std::string>> meta;
  size_t weights_bytes = 0;            // constants as held in memory
  std::shared_ptr<const void> backing;  // keeps the mapped file / buffer alive
  std::vector<std::shared_ptr<void>> owned;  // widened constants
};

}  // namespace slim
