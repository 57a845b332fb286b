// slim::Session: binds a loaded model to op definitions (once), then serves
// runs from a per-input-shape plan cache. Runs share only immutable state
// (model, compiled nodes, plans); each run has its own arena and tensor refs.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include "core/aligned.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/loader.h"
#include "core/plan.h"

namespace slim {

namespace {

constexpr size_t kPlanCacheSize = 8;
// Integer graph inputs up to this many elements are planned by value (see
// PlanInput); larger ones are data, and keying plans on data would thrash the cache.
constexpr int64_t kMaxValueKeyElements = 64;

std::vector<TensorInfo> describe(const Model& m, const std::vector<uint32_t>& ids) {
  std::vector<TensorInfo> out;
  for (uint32_t id : ids) {
    const ModelTensor& t = m.tensors[id];
    out.push_back({t.name, t.dtype, t.shape, t.dim_names});
  }
  return out;
}

}  // namespace

struct Session::Impl {
  Model model;
  Options options;
  Isa isa;
  std::vector<CompiledNode> nodes;
  std::vector<TensorInfo> input_info, output_info;
  std::unique_ptr<ThreadPool> pool;

  std::mutex plan_mu;
  std::list<std::pair<std::vector<int64_t>, std::shared_ptr<const Plan>>> plans;  // most recent first
  size_t last_arena = 0, last_naive = 0, last_live_peak = 0;

  std::mutex arena_mu;
  std::vector<std::pair<size_t, std::shared_ptr<void>>> spare_arenas;

  std::mutex profile_mu;
  std::vector<OpProfile> profile;
  std::unordered_map<std::string, size_t> profile_index;

  Impl(Model m, const Options& opts) : model(std::move(m)), options(opts) {
    SLIM_CHECK(options.threads >= 1 && options.threads <= kMaxThreads, "threads must be in 1..", kMaxThreads,
               ", got ", options.threads);
    SLIM_CHECK(options.max_memory_bytes == 0 || model.weights_bytes <= options.max_memory_bytes,
               "model needs ", memory_str(model.weights_bytes), " for its weights, more than max_memory_bytes = ",
               memory_str(options.max_memory_bytes));
    isa = resolve_isa(options.isa);
    input_info = describe(model, model.inputs);
    output_info = describe(model, model.outputs);
    pool = std::make_unique<ThreadPool>(options.threads);
    fold_constant_dequantize();
    compile_nodes();
  }

  // A DequantizeLinear of a constant is the 8-bit weight of a layer that runs in float (QUANTIZED.md): it is
  // computed once here, so the file keeps the weight in 8 bits while the float op sees a float32 constant,
  // as its prepare() requires (weights are packed at load), and no run pays for it.
  void fold_constant_dequantize() {
    const kernels::KernelConfig& kernel_choice = kernels::kernel_config(isa);
    const OpDef* def = find_op("DequantizeLinear");
    std::vector<bool> is_output(model.tensors.size(), false);
    for (uint32_t t : model.outputs) is_output[t] = true;
    std::vector<ModelNode> kept;
    kept.reserve(model.nodes.size());
    for (ModelNode& node : model.nodes) {
      bool constant = def != nullptr && node.op_type == "DequantizeLinear" && node.outputs.size() == 1 &&
                      !node.inputs.empty() && !is_output[node.outputs[0]];
      for (int32_t in : node.inputs)
        constant = constant && (in < 0 || model.tensors[static_cast<size_t>(in)].kind == TensorKind::kConstant);
      if (!constant) {
        kept.push_back(std::move(node));
        continue;
      }
      const FileInputs in = file_inputs(model, node);
      const std::vector<TensorRef>& refs = in.refs;
      const std::vector<const TensorRef*>& ptrs = in.ptrs;
      SLIM_CHECK(def->supports_dtype(refs[0].dtype), node.attrs.owner(), ": dtype ", dtype_name(refs[0].dtype),
                 " is not supported by DequantizeLinear");
      InferContext ictx(node.attrs, ptrs, 1);
      guard_internal(node.attrs, [&] { def->infer_fn()(ictx); });
      ModelTensor& out = model.tensors[node.outputs[0]];
      SLIM_CHECK(ictx.output_set(0) && ictx.output_dtype(0) == out.dtype, node.attrs.owner(),
                 ": output dtype does not match its tensor entry");
      const Shape shape = ictx.output_shape(0);
      const size_t bytes = storage_bytes(out.dtype, static_cast<size_t>(numel(shape)));
      SLIM_CHECK(options.max_memory_bytes == 0 || model.weights_bytes + bytes <= options.max_memory_bytes,
                 "model needs more than max_memory_bytes = ", memory_str(options.max_memory_bytes),
                 " for its weights once ", node.attrs.owner(), " is dequantized");
      auto buf = aligned_buffer(bytes);
      std::vector<TensorRef> outs{TensorRef{buf.get(), out.dtype, shape, Layout::kPlain}};
      PrepareContext pctx{node.attrs, kernel_choice, ptrs, 1};
      std::shared_ptr<void> prepared;
      if (def->prepare_fn()) prepared = guard_internal(node.attrs, [&] { return def->prepare_fn()(pctx); });
      KernelContext kctx{node.attrs, refs, outs, prepared.get(), *pool};
      if (bytes > 0) guard_internal(node.attrs, [&] { def->kernel_fn()(kctx); });
      out.kind = TensorKind::kConstant;
      out.shape = shape;
      out.dim_names.assign(shape.size(), "");
      out.data = buf.get();
      out.storage_dtype = out.dtype;
      model.weights_bytes += bytes;
      model.owned.push_back(std::move(buf));
    }
    model.nodes = std::move(kept);
  }

  void compile_nodes() {
    // Every node picks its kernels from this one choice, made once per session.
    nodes = compile_graph(model, kernels::kernel_config(isa), options.max_memory_bytes);
  }

  // Checks the caller's inputs against the model; returns them in model order.
  std::vector<PlanInput> check_inputs(const std::map<std::string, TensorView>& given) const {
    for (const auto& kv : given) {
      const bool ok = std::any_of(input_info.begin(), input_info.end(),
                                  [&](const TensorInfo& i) { return i.name == kv.first; });
      if (!ok) {
        std::string names;
        for (const auto& i : input_info) names += (names.empty() ? "" : ", ") + i.name;
        fail("unknown input name '", kv.first, "' (model inputs: ", names, ")");
      }
    }
    std::vector<PlanInput> shapes;
    std::map<std::string, int64_t> symbols;
    for (const TensorInfo& info : input_info) {
      auto it = given.find(info.name);
      SLIM_CHECK(it != given.end(), "missing input '", info.name, "'");
      const TensorView& v = it->second;
      SLIM_CHECK(v.dtype == info.dtype, "input '", info.name, "' has dtype ", dtype_name(v.dtype),
                 ", the model expects ", dtype_name(info.dtype));
      SLIM_CHECK(v.shape.size() == info.shape.size(), "input '", info.name, "' has rank ", v.shape.size(),
                 " (shape ", shape_str(v.shape), "), the model expects rank ", info.shape.size(), " ",
                 shape_str(info.shape));
      for (size_t d = 0; d < v.shape.size(); ++d) {
        SLIM_CHECK(v.shape[d] >= 0, "input '", info.name, "' has a negative dim: ", shape_str(v.shape));
        if (info.shape[d] >= 0) {
          SLIM_CHECK(v.shape[d] == info.shape[d], "input '", info.name, "' has shape ", shape_str(v.shape),
                     ", the model expects ", shape_str(info.shape), " (dim ", d, " must be ", info.shape[d], ")");
        } else if (!info.dim_names[d].empty()) {
          auto [pos, fresh] = symbols.emplace(info.dim_names[d], v.shape[d]);
          SLIM_CHECK(fresh || pos->second == v.shape[d], "input '", info.name, "' dim ", d, " ('",
                     info.dim_names[d], "') is ", v.shape[d], " but another input set it to ", pos->second);
        }
      }
      int64_t n = 0;
      SLIM_CHECK(checked_numel(v.shape, int64_t(1) << 40, &n), "input '", info.name, "' shape ",
                 shape_str(v.shape), " is too large");
      SLIM_CHECK(n == 0 || v.data != nullptr, "input '", info.name, "' has no data");
      const bool by_value = (v.dtype == DType::kInt64 || v.dtype == DType::kInt32) && n <= kMaxValueKeyElements;
      shapes.push_back({v.shape, by_value ? v.data : nullptr});
    }
    return shapes;
  }

  std::shared_ptr<const Plan> plan_for(const std::vector<PlanInput>& inputs) {
    std::vector<int64_t> key;
    for (const PlanInput& in : inputs) {
      key.push_back(static_cast<int64_t>(in.shape.size()));
      key.insert(key.end(), in.shape.begin(), in.shape.end());
      if (in.values == nullptr) continue;
      const int64_t n = numel(in.shape);
      // The dtype is fixed per input, so the element width is implied by the position.
      for (int64_t i = 0; i < n; ++i) {
        int64_t v = 0;
        if (input_info[&in - inputs.data()].dtype == DType::kInt64) {
          std::memcpy(&v, static_cast<const int64_t*>(in.values) + i, sizeof v);
        } else {
          int32_t w = 0;
          std::memcpy(&w, static_cast<const int32_t*>(in.values) + i, sizeof w);
          v = w;
        }
        key.push_back(v);
      }
    }
    std::lock_guard<std::mutex> lk(plan_mu);
    for (auto it = plans.begin(); it != plans.end(); ++it) {
      if (it->first == key) {
        plans.splice(plans.begin(), plans, it);
        remember_memory(*plans.front().second);
        return plans.front().second;
      }
    }
    auto plan = build_plan(model, nodes, inputs, *pool, options.max_memory_bytes, options.keep_intermediates);
    plans.emplace_front(std::move(key), plan);
    if (plans.size() > kPlanCacheSize) plans.pop_back();
    remember_memory(*plan);
    return plan;
  }

  void remember_memory(const Plan& p) {
    last_arena = p.arena_bytes;
    last_naive = p.naive_bytes;
    last_live_peak = p.live_peak_bytes;
  }

  std::shared_ptr<void> take_arena(size_t bytes) {
    {
      std::lock_guard<std::mutex> lk(arena_mu);
      for (auto it = spare_arenas.begin(); it != spare_arenas.end(); ++it) {
        if (it->first >= bytes) {
          auto buf = std::move(it->second);
          spare_arenas.erase(it);
          return buf;
        }
      }
    }
    return aligned_buffer(bytes);
  }

  void give_arena(size_t bytes, std::shared_ptr<void> buf) {
    std::lock_guard<std::mutex> lk(arena_mu);
    // One spare per concurrent caller is plenty; drop the smallest beyond that.
    spare_arenas.emplace_back(bytes, std::move(buf));
    std::sort(spare_arenas.begin(), spare_arenas.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    if (spare_arenas.size() > 4) spare_arenas.pop_back();
  }

  // A requested name: a graph output (>= 0, its position) or, with keep_intermediates, a value a node
  // computes (-1 - its tensor index).
  int64_t find_output(const std::string& n) const {
    for (size_t i = 0; i < output_info.size(); ++i)
      if (output_info[i].name == n) return static_cast<int64_t>(i);
    for (size_t t = 0; options.keep_intermediates && t < model.tensors.size(); ++t)
      if (model.tensors[t].name == n && model.tensors[t].kind == TensorKind::kValue) return -1 - static_cast<int64_t>(t);
    std::string all;
    for (const auto& o : output_info) all += (all.empty() ? "" : ", ") + o.name;
    bool intermediate = false;
    for (const auto& t : model.tensors) intermediate |= t.name == n && t.kind == TensorKind::kValue;
    if (intermediate)
      fail("'", n, "' is an intermediate value, not a model output: open the session with keep_intermediates to "
           "read it (model outputs: ", all, ")");
    fail("unknown output name '", n, "' (model outputs: ", all, ")");
  }

  std::vector<Tensor> run(const std::map<std::string, TensorView>& given, const std::vector<std::string>& names) {
    std::vector<int64_t> wanted;
    if (names.empty()) {
      for (size_t i = 0; i < output_info.size(); ++i) wanted.push_back(static_cast<int64_t>(i));
    } else {
      for (const std::string& n : names) wanted.push_back(find_output(n));
    }
    const std::vector<PlanInput> inputs = check_inputs(given);
    DenormalsFlushScope flush;
    const std::shared_ptr<const Plan> plan = plan_for(inputs);
    std::vector<TensorRef> refs;
    for (size_t i = 0; i < input_info.size(); ++i) {
      const TensorView& v = given.at(input_info[i].name);
      refs.push_back(TensorRef{const_cast<void*>(v.data), v.dtype, v.shape, Layout::kPlain});
    }
    ExecEnv env;
    env.pool = pool.get();
    env.max_memory_bytes = options.max_memory_bytes;
    env.keep_intermediates = options.keep_intermediates;
    env.take_arena = [this](size_t bytes) { return take_arena(bytes); };
    env.profile = [this](const Plan& p, const std::vector<double>& ms) { record_profile(p, ms); };
    Execution exec;
    execute(model, nodes, plan, std::move(refs), env, exec);
    std::vector<Tensor> results;
    for (int64_t w : wanted) {
      TensorRef r;
      if (w >= 0) {
        r = exec.outputs[static_cast<size_t>(w)];
      } else {
        r = exec.values[static_cast<size_t>(-1 - w)];
        SLIM_CHECK(r.data != nullptr, "'", model.tensors[static_cast<size_t>(-1 - w)].name,
                   "' is not computed by this plan (an omitted output or a value the plan folded away)");
      }
      Tensor t;
      t.dtype = r.dtype;
      t.shape = r.shape;
      t.bytes = r.bytes();
      t.storage = aligned_buffer(t.bytes);
      t.data = t.storage.get();
      if (r.layout == Layout::kNhwc && r.shape.size() == 4 && t.bytes > 0) {
        // intermediates are returned as ONNX defines them, whatever layout the engine chose
        convert_layout(r, TensorRef{t.data, r.dtype, r.shape, Layout::kPlain}, *pool);
      } else if (t.bytes > 0) {
        std::memcpy(t.data, r.data, t.bytes);
      }
      results.push_back(std::move(t));
    }
    for (auto& a : exec.arenas) give_arena(a.first, std::move(a.second));
    if (exec.plans.size() > 1) {
      // run-time shapes: every segment's arena lived until the end of the run (FORMAT.md)
      size_t arena = 0, naive = 0;
      for (const auto& p : exec.plans) {
        arena += p->arena_bytes;
        naive += p->naive_bytes;
      }
      std::lock_guard<std::mutex> lk(plan_mu);
      last_arena = arena;
      last_naive = naive;
    }
    return results;
  }

  void record_profile(const Plan& plan, const std::vector<double>& step_ms) {
    std::lock_guard<std::mutex> lk(profile_mu);
    for (size_t k = 0; k < plan.steps.size(); ++k) {
      const Step& s = plan.steps[k];
      auto [it, fresh] = profile_index.emplace(s.name, profile.size());
      if (fresh) profile.push_back({s.name, s.op_type, s.kernel, 0, 0.0});
      OpProfile& p = profile[it->second];
      p.calls += 1;
      p.total_ms += step_ms[k];
    }
  }
};

Session::Session(const std::string& path, const Options& options)
    : impl_(std::make_unique<Impl>(load_model_file(path), options)) {}

Session::Session(const void* data, size_t size, const Options& options)
    : impl_(std::make_unique<Impl>(load_model_bytes(data, size), options)) {}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

const std::vector<TensorInfo>& Session::inputs() const { return impl_->input_info; }
const std::vector<TensorInfo>& Session::outputs() const { return impl_->output_info; }

std::vector<Tensor> Session::run(const std::map<std::string, TensorView>& inputs,
                                 const std::vector<std::string>& output_names) {
  return impl_->run(inputs, output_names);
}

const std::vector<std::pair<std::string, std::string>>& Session::metadata() const { return impl_->model.meta; }

std::vector<OpProfile> Session::profile() const {
  std::lock_guard<std::mutex> lk(impl_->profile_mu);
  return impl_->profile;
}

void Session::reset_profile() {
  std::lock_guard<std::mutex> lk(impl_->profile_mu);
  impl_->profile.clear();
  impl_->profile_index.clear();
}

MemoryInfo Session::memory() const {
  std::lock_guard<std::mutex> lk(impl_->plan_mu);
  return {impl_->last_arena, impl_->last_naive, impl_->model.weights_bytes, impl_->last_live_peak};
}

std::string Session::isa() const { return isa_name(impl_->isa); }
int Session::threads() const { return impl_->pool->threads(); }

std::vector<std::string> available_isas() {
  std::vector<std::string> out;
  for (Isa i : isas_up_to(kernels::cpu_isa())) out.push_back(isa_name(i));
  return out;
}

std::map<std::string, std::vector<std::string>> supported_ops() {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& kv : all_ops()) {
    auto& v = out[kv.first];
    for (DType d : kv.second.dtypes()) v.push_back(dtype_name(d));
  }
  return out;
}

const char* version() { return SLIMLAB_VERSION; }

}  // namespace slim
