// The op interface: everything the runtime needs to know about one op type.
//
// An op file (engine/src/ops/<file>.cpp) defines functions and, for each op
// type listed for it in ops/op_list.h, its definition:
//
//   DEFINE_OP(Softsign) {
//     return OpDef("Softsign")
//         .dtypes({DType::kFloat32}).inputs(1).outputs(1)
//         .layout(LayoutPolicy::kAgnostic)
//         .infer(infer_like_input0)
//         .kernel(softsign_kernel);
//   }
//
// Ops that run kernels of the kernels library pick their variants once, in
// prepare(), from PrepareContext::kernels, and keep them in their state.
// Contexts carry shapes in LOGICAL ONNX order; a tensor's `layout` only changes
// its strides (see tensor.h: logical_strides, physical_axis).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/attrs.h"
#include "core/error.h"
#include "core/isa.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace slim {

// Where an op can run. The executor assigns a layout to every tensor and
// inserts conversions only where a producer and a consumer disagree.
enum class LayoutPolicy {
  kPlain,     // reads and writes plain ONNX layout only (Reshape, MatMul, Softmax ...)
  kAgnostic,  // any layout; rank-4 outputs follow the first rank-4 activation input
  kNhwc,      // wants rank-4 activation inputs in NHWC, writes rank-4 outputs in NHWC
};

// Shape/dtype inference at plan time, from the actual input shapes of a run.
class InferContext {
 public:
  InferContext(const Attributes& attrs, std::vector<const TensorRef*> inputs, size_t num_outputs)
      : attrs_(attrs), inputs_(std::move(inputs)), out_shapes_(num_outputs),
        out_dtypes_(num_outputs, DType::kUndefined), out_set_(num_outputs, false),
        out_dynamic_(num_outputs, false) {}

  // What the planner adds for ops that plan subgraphs at inference (If, Loop, Scan): the op's
  // prepared state, the session's threads and its memory cap.
  void set_runtime(const void* prepared, ThreadPool* pool, size_t max_memory) {
    prepared_ = prepared;
    pool_ = pool;
    max_memory_ = max_memory;
  }
  template <typename T>
  const T& state() const {
    if (prepared_ == nullptr || pool_ == nullptr) error("internal error: inference without the op's state");
    return *static_cast<const T*>(prepared_);
  }
  ThreadPool& pool() const { return *pool_; }
  size_t max_memory() const { return max_memory_; }

  const Attributes& attrs() const { return attrs_; }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return out_shapes_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const Shape& input_shape(size_t i) const { return input(i).shape; }
  DType input_dtype(size_t i) const { return input(i).dtype; }
  // The input's values when known at plan time (constants, and results of
  // shape computations folded at plan time); nullptr otherwise.
  const TensorRef* input_value(size_t i) const {
    return input(i).data != nullptr ? &input(i) : nullptr;
  }
  void set_output(size_t i, DType dtype, Shape shape);
  // An output whose shape only the run knows (a Loop's scan output with a data-dependent trip count,
  // NonZero ...): the plan stops after this node, the kernel allocates the output with
  // KernelContext::allocate_output, and the rest of the graph is planned once its shape is known
  // (FORMAT.md "Run-time shapes").
  void set_output_dynamic(size_t i, DType dtype);
  bool output_dynamic(size_t i) const { return out_dynamic_.at(i); }

  // Throws slim::Error prefixed with the node ("node 'x' (Op): ...").
  template <typename... Parts>
  [[noreturn]] void error(Parts&&... parts) const {
    fail(attrs_.owner(), ": ", std::forward<Parts>(parts)...);
  }

  const Shape& output_shape(size_t i) const { return out_shapes_.at(i); }
  DType output_dtype(size_t i) const { return out_dtypes_.at(i); }
  bool output_set(size_t i) const { return out_set_.at(i); }

 private:
  const TensorRef& input(size_t i) const;
  const Attributes& attrs_;
  std::vector<const TensorRef*> inputs_;
  std::vector<Shape> out_shapes_;
  std::vector<DType> out_dtypes_;
  std::vector<bool> out_set_;
  std::vector<bool> out_dynamic_;
  const void* prepared_ = nullptr;
  ThreadPool* pool_ = nullptr;
  size_t max_memory_ = 0;
};

// Load-time preparation (once per session): validate attributes, pick the
// kernel variants and pre-pack constant weights into the layout they want.
struct PrepareContext {
  const Attributes& attrs;
  // The session's variant of every kernel (from the CPU and the isa option);
  // take them through use() so that profile() can name what the node runs.
  const kernels::KernelConfig& kernels;
  std::vector<const TensorRef*> inputs;      // static info; data != nullptr for constants
  size_t num_outputs;
  Isa kernel_isa = Isa::kScalar;             // highest ISA among the variants passed to use()
  size_t max_memory_bytes = 0;               // the session's cap (subgraphs plan under it too)

  template <class K>
  const K* use(const K* kernel) {
    if (static_cast<int>(kernel->isa) > static_cast<int>(kernel_isa)) kernel_isa = kernel->isa;
    return kernel;
  }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const TensorRef* constant(size_t i) const {
    return has_input(i) && inputs[i]->data != nullptr ? inputs[i] : nullptr;
  }
  template <typename... Parts>
  [[noreturn]] void error(Parts&&... parts) const {
    fail(attrs.owner(), ": ", std::forward<Parts>(parts)...);
  }
};

// The outputs of one node run that its inference declared dynamic: the kernel allocates them.
struct DynamicOutputs {
  std::vector<bool> dynamic;                   // per output of the node
  std::vector<TensorRef> refs;                 // what allocate_output() gave, per output
  std::vector<std::shared_ptr<void>> buffers;  // their storage
  size_t max_bytes = 0;                        // the session's cap (0 = none)
};

// What a kernel gets on every run. Inputs/outputs are ready (outputs allocated
// with their inferred shape and assigned layout); omitted optional inputs have
// data == nullptr. A dynamic output (InferContext::set_output_dynamic) has no
// data until the kernel calls allocate_output().
struct KernelContext {
  const Attributes& attrs;
  const std::vector<TensorRef>& inputs;
  const std::vector<TensorRef>& outputs;
  const void* prepared;  // what the op's prepare() returned, or nullptr
  ThreadPool& pool;
  DynamicOutputs* dynamic = nullptr;

  bool output_dynamic(size_t i) const { return dynamic != nullptr && i < dynamic->dynamic.size() && dynamic->dynamic[i]; }
  // Allocates dynamic output i (plain layout, the dtype its inference declared) with `shape`.
  TensorRef allocate_output(size_t i, const Shape& shape) const;

  template <typename T>
  const T& state() const { return *static_cast<const T*>(prepared); }
  // Splits [0, n) across the session's threads; fn(begin, end) must only
  // write outputs belonging to its own range.
  void parallel_for(int64_t n, int64_t grain, const RangeFn& fn) const {
    pool.parallel_for(n, grain, fn);
  }
};

using InferFn = std::function<void(InferContext&)>;
using PrepareFn = std::function<std::shared_ptr<void>(PrepareContext&)>;
using KernelFn = std::function<void(const KernelContext&)>;

class OpDef {
 public:
  explicit OpDef(std::string type) : type_(std::move(type)) {}

  // Builder: each setter returns *this.
  OpDef& dtypes(std::vector<DType> d) { dtypes_ = std::move(d); return *this; }
  OpDef& inputs(int min_count, int max_count = -1) {
    min_inputs_ = min_count;
    max_inputs_ = max_count < 0 ? min_count : max_count;
    return *this;
  }
  OpDef& outputs(int min_count, int max_count = -1) {
    min_outputs_ = min_count;
    max_outputs_ = max_count < 0 ? min_count : max_count;
    return *this;
  }
  OpDef& layout(LayoutPolicy p) { layout_ = p; return *this; }
  OpDef& infer(InferFn fn) { infer_ = std::move(fn); return *this; }
  OpDef& prepare(PrepareFn fn) { prepare_ = std::move(fn); return *this; }
  OpDef& kernel(KernelFn fn) { kernel_ = std::move(fn); return *this; }
  // Shape-computing ops (Shape, Gather on int64, Concat of shapes ...) whose
  // outputs the planner may evaluate at plan time when all inputs are known.
  OpDef& foldable(bool f = true) { foldable_ = f; return *this; }
  // Ops whose outputs depend only on input SHAPES (Shape, Size): always
  // evaluated at plan time; their kernel sees inputs with data == nullptr.
  OpDef& foldable_from_shapes(bool f = true) { foldable_from_shapes_ = f; return *this; }

  const std::string& type() const { return type_; }
  const std::vector<DType>& dtypes() const { return dtypes_; }
  int min_inputs() const { return min_inputs_; }
  int max_inputs() const { return max_inputs_; }
  int min_outputs() const { return min_outputs_; }
  int max_outputs() const { return max_outputs_; }
  LayoutPolicy layout() const { return layout_; }
  const InferFn& infer_fn() const { return infer_; }
  const PrepareFn& prepare_fn() const { return prepare_; }
  const KernelFn& kernel_fn() const { return kernel_; }
  bool is_foldable() const { return foldable_; }
  bool is_foldable_from_shapes() const { return foldable_from_shapes_; }
  bool supports_dtype(DType d) const;
  // Why this definition is unusable, or "" when it is complete.
  std::string validate() const;

 private:
  std::string type_;
  std::vector<DType> dtypes_;
  int min_inputs_ = 1, max_inputs_ = 1, min_outputs_ = 1, max_outputs_ = 1;
  LayoutPolicy layout_ = LayoutPolicy::kPlain;
  InferFn infer_;
  PrepareFn prepare_;
  KernelFn kernel_;
  bool foldable_ = false;
  bool foldable_from_shapes_ = false;
};

// The registry: op type -> definition, built on first use from ops/op_list.h.
// Lookups fail with the list of known ops.
const OpDef* find_op(const std::string& type);
const OpDef& get_op(const std::string& type);  // throws slim::Error on an unknown type
const std::map<std::string, OpDef>& all_ops();

// Runs fn (an op's infer, prepare or kernel) so that every error names the
// node: a slim::Error from a shared helper (normalize_axis ...) gets the node
// as prefix, and what only a bug lets through (the kernels library's argument
// errors, an allocation failure) becomes a slim::Error with "internal error"
// in the message: a caller never sees another exception type, and the fuzzer
// flags the message.
template <typename Fn>
auto guard_internal(const Attributes& attrs, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(attrs.owner(), 0) == 0) throw;
    fail(attrs.owner(), ": ", e.what());
  } catch (const std::exception& e) {
    fail(attrs.owner(), ": internal error: ", e.what());
  }
}

// Common inference helpers for op authors.
void infer_like_input0(InferContext& ctx);  // one output, same dtype and shape as input 0
// numpy broadcasting of two shapes; throws naming `owner` when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& owner);

}  // namespace slim

// Defines the op listed in ops/op_list.h as `name`. The qualified name needs
// the list's declaration, so an op missing from the list does not compile.
#define DEFINE_OP(name) ::slim::OpDef slim::ops::define_##name()

#include "ops/op_list.h"  // IWYU pragma: export (the declarations DEFINE_OP defines)
