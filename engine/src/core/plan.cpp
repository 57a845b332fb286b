#include "core/plan.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/aligned.h"
#include "core/memory_planner.h"

namespace slim {

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

  std::shared_ptr<const Plan> build(const std::vector<PlanInput>& inputs) {
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
    for (size_t i = 0; i < model_.inputs.size(); ++i) {
      Slot s;
      s.kind = SlotKind::kInput;
      s.dtype = model_.tensors[model_.inputs[i]].dtype;
      s.shape = Shape(inputs[i].shape.begin(), inputs[i].shape.end());
      s.input_pos = static_cast<int>(i);
      if (inputs[i].values != nullptr) {
        const size_t bytes = storage_bytes(s.dtype, static_cast<size_t>(numel(s.shape)));
        auto buf = aligned_buffer(bytes);
        if (bytes > 0) std::memcpy(buf.get(), inputs[i].values, bytes);
        s.kind = SlotKind::kKnown;
        s.data = buf.get();
        s.bytes = bytes;
        plan_->owned.push_back(std::move(buf));
      }
      slot_of_[model_.inputs[i]][0] = add_slot(std::move(s));
    }
    for (size_t n = 0; n < nodes_.size(); ++n) add_node(static_cast<int>(n));
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

  void add_node(int index) {
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
    guard_internal(node.attrs, [&] { def.infer_fn()(ictx); });
    std::vector<int64_t> out_numel(node.outputs.size());
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      SLIM_CHECK(ictx.output_set(o), node.attrs.owner(), ": shape inference did not set output ", o);
      const ModelTensor& declared = model_.tensors[node.outputs[o]];
      // Every op downstream was bound (dtype support, prepared state) to the
      // declared dtype; data of another dtype would be read with the wrong width.
      SLIM_CHECK(ictx.output_dtype(o) == declared.dtype, node.attrs.owner(), ": output ", o, " '", declared.name,
                 "' is declared ", dtype_name(declared.dtype), " but the op produces ",
                 dtype_name(ictx.output_dtype(o)));
      int64_t n = 0;
      SLIM_CHECK(checked_numel(ictx.output_shape(o), kMaxElements, &n), node.attrs.owner(), ": output shape ",
                 shape_str(ictx.output_shape(o)), " is too large");
      const size_t bytes = storage_bytes(ictx.output_dtype(o), static_cast<size_t>(n));
      SLIM_CHECK(max_memory_ == 0 || bytes <= max_memory_, node.attrs.owner(), ": output ", o, " '",
                 declared.name, "' ", shape_str(ictx.output_shape(o)), " needs ", memory_str(bytes),
                 ", more than max_memory_bytes = ", memory_str(max_memory_));
      out_numel[o] = n;
    }
    const bool small = [&] {
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        const DType d = ictx.output_dtype(o);
        // bool too: the conditions of shape arithmetic (an expanded Attention picks a head count by Where)
        if (out_numel[o] > kMaxFoldElements || (d != DType::kInt64 && d != DType::kInt32 && d != DType::kBool))
          return false;
      }
      return true;
    }();
    if (def.is_foldable_from_shapes() || (def.is_foldable() && all_known && small)) {
      fold(index, in_refs, ictx);
      return;
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
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      Slot s;
      s.kind = SlotKind::kArena;
      s.dtype = ictx.output_dtype(o);
      s.shape = Shape(ictx.output_shape(o).begin(), ictx.output_shape(o).end());
      s.layout = s.shape.size() == 4 ? out_layout : Layout::kPlain;
      s.bytes = storage_bytes(s.dtype, static_cast<size_t>(out_numel[o]));
      const int sid = add_slot(std::move(s));
      slot_of_[node.outputs[o]][static_cast<int>(plan_->slots[sid].layout)] = sid;
      step.outputs.push_back(sid);
    }
    plan_->steps.push_back(std::move(step));
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
    if (keep_intermediates_) {
      for (size_t id = 0; id < plan_->slots.size(); ++id) last[id] = num_steps;
      plan_->value_slots.assign(model_.tensors.size(), -1);
      for (size_t t = 0; t < model_.tensors.size(); ++t) {
        const auto& pair = slot_of_[t];
        const int id = pair[0] >= 0 ? pair[0] : pair[1];
        const SlotKind kind = id >= 0 ? plan_->slots[id].kind : SlotKind::kConstant;
        if (kind == SlotKind::kArena || kind == SlotKind::kKnown) plan_->value_slots[t] = id;
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
    for (size_t i = 0; i < model_.inputs.size(); ++i) {
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
  std::shared_ptr<Plan> plan_;
  std::vector<std::array<int, 2>> slot_of_;  // tensor -> slot per layout (plain, NHWC)
};

}  // namespace

std::shared_ptr<const Plan> build_plan(const Model& model, const std::vector<CompiledNode>& nodes,
                                       const std::vector<PlanInput>& inputs, ThreadPool& pool,
                                       size_t max_memory_bytes, bool keep_intermediates) {
  return PlanBuilder(model, nodes, pool, max_memory_bytes, keep_intermediates).build(inputs);
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
