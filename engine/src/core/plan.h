// An execution plan for one input-shape signature: every tensor materialized
// as a slot (with shape, dtype, layout and where its bytes live), the ordered
// steps (nodes plus layout conversions) and the arena layout. Plans are
// immutable once built, so concurrent runs share them freely.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
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

// kDynamic: a node output whose shape only the run knows; its kernel allocates it.
enum class SlotKind { kArena, kInput, kConstant, kKnown, kDynamic };

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
  bool dynamic = false;  // some output is kDynamic (then this is the plan's last step)
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

  // Run-time shapes (FORMAT.md): a plan ends after the first node with a dynamic output. Then
  // resume_node is the next node, and carry_tensors (in carry_slots) are the values the rest of
  // the graph reads; the continuation plans them as its inputs, once per shape of the dynamic
  // outputs (and per value of small integer ones), cached here. -1: this plan ends the graph.
  int resume_node = -1;
  std::vector<uint32_t> carry_tensors;
  std::vector<int> carry_slots;
  mutable std::mutex continuation_mu;
  mutable std::list<std::pair<std::vector<int64_t>, std::shared_ptr<const Plan>>> continuations;
};

// One graph input as the planner sees it. `values` is set for small integer
// inputs (a Reshape target, Slice starts ... fed at run time): the plan then
// treats them as known values (copied into the plan), so shape inference and
// folding can use them; the caller keys its plan cache on those values.
struct PlanInput {
  Shape shape;
  const void* values = nullptr;
  Layout layout = Layout::kPlain;  // continuation plans: a carried value may be NHWC
};

// A node's inputs as the file declares them (shape, dtype; data for constants), for prepare() and load-time
// evaluation. `ptrs[i]` points into `refs` (nullptr for an omitted input); moving the struct keeps them valid.
struct FileInputs {
  std::vector<TensorRef> refs;
  std::vector<const TensorRef*> ptrs;
};
FileInputs file_inputs(const Model& model, const ModelNode& node);

// Runs shape inference for `inputs` (one per graph input), assigns layouts,
// folds shape computations and plans memory. Throws slim::Error naming the
// node when shapes are incompatible with the model, and when the weights plus
// the arena would need more than `max_memory_bytes` (0 = no cap). With
// `keep_intermediates`, no two values share arena bytes and value_slots is filled.
// A continuation plan starts at `start_node` with `input_tensors` (one per input) in place of the
// graph inputs.
std::shared_ptr<const Plan> build_plan(const Model& model, const std::vector<CompiledNode>& nodes,
                                       const std::vector<PlanInput>& inputs, ThreadPool& pool,
                                       size_t max_memory_bytes = 0, bool keep_intermediates = false,
                                       int start_node = 0, const std::vector<uint32_t>* input_tensors = nullptr);

// Binds every node of a graph to its op (checks counts and dtypes, runs prepare()).
std::vector<CompiledNode> compile_graph(const Model& model, const kernels::KernelConfig& kernels,
                                        size_t max_memory_bytes);

// The values of one run of a graph, and what keeps them alive.
struct Execution {
  std::vector<TensorRef> outputs;  // per graph output, plain layout
  std::vector<TensorRef> values;   // keep_intermediates: per model tensor (data == nullptr: none)
  std::vector<std::pair<size_t, std::shared_ptr<void>>> arenas;  // (bytes, buffer) per plan segment
  std::vector<std::shared_ptr<void>> hold;                       // dynamic outputs
  std::vector<std::shared_ptr<const Plan>> plans;                // every segment that ran
};

struct ExecEnv {
  ThreadPool* pool = nullptr;
  size_t max_memory_bytes = 0;
  bool keep_intermediates = false;
  std::function<std::shared_ptr<void>(size_t)> take_arena;  // empty: a fresh buffer per segment
  std::function<void(const Plan&, const std::vector<double>&)> profile;  // step times per segment
};

// Runs `plan` on `inputs` (one per model input; for the top graph, the caller's tensors), then
// the continuation plans of its dynamic outputs until the graph ends.
void execute(const Model& model, const std::vector<CompiledNode>& nodes, std::shared_ptr<const Plan> plan,
             std::vector<TensorRef> inputs, const ExecEnv& env, Execution& out);

// A subgraph (If branch, Loop/Scan body) bound to its ops, with its own plan cache (one plan per
// signature of input shapes, and of the values of inputs planned by value). Thread-safe.
class GraphProgram {
 public:
  GraphProgram(std::shared_ptr<const Model> model, const kernels::KernelConfig& kernels, size_t max_memory_bytes);
  const Model& model() const { return *model_; }
  // inputs: formal inputs then captures (Model::inputs order); values != nullptr plans by value.
  std::shared_ptr<const Plan> plan(const std::vector<PlanInput>& inputs, ThreadPool& pool) const;
  // by_value[i]: plan input i by value (its data is read for the key).
  void run(const std::vector<TensorRef>& inputs, const std::vector<bool>& by_value, ThreadPool& pool,
           Execution& out) const;

 private:
  std::shared_ptr<const Model> model_;
  std::vector<CompiledNode> nodes_;
  size_t max_memory_;
  mutable std::mutex mu_;
  mutable std::list<std::pair<std::vector<int64_t>, std::shared_ptr<const Plan>>> plans_;
};

// "123456789 bytes (118 MiB)": the exact figure and a readable one.
std::string memory_str(size_t bytes);

// NCHW <-> NHWC copy for a conversion step.
void convert_layout(const TensorRef& src, const TensorRef& dst, ThreadPool& pool);

}  // namespace slim
