// An execution plan for one input-shape signature: every tensor materialized
// as a slot (with shape, dtype, layout and where its bytes live), the ordered
// steps (nodes plus layout conversions) and the arena layout. Plans are
// immutable once built, so concurrent runs share them freely.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/op.h"

namespace slim {

// A model node bound to its op definition, built once per session.
struct CompiledNode {
  const ModelNode* node = nullptr;
  const OpDef* def = nullptr;
  Isa kernel_isa = Isa::kScalar;  // of the kernels its prepare() chose, for profiles
  const KernelFn* kernel = nullptr;
  std::shared_ptr<void> prepared;
};

enum class SlotKind { kArena, kInput, kConstant, kKnown };

struct Slot {
  SlotKind kind = SlotKind::kArena;
  DType dtype = DType::kUndefined;
  Shape shape;
  Layout layout = Layout::kPlain;
  size_t bytes = 0;
  size_t offset = 0;           // kArena: offset in the arena
  int input_pos = -1;          // kInput: position in Model::inputs
  const void* data = nullptr;  // kConstant / kKnown
};

enum class StepKind { kNode, kToNhwc, kToPlain };

struct Step {
  StepKind kind = StepKind::kNode;
  int node = -1;  // index into the compiled nodes (kNode)
  std::vector<int> inputs;   // slot ids, -1 = omitted optional input
  std::vector<int> outputs;  // slot ids
  std::string name, op_type, kernel;
};

struct Plan {
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<int> output_slots;  // one per graph output, always plain layout
  // keep_intermediates plans only: per model tensor, the slot of a node output (-1 otherwise)
  std::vector<int> value_slots;
  size_t arena_bytes = 0;
  size_t naive_bytes = 0;
  size_t live_peak_bytes = 0;  // liveness lower bound of the arena
  std::vector<std::shared_ptr<void>> owned;  // values folded at plan time
};

// One graph input as the planner sees it. `values` is set for small integer
// inputs (a Reshape target, Slice starts ... fed at run time): the plan then
// treats them as known values (copied into the plan), so shape inference and
// folding can use them; the caller keys its plan cache on those values.
struct PlanInput {
  Shape shape;
  const void* values = nullptr;
};

// Runs shape inference for `inputs` (one per graph input), assigns layouts,
// folds shape computations and plans memory. Throws slim::Error naming the
// node when shapes are incompatible with the model, and when the weights plus
// the arena would need more than `max_memory_bytes` (0 = no cap). With
// `keep_intermediates`, no two values share arena bytes and value_slots is filled.
std::shared_ptr<const Plan> build_plan(const Model& model, const std::vector<CompiledNode>& nodes,
                                       const std::vector<PlanInput>& inputs, ThreadPool& pool,
                                       size_t max_memory_bytes = 0, bool keep_intermediates = false);

// "123456789 bytes (118 MiB)": the exact figure and a readable one.
std::string memory_str(size_t bytes);

// NCHW <-> NHWC copy for a conversion step.
void convert_layout(const TensorRef& src, const TensorRef& dst, ThreadPool& pool);

}  // namespace slim
