#include "core/plan.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/aligned.h"
#include "core/memory_planner.h"

namespace slim {

FileInputs file_inputs(const Model& model, const ModelNode& node) {
  FileInputs in;
  in.refs.resize(node.inputs.size());
  in.ptrs.assign(node.inputs.size(), nullptr);
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i] < 0) continue;
    const ModelTensor& t = model.tensors[static_cast<size_t>(node.inputs[i])];
    in.refs[i] = TensorRef{const_cast<void*>(t.data), t.dtype, t.shape, Layout::kPlain};
    in.ptrs[i] = &in.refs[i];
  }
  return in;
}

namespace {

// Folded values are shape arithmetic; anything bigger is real data that
// belongs in the run, not in the plan.
constexpr int64_t kMaxFoldElements = 4096;

class PlanBuilder {
 public:
  PlanBuilder(const Model& model, const std::vector<CompiledNode>& nodes, ThreadPool& pool, size_t max_memory,
              bool keep_intermediates)
      : model_(model), nodes_(nodes), pool_(pool), max_memory_(max_memory), keep_intermediates_(keep_intermediates),
        slot_of_(model.tensors.size(), {-1, -1}) {
    plan_ = std::make_shared<Plan>();
  }

  std::shared_ptr<const Plan> build(const std::vector<PlanInput>& inputs, int start_node,
                                    const std::vector<uint32_t>* input_tensors) {
    continuation_ = input_tensors != nullptr;
    const std::vector<uint32_t>& in_tensors = continuation_ ? *input_tensors : model_.inputs;
    SLIM_CHECK(inputs.size() == in_tensors.size(), "internal error: ", inputs.size(), " plan inputs for ",
               in_tensors.size(), " graph inputs");
    for (const PlanInput& in : inputs) input_shapes_.push_back(in.shape);
    for (size_t t = 0; t < model_.tensors.size(); ++t) {
      const ModelTensor& mt = model_.tensors[t];
      if (mt.kind != TensorKind::kConstant) continue;
      Slot s;
      s.kind = SlotKind::kConstant;
      s.dtype = mt.dtype;
      s.shape = Shape(mt.shape.begin(), mt.shape.end());
      s.data = mt.data;
      slot_of_[t][0] = add_slot(std::move(s));
    }
    for (size_t i = 0; i < in_tensors.size(); ++i) {
      Slot s;
      s.kind = SlotKind::kInput;
      s.dtype = model_.tensors[in_tensors[i]].dtype;
      s.shape = Shape(inputs[i].shape.begin(), inputs[i].shape.end());
      s.layout = s.shape.size() == 4 ? inputs[i].layout : Layout::kPlain;
      s.input_pos = static_cast<int>(i);
      if (inputs[i].values != nullptr) {
        const size_t bytes = storage_bytes(s.dtype, static_cast<size_t>(numel(s.shape)));
        auto buf = aligned_buffer(bytes);
        if (bytes > 0) std::memcpy(buf.get(), inputs[i].values, bytes);
        s.kind = SlotKind::kKnown;
        s.layout = Layout::kPlain;
        s.data = buf.get();
        s.bytes = bytes;
        plan_->owned.push_back(std::move(buf));
      }
      const int layout = static_cast<int>(s.layout);
      slot_of_[in_tensors[i]][layout] = add_slot(std::move(s));
    }
    bool complete = true;
    for (size_t n = static_cast<size_t>(start_node); n < nodes_.size(); ++n) {
      if (!add_node(static_cast<int>(n))) {
        stop_after(static_cast<int>(n));
        complete = false;
        break;
      }
    }
    if (complete)
      for (uint32_t t : model_.outputs) plan_->output_slots.push_back(slot_in(t, Layout::kPlain));
    plan_memory_layout();
    return plan_;
  }

 private:
  int add_slot(Slot s) {
    plan_->slots.push_back(std::move(s));
    return static_cast<int>(plan_->slots.size()) - 1;
  }

  // The slot holding tensor t in `layout`, adding a conversion step when only
  // the other layout exists.
  int slot_in(uint32_t t, Layout layout) {
    auto& pair = slot_of_[t];
    const int want = static_cast<int>(layout);
    if (pair[want] >= 0) return pair[want];
    const int have = pair[1 - want];
    const Slot& src = plan_->slots[have];
    if (src.shape.size() != 4) return have;  // layouts only differ for rank 4
    Slot s = src;
    s.kind = SlotKind::kArena;
    s.layout = layout;
    s.data = nullptr;
    s.input_pos = -1;
    s.bytes = storage_bytes(s.dtype, static_cast<size_t>(numel(s.shape)));
    const int id = add_slot(std::move(s));
    Step step;
    step.kind = layout == Layout::kNhwc ? StepKind::kToNhwc : StepKind::kToPlain;
    step.inputs = {have};
    step.outputs = {id};
    step.op_type = layout == Layout::kNhwc ? "ToNhwc" : "ToPlain";
    step.name = step.op_type + ":" + model_.tensors[t].name;
    step.kernel = "scalar";
    plan_->steps.push_back(std::move(step));
    pair[want] = id;
    return id;
  }

  // Any existing slot of t, preferring NHWC (what layout-agnostic ops keep).
  int slot_any(uint32_t t) const {
    const auto& pair = slot_of_[t];
    return pair[1] >= 0 ? pair[1] : pair[0];
  }

  bool known(int slot) const {
    const SlotKind k = plan_->slots[slot].kind;
    return k == SlotKind::kConstant || k == SlotKind::kKnown;
  }

  // The plan ends after node `index` (it has a dynamic output): what the rest of the graph reads is
  // carried to the continuation plan.
  void stop_after(int index) {
    plan_->resume_node = index + 1;
    std::vector<bool> needed(model_.tensors.size(), keep_intermediates_);
    for (size_t n = static_cast<size_t>(index) + 1; n < model_.nodes.size(); ++n)
      for (int32_t i : model_.nodes[n].inputs)
        if (i >= 0) needed[static_cast<size_t>(i)] = true;
    for (uint32_t t : model_.outputs) needed[t] = true;
    for (size_t t = 0; t < model_.tensors.size(); ++t) {
      if (!needed[t] || model_.tensors[t].kind == TensorKind::kConstant) continue;
      const int sid = slot_any(static_cast<uint32_t>(t));
      if (sid < 0) continue;
      plan_->carry_tensors.push_back(static_cast<uint32_t>(t));
      plan_->carry_slots.push_back(sid);
    }
  }

  // Adds node `index`; false when an output is dynamic (the plan must stop after it).
  bool add_node(int index) {
    const CompiledNode& cn = nodes_[index];
    const ModelNode& node = *cn.node;
    const OpDef& def = *cn.def;
    // Shape inference sees the current slots (constant / folded data visible).
    std::vector<TensorRef> in_refs(node.inputs.size());
    std::vector<const TensorRef*> in_ptrs(node.inputs.size(), nullptr);
    bool all_known = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] < 0) continue;
      const int sid = slot_any(static_cast<uint32_t>(node.inputs[i]));
      const Slot& s = plan_->slots[sid];
      in_refs[i] = TensorRef{known(sid) ? const_cast<void*>(s.data) : nullptr, s.dtype, s.shape, s.layout};
      in_ptrs[i] = &in_refs[i];
      all_known = all_known && known(sid);
    }
    InferContext ictx(node.attrs, in_ptrs, node.outputs.size());
    ictx.set_runtime(cn.prepared.get(), &pool_, max_memory_);
    guard_internal(node.attrs, [&] { def.infer_fn()(ictx); });
    std::vector<int64_t> out_numel(node.outputs.size());
    bool any_dynamic = false;
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      SLIM_CHECK(ictx.output_set(o), node.attrs.owner(), ": shape inference did not set output ", o);
      const ModelTensor& declared = model_.tensors[node.outputs[o]];
      // Every op downstream was bound (dtype support, prepared state) to the
      // declared dtype; data of another dtype would be read with the wrong width.
      SLIM_CHECK(ictx.output_dtype(o) == declared.dtype, node.attrs.owner(), ": output ", o, " '", declared.name,
                 "' is declared ", dtype_name(declared.dtype), " but the op produces ",
                 dtype_name(ictx.output_dtype(o)));
      if (ictx.output_dynamic(o)) {
        any_dynamic = true;
        out_numel[o] = 0;
        continue;
      }
      int64_t n = 0;
      SLIM_CHECK(checked_numel(ictx.output_shape(o), kMaxElements, &n), node.attrs.owner(), ": output shape ",
                 shape_str(ictx.output_shape(o)), " is too large");
      const size_t bytes = storage_bytes(ictx.output_dtype(o), static_cast<size_t>(n));
      SLIM_CHECK(max_memory_ == 0 || bytes <= max_memory_, node.attrs.owner(), ": output ", o, " '",
                 declared.name, "' ", shape_str(ictx.output_shape(o)), " needs ", memory_str(bytes),
                 ", more than max_memory_bytes = ", memory_str(max_memory_));
      out_numel[o] = n;
    }
    // bool too: a Loop body's condition passed through (Identity) is then known, and so its trip count
    const bool small = [&] {
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        const DType d = ictx.output_dtype(o);
        // bool too: the conditions of shape arithmetic (an expanded Attention picks a head count by Where)
        if (out_numel[o] > kMaxFoldElements || (d != DType::kInt64 && d != DType::kInt32 && d != DType::kBool))
          return false;
      }
      return true;
    }();
    if (!any_dynamic && (def.is_foldable_from_shapes() || (def.is_foldable() && all_known && small))) {
      fold(index, in_refs, ictx);
      return true;
    }

    Step step;
    step.kind = StepKind::kNode;
    step.node = index;
    step.name = node.name;
    step.op_type = node.op_type;
    step.kernel = isa_name(cn.kernel_isa);
    Layout out_layout = Layout::kPlain;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] < 0) {
        step.inputs.push_back(-1);
        continue;
      }
      const uint32_t t = static_cast<uint32_t>(node.inputs[i]);
      const int cur = slot_any(t);
      const bool activation = !known(cur) && plan_->slots[cur].shape.size() == 4;
      int sid = cur;
      switch (def.layout()) {
        case LayoutPolicy::kPlain: sid = slot_in(t, Layout::kPlain); break;
        case LayoutPolicy::kNhwc:
          sid = activation ? slot_in(t, Layout::kNhwc) : slot_in(t, Layout::kPlain);
          if (activation) out_layout = Layout::kNhwc;
          break;
        case LayoutPolicy::kAgnostic:
          if (activation && out_layout == Layout::kPlain && i == first_activation(node)) {
            out_layout = plan_->slots[cur].layout;
          }
          break;
      }
      step.inputs.push_back(sid);
    }
    step.dynamic = any_dynamic;
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      Slot s;
      s.kind = ictx.output_dynamic(o) ? SlotKind::kDynamic : SlotKind::kArena;
      s.dtype = ictx.output_dtype(o);
      s.shape = Shape(ictx.output_shape(o).begin(), ictx.output_shape(o).end());
      s.layout = s.shape.size() == 4 ? out_layout : Layout::kPlain;
      s.bytes = storage_bytes(s.dtype, static_cast<size_t>(out_numel[o]));
      const int sid = add_slot(std::move(s));
      slot_of_[node.outputs[o]][static_cast<int>(plan_->slots[sid].layout)] = sid;
      step.outputs.push_back(sid);
    }
    plan_->steps.push_back(std::move(step));
    return !any_dynamic;
  }

  size_t first_activation(const ModelNode& node) const {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] < 0) continue;
      const int sid = slot_any(static_cast<uint32_t>(node.inputs[i]));
      if (!known(sid) && plan_->slots[sid].shape.size() == 4) return i;
    }
    return node.inputs.size();
  }

  // Evaluates a shape computation now; its outputs become plan-owned constants.
  void fold(int index, const std::vector<TensorRef>& in_refs, const InferContext& ictx) {
    const CompiledNode& cn = nodes_[index];
    const ModelNode& node = *cn.node;
    std::vector<TensorRef> outs(node.outputs.size());
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const Shape& shape = ictx.output_shape(o);
      auto buf = aligned_buffer(storage_bytes(ictx.output_dtype(o), static_cast<size_t>(numel(shape))));
      outs[o] = TensorRef{buf.get(), ictx.output_dtype(o), shape, Layout::kPlain};
      plan_->owned.push_back(buf);
      Slot s;
      s.kind = SlotKind::kKnown;
      s.dtype = outs[o].dtype;
      s.shape = Shape(shape.begin(), shape.end());
      s.data = buf.get();
      s.bytes = outs[o].bytes();
      slot_of_[node.outputs[o]][0] = add_slot(std::move(s));
    }
    KernelContext kctx{node.attrs, in_refs, outs, cn.prepared.get(), pool_};
    guard_internal(node.attrs, [&] { (*cn.kernel)(kctx); });
  }

  void plan_memory_layout() {
    const int num_steps = static_cast<int>(plan_->steps.size());
    std::vector<int> first(plan_->slots.size(), -1), last(plan_->slots.size(), -1);
    for (int s = 0; s < num_steps; ++s) {
      for (int id : plan_->steps[s].outputs) first[id] = s;
      for (int id : plan_->steps[s].inputs)
        if (id >= 0) last[id] = s;
    }
    for (int id : plan_->output_slots) last[id] = num_steps;  // read after the last step
    for (int id : plan_->carry_slots) last[id] = num_steps;   // read by the continuation
    if (keep_intermediates_) {
      for (size_t id = 0; id < plan_->slots.size(); ++id) last[id] = num_steps;
      plan_->value_slots.assign(model_.tensors.size(), -1);
      for (size_t t = 0; t < model_.tensors.size(); ++t) {
        const auto& pair = slot_of_[t];
        const int id = pair[0] >= 0 ? pair[0] : pair[1];
        const SlotKind kind = id >= 0 ? plan_->slots[id].kind : SlotKind::kConstant;
        // a carried value is an input of a continuation plan
        const bool carried = kind == SlotKind::kInput && model_.tensors[t].kind == TensorKind::kValue;
        if (kind == SlotKind::kArena || kind == SlotKind::kKnown || kind == SlotKind::kDynamic || carried)
          plan_->value_slots[t] = id;
      }
    }
    std::vector<BufferRequest> reqs;
    std::vector<int> ids;
    for (size_t id = 0; id < plan_->slots.size(); ++id) {
      if (plan_->slots[id].kind != SlotKind::kArena) continue;
      reqs.push_back({plan_->slots[id].bytes, first[id], std::max(first[id], last[id])});
      ids.push_back(static_cast<int>(id));
    }
    const MemoryPlan mp = plan_memory(reqs);
    for (size_t k = 0; k < ids.size(); ++k) plan_->slots[ids[k]].offset = mp.offsets[k];
    plan_->arena_bytes = mp.arena_bytes;
    plan_->naive_bytes = mp.naive_bytes;
    plan_->live_peak_bytes = mp.live_peak_bytes;
    if (max_memory_ == 0) return;
    const size_t needed = mp.arena_bytes + model_.weights_bytes;  // each < 2^42: no overflow
    std::string shapes;
    for (size_t i = 0; !continuation_ && i < model_.inputs.size(); ++i) {
      if (!shapes.empty()) shapes += ", ";
      shapes += model_.tensors[model_.inputs[i]].name + " " + shape_str(input_shapes_[i]);
    }
    SLIM_CHECK(needed <= max_memory_, "model needs ", memory_str(needed), " (weights ",
               memory_str(model_.weights_bytes), " + activations ", memory_str(mp.arena_bytes), ") for inputs ",
               shapes, ", more than max_memory_bytes = ", memory_str(max_memory_));
  }

  const Model& model_;
  const std::vector<CompiledNode>& nodes_;
  ThreadPool& pool_;
  const size_t max_memory_;
  const bool keep_intermediates_;
  std::vector<Shape> input_shapes_;
  bool continuation_ = false;
  std::shared_ptr<Plan> plan_;
  std::vector<std::array<int, 2>> slot_of_;  // tensor -> slot per layout (plain, NHWC)
};

}  // namespace

std::shared_ptr<const Plan> build_plan(const Model& model, const std::vector<CompiledNode>& nodes,
                                       const std::vector<PlanInput>& inputs, ThreadPool& pool,
                                       size_t max_memory_bytes, bool keep_intermediates, int start_node,
                                       const std::vector<uint32_t>* input_tensors) {
  return PlanBuilder(model, nodes, pool, max_memory_bytes, keep_intermediates).build(inputs, start_node, input_tensors);
}

std::string memory_str(size_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::string s = std::to_string(bytes) + " bytes";
  if (bytes < 1024) return s;
  double v = static_cast<double>(bytes) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, " (%.1f %s)", v, kUnits[u]);
  return s + buf;
}

namespace {

// Per image, NCHW -> NHWC is a transpose of a [C][H*W] matrix and NHWC -> NCHW
// of a [H*W][C] one.
template <typename T>
void transpose_images(const TensorRef& src, const TensorRef& dst, ThreadPool& pool) {
  constexpr int64_t kTile = 32;
  const int64_t n = src.shape[0], c = src.shape[1], hw = src.shape[2] * src.shape[3];
  const bool to_nhwc = dst.layout == Layout::kNhwc;
  // The destination is [cols][rows]: a job takes a block of its outer index k,
  // so it writes one contiguous range. Jobs split along rows instead shared
  // destination cache lines (the bytes of one pixel's uint8 channels), and two
  // threads ran slower than one.
  const int64_t rows = to_nhwc ? c : hw, cols = to_nhwc ? hw : c;
  const int64_t k_block = std::max<int64_t>(kTile, (16384 / std::max<int64_t>(rows, 1) + kTile - 1) / kTile * kTile);
  const int64_t k_blocks = (cols + k_block - 1) / k_block;
  const T* s = src.ptr<const T>();
  T* d = dst.ptr<T>();
  pool.parallel_for(n * k_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t b = job / k_blocks;
      const int64_t k0 = (job % k_blocks) * k_block, k1 = std::min(cols, k0 + k_block);
      const T* sb = s + b * rows * cols;
      T* db = d + b * rows * cols;
      if (rows == 3) {
        // an RGB network input: the constant count lets the compiler keep the three rows in registers
        const T *p0 = sb, *p1 = sb + cols, *p2 = sb + 2 * cols;
        for (int64_t k = k0; k < k1; ++k) {
          db[k * 3] = p0[k];
          db[k * 3 + 1] = p1[k];
          db[k * 3 + 2] = p2[k];
        }
        continue;
      }
      if (rows <= 4) {
        // few rows: walk the destination in order, reading one element of each row
        for (int64_t k = k0; k < k1; ++k)
          for (int64_t r = 0; r < rows; ++r) db[k * rows + r] = sb[r * cols + k];
        continue;
      }
      // Square tiles keep both the reads and the writes within a few cache lines.
      for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
        const int64_t r1 = std::min(rows, r0 + kTile);
        for (int64_t c0 = k0; c0 < k1; c0 += kTile) {
          const int64_t c1 = std::min(k1, c0 + kTile);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t k = c0; k < c1; ++k) db[k * rows + r] = sb[r * cols + k];
        }
      }
    }
  });
}

}  // namespace

void convert_layout(const TensorRef& src, const TensorRef& dst, ThreadPool& pool) {
  switch (dtype_size(src.dtype)) {
    case 1: return transpose_images<uint8_t>(src, dst, pool);
    case 2: return transpose_images<uint16_t>(src, dst, pool);
    case 4: return transpose_images<uint32_t>(src, dst, pool);
    case 8: return transpose_images<uint64_t>(src, dst, pool);
    default: fail("layout conversion of dtype ", dtype_name(src.dtype), " is not supported");
  }
}

}  // namespace slim

namespace slim {

std::vector<CompiledNode> compile_graph(const Model& model, const kernels::KernelConfig& kernel_choice,
                                        size_t max_memory_bytes) {
  std::vector<CompiledNode> nodes;
  std::vector<std::string> unsupported;
  for (const ModelNode& node : model.nodes)
    if (find_op(node.op_type) == nullptr &&
        std::find(unsupported.begin(), unsupported.end(), node.op_type) == unsupported.end())
      unsupported.push_back(node.op_type);
  if (!unsupported.empty()) {
    std::string list, known;
    for (const auto& u : unsupported) list += (list.empty() ? "" : ", ") + u;
    for (const auto& kv : all_ops()) known += (known.empty() ? "" : ", ") + kv.first;
    fail("model uses unsupported op types: ", list, " (supported: ", known, ")");
  }
  for (const ModelNode& node : model.nodes) {
    const OpDef& def = *find_op(node.op_type);
    // the outer values its subgraphs read come after a node's own inputs and are not counted here
    const int ni = static_cast<int>(node.inputs.size() - node.attrs.captured_inputs());
    const int no = static_cast<int>(node.outputs.size());
    SLIM_CHECK(ni >= def.min_inputs() && ni <= def.max_inputs(), node.attrs.owner(), ": has ", ni,
               " inputs, ", node.op_type, " takes ", def.min_inputs(), "..", def.max_inputs());
    SLIM_CHECK(no >= def.min_outputs() && no <= def.max_outputs(), node.attrs.owner(), ": has ", no,
               " outputs, ", node.op_type, " produces ", def.min_outputs(), "..", def.max_outputs());
    // Only trailing inputs are optional (ONNX): the first min_inputs() must be present.
    for (int i = 0; i < std::min(ni, def.min_inputs()); ++i)
      SLIM_CHECK(node.inputs[static_cast<size_t>(i)] >= 0, node.attrs.owner(), ": input ", i, " is required");
    if (ni > 0 && node.inputs[0] >= 0) {
      const DType d = model.tensors[static_cast<size_t>(node.inputs[0])].dtype;
      SLIM_CHECK(def.supports_dtype(d), node.attrs.owner(), ": dtype ", dtype_name(d), " is not supported by ",
                 node.op_type);
    }
    CompiledNode cn;
    cn.node = &node;
    cn.def = &def;
    cn.kernel = &def.kernel_fn();
    if (def.prepare_fn()) {
      const FileInputs in = file_inputs(model, node);
      PrepareContext pctx{node.attrs, kernel_choice, in.ptrs, node.outputs.size()};
      pctx.max_memory_bytes = max_memory_bytes;
      cn.prepared = guard_internal(node.attrs, [&] { return def.prepare_fn()(pctx); });
      cn.kernel_isa = pctx.kernel_isa;
    }
    nodes.push_back(std::move(cn));
  }
  return nodes;
}

namespace {

alignas(64) uint8_t empty_tensor[64];

bool small_int(const TensorRef& r) {
  return (r.dtype == DType::kInt64 || r.dtype == DType::kInt32 || r.dtype == DType::kBool) && r.numel() <= 64;
}

void append_values(const TensorRef& r, std::vector<int64_t>& key) {
  const int64_t n = r.numel();
  for (int64_t i = 0; i < n; ++i) {
    switch (r.dtype) {
      case DType::kInt64: key.push_back(r.ptr<const int64_t>()[i]); break;
      case DType::kInt32: key.push_back(r.ptr<const int32_t>()[i]); break;
      case DType::kBool: key.push_back(r.ptr<const bool>()[i] ? 1 : 0); break;
      default: break;
    }
  }
}

}  // namespace

void execute(const Model& model, const std::vector<CompiledNode>& nodes, std::shared_ptr<const Plan> plan,
             std::vector<TensorRef> inputs, const ExecEnv& env, Execution& out) {
  ThreadPool& pool = *env.pool;
  for (;;) {
    out.plans.push_back(plan);
    std::shared_ptr<void> arena =
        env.take_arena ? env.take_arena(plan->arena_bytes) : aligned_buffer(plan->arena_bytes);
    out.arenas.emplace_back(plan->arena_bytes, arena);
    char* base = static_cast<char*>(arena.get());
    std::vector<TensorRef> refs(plan->slots.size());
    for (size_t id = 0; id < plan->slots.size(); ++id) {
      const Slot& s = plan->slots[id];
      void* data = nullptr;
      switch (s.kind) {
        case SlotKind::kArena: data = base + s.offset; break;
        case SlotKind::kInput:
          data = inputs.at(static_cast<size_t>(s.input_pos)).data;
          // An empty input may come without a buffer; kernels and memcpy want a pointer all the same.
          if (data == nullptr) data = empty_tensor;
          break;
        case SlotKind::kConstant: case SlotKind::kKnown: data = const_cast<void*>(s.data); break;
        case SlotKind::kDynamic: break;
      }
      refs[id] = TensorRef{data, s.dtype, s.shape, s.layout};
    }
    std::vector<double> step_ms(plan->steps.size(), 0.0);
    std::vector<TensorRef> ins, outs;
    for (size_t k = 0; k < plan->steps.size(); ++k) {
      const Step& step = plan->steps[k];
      const auto t0 = std::chrono::steady_clock::now();
      if (step.kind == StepKind::kNode) {
        ins.assign(step.inputs.size(), TensorRef{});
        for (size_t i = 0; i < step.inputs.size(); ++i)
          if (step.inputs[i] >= 0) ins[i] = refs[step.inputs[i]];
        outs.clear();
        for (int id : step.outputs) outs.push_back(refs[id]);
        const CompiledNode& cn = nodes[step.node];
        DynamicOutputs dyn;
        KernelContext ctx{cn.node->attrs, ins, outs, cn.prepared.get(), pool};
        if (step.dynamic) {
          for (int id : step.outputs) dyn.dynamic.push_back(plan->slots[id].kind == SlotKind::kDynamic);
          dyn.refs.resize(step.outputs.size());
          dyn.buffers.resize(step.outputs.size());
          dyn.max_bytes = env.max_memory_bytes;
          ctx.dynamic = &dyn;
        }
        guard_internal(cn.node->attrs, [&] { (*cn.kernel)(ctx); });
        for (size_t o = 0; step.dynamic && o < step.outputs.size(); ++o) {
          if (!dyn.dynamic[o]) continue;
          SLIM_CHECK(dyn.refs[o].data != nullptr, cn.node->attrs.owner(), ": internal error: dynamic output ", o,
                     " was not produced");
          refs[step.outputs[o]] = dyn.refs[o];
          out.hold.push_back(dyn.buffers[o]);
        }
      } else {
        convert_layout(refs[step.inputs[0]], refs[step.outputs[0]], pool);
      }
      step_ms[k] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    if (env.profile) env.profile(*plan, step_ms);
    if (plan->resume_node < 0) {
      for (int id : plan->output_slots) out.outputs.push_back(refs[static_cast<size_t>(id)]);
      if (env.keep_intermediates) {
        out.values.assign(model.tensors.size(), TensorRef{});
        for (size_t t = 0; t < plan->value_slots.size(); ++t)
          if (plan->value_slots[t] >= 0) out.values[t] = refs[static_cast<size_t>(plan->value_slots[t])];
      }
      return;
    }
    // The rest of the graph, planned for the shapes the dynamic outputs took.
    std::vector<TensorRef> carried;
    std::vector<PlanInput> pins;
    std::vector<int64_t> key;
    for (size_t k = 0; k < plan->carry_slots.size(); ++k) {
      const Slot& s = plan->slots[static_cast<size_t>(plan->carry_slots[k])];
      const TensorRef& r = refs[static_cast<size_t>(plan->carry_slots[k])];
      PlanInput pin{r.shape, nullptr, r.layout};
      if (s.kind == SlotKind::kKnown) pin.values = s.data;
      if (s.kind == SlotKind::kDynamic) {
        key.push_back(static_cast<int64_t>(r.shape.size()));
        key.insert(key.end(), r.shape.begin(), r.shape.end());
        // small integer results (a shape, a count) are planned by value, like small graph inputs
        if (small_int(r) && r.dtype != DType::kBool) {
          pin.values = r.data;
          append_values(r, key);
        }
      }
      carried.push_back(r);
      pins.push_back(pin);
    }
    std::shared_ptr<const Plan> next;
    {
      std::lock_guard<std::mutex> lk(plan->continuation_mu);
      for (auto it = plan->continuations.begin(); it != plan->continuations.end(); ++it)
        if (it->first == key) {
          plan->continuations.splice(plan->continuations.begin(), plan->continuations, it);
          next = it->second;
          break;
        }
    }
    if (!next) {
      next = build_plan(model, nodes, pins, pool, env.max_memory_bytes, env.keep_intermediates, plan->resume_node,
                        &plan->carry_tensors);
      std::lock_guard<std::mutex> lk(plan->continuation_mu);
      plan->continuations.emplace_front(std::move(key), next);
      // as the session's cache: a few shapes recur (batch sizes, detection counts), the rest are rebuilt
      if (plan->continuations.size() > 8) plan->continuations.pop_back();
    }
    inputs = std::move(carried);
    plan = std::move(next);
  }
}

GraphProgram::GraphProgram(std::shared_ptr<const Model> model, const kernels::KernelConfig& kernels,
                           size_t max_memory_bytes)
    : model_(std::move(model)), nodes_(compile_graph(*model_, kernels, max_memory_bytes)),
      max_memory_(max_memory_bytes) {}

std::shared_ptr<const Plan> GraphProgram::plan(const std::vector<PlanInput>& inputs, ThreadPool& pool) const {
  std::vector<int64_t> key;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const PlanInput& in = inputs[i];
    key.push_back(static_cast<int64_t>(in.shape.size()) * 2 + (in.values != nullptr ? 1 : 0));
    key.insert(key.end(), in.shape.begin(), in.shape.end());
    if (in.values != nullptr) {
      const DType d = model_->tensors[model_->inputs[i]].dtype;
      append_values(TensorRef{const_cast<void*>(in.values), d, in.shape, Layout::kPlain}, key);
    }
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = plans_.begin(); it != plans_.end(); ++it)
      if (it->first == key) {
        plans_.splice(plans_.begin(), plans_, it);
        return plans_.front().second;
      }
  }
  auto p = build_plan(*model_, nodes_, inputs, pool, max_memory_);
  std::lock_guard<std::mutex> lk(mu_);
  plans_.emplace_front(std::move(key), p);
  if (plans_.size() > 8) plans_.pop_back();
  return p;
}

void GraphProgram::run(const std::vector<TensorRef>& inputs, const std::vector<bool>& by_value, ThreadPool& pool,
                       Execution& out) const {
  std::vector<PlanInput> pins;
  for (size_t i = 0; i < inputs.size(); ++i)
    pins.push_back({inputs[i].shape, by_value[i] && small_int(inputs[i]) ? inputs[i].data : nullptr, Layout::kPlain});
  ExecEnv env;
  env.pool = &pool;
  env.max_memory_bytes = max_memory_;
  execute(*model_, nodes_, plan(pins, pool), inputs, env, out);
}

}  // namespace slim
