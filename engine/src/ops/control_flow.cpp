// If, Loop, Scan (ONNX opset 16+ semantics, as at opset 17). Their subgraphs (graph attributes,
// FORMAT.md) run through the same planner and executor as the model: each is a GraphProgram with a
// plan per signature of its input shapes. The outer values a subgraph reads are extra inputs of the
// node (the loader appends them), so the outer plan keeps them alive until the node runs.
//
// Shapes: inference plans the subgraph for the shapes it will see. When that fixes every output's
// shape (an If whose condition is known at plan time, or whose branches agree; a Loop whose trip
// count is known and whose state keeps its shape; a Scan), the outputs are planned as usual. When
// it does not (a data-dependent trip count or branch), the outputs are declared dynamic and
// allocated here at run time (FORMAT.md "Run-time shapes").
#include <atomic>
#include <cstring>
#include <limits>

#include "core/aligned.h"
#include "core/plan.h"
#include "ops/common.h"

namespace slim {
namespace {

// ONNX puts no bound on a Loop (a trip count of 2^63 - 1 with a condition is how exporters write a
// while loop), but a model file is untrusted input: a hostile trip count must not keep a run busy for
// ever. Decoding and detection loops run thousands of iterations; a body of small ops costs
// microseconds, so this bounds a run to seconds.
constexpr int64_t kMaxIterations = int64_t(1) << 20;

// Nested loops multiply (2^20 outer iterations of a 2^20-iteration inner loop), so the limit holds for
// the outermost Loop or Scan running on this thread and every one inside it together. A body runs on
// the thread of the node that runs it, so a thread-local count sees the whole nest.
thread_local int64_t t_iterations_left = -1;

class IterationBudget {
 public:
  IterationBudget() : outermost_(t_iterations_left < 0) {
    if (outermost_) t_iterations_left = kMaxIterations;
  }
  ~IterationBudget() {
    if (outermost_) t_iterations_left = -1;
  }
  IterationBudget(const IterationBudget&) = delete;
  IterationBudget& operator=(const IterationBudget&) = delete;
  void take(const KernelContext& ctx) const {
    SLIM_CHECK(t_iterations_left > 0, ctx.attrs.owner(), ": runs more than ", kMaxIterations,
               " iterations (with the loops around it), the engine's limit (FORMAT.md \"Control flow\")");
    --t_iterations_left;
  }

 private:
  bool outermost_;
};

// A copy the op owns: a subgraph's outputs live in its arena, which the next run reuses.
struct Owned {
  std::shared_ptr<void> buf;
  TensorRef ref;
};

Owned copy_of(const TensorRef& r) {
  Owned o;
  o.buf = aligned_buffer(r.bytes() > 0 ? r.bytes() : 64);
  o.ref = TensorRef{o.buf.get(), r.dtype, r.shape, Layout::kPlain};
  if (r.bytes() > 0) std::memcpy(o.buf.get(), r.data, r.bytes());
  return o;
}

size_t elem_bytes(DType d) { return storage_bytes(d, 1); }

int64_t prod(const Shape& s, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= s[i];
  return n;
}

// Element `idx` of `in` along `axis`, as a tensor of one rank less.
Owned slice_of(const TensorRef& in, int axis, int64_t idx) {
  Shape s = in.shape;
  const int64_t count = s[static_cast<size_t>(axis)];
  s.erase(s.begin() + axis);
  Owned o;
  const size_t bytes = storage_bytes(in.dtype, static_cast<size_t>(numel(s)));
  o.buf = aligned_buffer(bytes > 0 ? bytes : 64);
  o.ref = TensorRef{o.buf.get(), in.dtype, s, Layout::kPlain};
  const int64_t outer = prod(in.shape, 0, static_cast<size_t>(axis));
  const size_t inner = static_cast<size_t>(prod(in.shape, static_cast<size_t>(axis) + 1, in.shape.size())) *
                       elem_bytes(in.dtype);
  const char* src = static_cast<const char*>(in.data);
  char* dst = static_cast<char*>(o.buf.get());
  for (int64_t k = 0; k < outer && inner > 0; ++k)
    std::memcpy(dst + static_cast<size_t>(k) * inner,
                src + (static_cast<size_t>(k * count + idx)) * inner, inner);
  return o;
}

// Per-iteration tensors (one shape) stacked along `axis` of `out` (reversed for direction 1).
void stack_into(const std::vector<Owned>& items, int axis, bool reverse, const TensorRef& out) {
  const int64_t count = static_cast<int64_t>(items.size());
  if (count == 0) return;
  const Shape& s = items[0].ref.shape;
  const int64_t outer = prod(s, 0, static_cast<size_t>(axis));
  const size_t inner = static_cast<size_t>(prod(s, static_cast<size_t>(axis), s.size())) * elem_bytes(out.dtype);
  char* dst = static_cast<char*>(out.data);
  for (int64_t t = 0; t < count && inner > 0; ++t) {
    const int64_t pos = reverse ? count - 1 - t : t;
    const char* src = static_cast<const char*>(items[static_cast<size_t>(t)].ref.data);
    for (int64_t k = 0; k < outer; ++k)
      std::memcpy(dst + static_cast<size_t>(k * count + pos) * inner, src + static_cast<size_t>(k) * inner, inner);
  }
}

Shape inserted(Shape s, int axis, int64_t dim) {
  s.insert(s.begin() + axis, dim);
  return s;
}

// Small integer values are planned by value (as the session plans small graph inputs), so a
// subgraph's Reshape can read a captured shape.
bool small_int(const TensorRef& r) {
  return (r.dtype == DType::kInt64 || r.dtype == DType::kInt32 || r.dtype == DType::kBool) && r.numel() <= 64;
}

std::shared_ptr<const Model> graph_attr(const Attributes& attrs, const char* name) {
  attrs.get_graph(name);  // a missing or mistyped attribute is an error naming the node
  return attrs.all().at(name).graph;
}

DType declared_dtype(const Model& g, uint32_t tensor) { return g.tensors[tensor].dtype; }

// Inputs of a subgraph: its formal inputs, then the node inputs it captures.
template <typename Ref>
void add_captures(const Model& g, const std::vector<Ref>& node_inputs, std::vector<Ref>& sub_inputs) {
  for (size_t pos : g.capture_input) sub_inputs.push_back(node_inputs[pos]);
}

// Plans a subgraph at inference; captured values known at plan time are planned by value.
std::shared_ptr<const Plan> plan_subgraph(const InferContext& c, const GraphProgram& prog,
                                          std::vector<PlanInput> formal) {
  for (size_t pos : prog.model().capture_input) {
    const TensorRef* v = c.input_value(pos);
    formal.push_back({c.input_shape(pos), v != nullptr && small_int(*v) ? v->data : nullptr, Layout::kPlain});
  }
  return prog.plan(formal, c.pool());
}

void run_subgraph(const KernelContext& ctx, const GraphProgram& prog, std::vector<TensorRef> formal,
                  std::vector<bool> by_value, Execution& ex) {
  add_captures(prog.model(), ctx.inputs, formal);
  by_value.resize(formal.size(), true);
  prog.run(formal, by_value, ctx.pool, ex);
}

bool plan_complete(const Plan& p) { return p.resume_node < 0; }
const Slot& out_slot(const Plan& p, size_t i) { return p.slots[static_cast<size_t>(p.output_slots[i])]; }
bool slot_known(const Slot& s) { return s.kind == SlotKind::kConstant || s.kind == SlotKind::kKnown; }

// Writes a computed result into node output i: the planned buffer (its shape must be the planned
// one) or, for a dynamic output, a buffer allocated now.
void emit(const KernelContext& ctx, size_t i, const TensorRef& value) {
  SLIM_CHECK(value.dtype == ctx.outputs[i].dtype, ctx.attrs.owner(), ": output ", i, " is ",
             dtype_name(value.dtype), " at run time, ", dtype_name(ctx.outputs[i].dtype), " as declared");
  TensorRef dst = ctx.outputs[i];
  if (ctx.output_dynamic(i)) {
    dst = ctx.allocate_output(i, value.shape);
  } else {
    SLIM_CHECK(dst.shape == value.shape, ctx.attrs.owner(), ": output ", i, " has shape ", shape_str(value.shape),
               " at run time, the plan has ", shape_str(dst.shape));
  }
  if (value.bytes() > 0) std::memcpy(dst.data, value.data, value.bytes());
}

// ---- If ---------------------------------------------------------------------------------------

struct IfState {
  std::unique_ptr<GraphProgram> then_branch, else_branch;
};

std::shared_ptr<void> prepare_if(PrepareContext& c) {
  auto st = std::make_shared<IfState>();
  auto then_g = graph_attr(c.attrs, "then_branch");
  auto else_g = graph_attr(c.attrs, "else_branch");
  const size_t outs = c.num_outputs;
  if (c.inputs.size() - c.attrs.captured_inputs() != 1) c.error("takes exactly one input (cond)");
  if (then_g->num_formal_inputs != 0 || else_g->num_formal_inputs != 0) c.error("a branch has formal inputs");
  if (then_g->outputs.size() != outs || else_g->outputs.size() != outs)
    c.error("then_branch has ", then_g->outputs.size(), " outputs and else_branch ", else_g->outputs.size(),
            ", the node has ", outs);
  for (size_t i = 0; i < outs; ++i) {
    const DType a = declared_dtype(*then_g, then_g->outputs[i]), b = declared_dtype(*else_g, else_g->outputs[i]);
    if (a != b) c.error("branches disagree on the dtype of output ", i, ": ", dtype_name(a), " vs ", dtype_name(b));
  }
  st->then_branch = std::make_unique<GraphProgram>(then_g, c.kernels, c.max_memory_bytes);
  st->else_branch = std::make_unique<GraphProgram>(else_g, c.kernels, c.max_memory_bytes);
  return st;
}

void check_cond(const InferContext& c, size_t i, const char* what) {
  require_dtype(c, i, {DType::kBool}, what);
  if (numel(c.input_shape(i)) != 1) c.error(what, " must hold one value, has shape ", shape_str(c.input_shape(i)));
}

void infer_if(InferContext& c) {
  const auto& st = c.state<IfState>();
  check_cond(c, 0, "cond");
  const TensorRef* cond = c.input_value(0);
  if (cond != nullptr) {
    // known at plan time: only the branch taken is planned
    const GraphProgram& g = *cond->ptr<const bool>() ? *st.then_branch : *st.else_branch;
    auto p = plan_subgraph(c, g, {});
    for (size_t i = 0; i < c.num_outputs(); ++i) {
      if (!plan_complete(*p)) {
        c.set_output_dynamic(i, declared_dtype(g.model(), g.model().outputs[i]));
        continue;
      }
      const Slot& s = out_slot(*p, i);
      c.set_output(i, s.dtype, s.shape);
    }
    return;
  }
  auto a = plan_subgraph(c, *st.then_branch, {});
  auto b = plan_subgraph(c, *st.else_branch, {});
  for (size_t i = 0; i < c.num_outputs(); ++i) {
    const DType d = declared_dtype(st.then_branch->model(), st.then_branch->model().outputs[i]);
    if (plan_complete(*a) && plan_complete(*b) && out_slot(*a, i).shape == out_slot(*b, i).shape) {
      c.set_output(i, out_slot(*a, i).dtype, out_slot(*a, i).shape);
      if (out_slot(*b, i).dtype != out_slot(*a, i).dtype) c.error("branches disagree on the dtype of output ", i);
    } else {
      c.set_output_dynamic(i, d);  // the branch taken at run time decides
    }
  }
}

void if_kernel(const KernelContext& ctx) {
  const auto& st = ctx.state<IfState>();
  const GraphProgram& g = *ctx.inputs[0].ptr<const bool>() ? *st.then_branch : *st.else_branch;
  Execution ex;
  run_subgraph(ctx, g, {}, {}, ex);
  for (size_t i = 0; i < ctx.outputs.size(); ++i) emit(ctx, i, ex.outputs[i]);
}

// ---- Loop -------------------------------------------------------------------------------------

struct LoopState {
  std::unique_ptr<GraphProgram> body;
  size_t carried = 0, scans = 0;
  size_t max_memory = 0;
  // Set when the body cannot be planned without the iteration number's value (a Slice from i, as in
  // ONNX's own Loop example): from then on each iteration is planned by its number (the body's plan
  // cache keeps the last 8), and the Loop's outputs are dynamic.
  mutable std::atomic<bool> iter_by_value{false};
};

std::shared_ptr<void> prepare_loop(PrepareContext& c) {
  auto st = std::make_shared<LoopState>();
  auto body = graph_attr(c.attrs, "body");
  const size_t explicit_inputs = c.inputs.size() - c.attrs.captured_inputs();
  if (explicit_inputs < 2) c.error("needs inputs M and cond (each may be omitted, \"\"), has ", explicit_inputs);
  st->carried = explicit_inputs - 2;
  if (c.num_outputs < st->carried)
    c.error("has ", c.num_outputs, " outputs, fewer than its ", st->carried, " loop-carried values");
  st->scans = c.num_outputs - st->carried;
  if (body->num_formal_inputs != 2 + st->carried)
    c.error("body has ", body->num_formal_inputs, " inputs, expected ", 2 + st->carried,
            " (iteration number, condition, ", st->carried, " loop-carried values)");
  if (body->outputs.size() != 1 + st->carried + st->scans)
    c.error("body has ", body->outputs.size(), " outputs, expected ", 1 + st->carried + st->scans,
            " (condition, ", st->carried, " loop-carried values, ", st->scans, " scan outputs)");
  if (c.has_input(0) && c.inputs[0]->dtype != DType::kInt64)
    c.error("trip count M must be int64, is ", dtype_name(c.inputs[0]->dtype));
  if (c.has_input(1) && c.inputs[1]->dtype != DType::kBool)
    c.error("condition must be bool, is ", dtype_name(c.inputs[1]->dtype));
  if (declared_dtype(*body, body->inputs[0]) != DType::kInt64) c.error("body input 0 (iteration number) must be int64");
  if (declared_dtype(*body, body->inputs[1]) != DType::kBool) c.error("body input 1 (condition) must be bool");
  if (declared_dtype(*body, body->outputs[0]) != DType::kBool) c.error("body output 0 (condition) must be bool");
  for (size_t j = 0; j < st->carried; ++j) {
    const DType in = c.has_input(2 + j) ? c.inputs[2 + j]->dtype : DType::kUndefined;
    if (!c.has_input(2 + j)) c.error("loop-carried input ", j, " is omitted");
    if (declared_dtype(*body, body->inputs[2 + j]) != in || declared_dtype(*body, body->outputs[1 + j]) != in)
      c.error("loop-carried value ", j, " is ", dtype_name(in), " but the body reads it as ",
              dtype_name(declared_dtype(*body, body->inputs[2 + j])), " and returns ",
              dtype_name(declared_dtype(*body, body->outputs[1 + j])));
  }
  st->max_memory = c.max_memory_bytes;
  st->body = std::make_unique<GraphProgram>(body, c.kernels, c.max_memory_bytes);
  return st;
}

const bool kTrue = true;
const int64_t kFirstIteration = 0;

void infer_loop(InferContext& c) {
  const auto& st = c.state<LoopState>();
  const Model& body = st.body->model();
  int64_t trip = std::numeric_limits<int64_t>::max();
  bool trip_known = !c.has_input(0);
  if (c.has_input(0)) {
    require_dtype(c, 0, {DType::kInt64}, "trip count M");
    if (numel(c.input_shape(0)) != 1) c.error("trip count M must hold one value, has shape ", shape_str(c.input_shape(0)));
    if (const TensorRef* m = c.input_value(0)) {
      trip = *m->ptr<const int64_t>();
      if (trip < 0) c.error("trip count M is ", trip, ", negative");
      trip_known = true;
    }
  }
  int cond0 = 1;  // 1 true, 0 false, -1 unknown
  if (c.has_input(1)) {
    check_cond(c, 1, "condition");
    const TensorRef* v = c.input_value(1);
    cond0 = v == nullptr ? -1 : (*v->ptr<const bool>() ? 1 : 0);
  }
  // The body only ever runs with its condition input true: planning it by that value is exact.
  std::vector<PlanInput> formal{{Shape{}, nullptr, Layout::kPlain}, {Shape{}, &kTrue, Layout::kPlain}};
  for (size_t j = 0; j < st.carried; ++j) formal.push_back({c.input_shape(2 + j), nullptr, Layout::kPlain});
  std::shared_ptr<const Plan> p;
  bool by_iteration = st.iter_by_value.load();
  if (!by_iteration) {
    try {
      p = plan_subgraph(c, *st.body, formal);
    } catch (const Error&) {
      by_iteration = true;  // perhaps it needs the iteration number: tried below, which rethrows if not
    }
  }
  if (by_iteration) {
    formal[0].values = &kFirstIteration;
    p = plan_subgraph(c, *st.body, formal);
    st.iter_by_value.store(true);
  }
  const bool complete = plan_complete(*p) && !by_iteration;
  int cond_out = -1;
  bool stable = complete;
  if (complete) {
    const Slot& s = out_slot(*p, 0);
    if (numel(s.shape) != 1) c.error("body condition output must hold one value, has shape ", shape_str(s.shape));
    if (slot_known(s)) cond_out = *static_cast<const bool*>(s.data) ? 1 : 0;
    for (size_t j = 0; j < st.carried; ++j) stable = stable && out_slot(*p, 1 + j).shape == c.input_shape(2 + j);
  }
  if (!c.has_input(0) && cond0 == 1 && cond_out == 1) c.error("loop without a trip count never ends (condition always true)");
  // the number of iterations, when plan time knows it
  int64_t iterations = -1;
  if (cond0 == 0 || (trip_known && trip == 0)) {
    iterations = 0;
  } else if (cond0 == 1 && c.has_input(0) && trip_known && cond_out == 1) {
    iterations = trip;
  } else if (cond0 == 1 && cond_out == 0) {
    iterations = 1;
  }
  for (size_t j = 0; j < st.carried; ++j) {
    const DType d = declared_dtype(body, body.inputs[2 + j]);
    if (iterations == 0) {
      c.set_output(j, d, c.input_shape(2 + j));
    } else if (complete && (stable || iterations == 1)) {
      c.set_output(j, d, out_slot(*p, 1 + j).shape);
    } else {
      c.set_output_dynamic(j, d);
    }
  }
  for (size_t k = 0; k < st.scans; ++k) {
    const DType d = declared_dtype(body, body.outputs[1 + st.carried + k]);
    if (iterations >= 0 && complete && (stable || iterations <= 1)) {
      const Shape& s = out_slot(*p, 1 + st.carried + k).shape;
      if (s.size() + 1 > kMaxRank) c.error("scan output ", k, " would have rank ", s.size() + 1);
      int64_t total = 0;
      if (!checked_mul(iterations, std::max<int64_t>(numel(s), 1), &total) || total > kMaxElements)
        c.error("scan output ", k, " of ", iterations, " iterations of ", shape_str(s), " is too large");
      c.set_output(st.carried + k, d, inserted(s, 0, iterations));
    } else {
      c.set_output_dynamic(st.carried + k, d);
    }
  }
}

void loop_kernel(const KernelContext& ctx) {
  const auto& st = ctx.state<LoopState>();
  int64_t trip = std::numeric_limits<int64_t>::max();
  if (ctx.inputs[0].data != nullptr) {
    trip = *ctx.inputs[0].ptr<const int64_t>();
    SLIM_CHECK(trip >= 0, ctx.attrs.owner(), ": trip count M is ", trip, ", negative");
  }
  bool cond = ctx.inputs[1].data == nullptr || *ctx.inputs[1].ptr<const bool>();
  std::vector<Owned> state;
  for (size_t j = 0; j < st.carried; ++j) state.push_back(copy_of(ctx.inputs[2 + j]));
  std::vector<std::vector<Owned>> scans(st.scans);
  size_t scan_bytes = 0;
  int64_t iter = 0;
  bool cond_in = true;
  const IterationBudget budget;
  for (; iter < trip && cond; ++iter) {
    budget.take(ctx);
    std::vector<TensorRef> formal{TensorRef{&iter, DType::kInt64, {}, Layout::kPlain},
                                  TensorRef{&cond_in, DType::kBool, {}, Layout::kPlain}};
    std::vector<bool> by_value{st.iter_by_value.load(), true};
    for (const Owned& s : state) {
      formal.push_back(s.ref);
      by_value.push_back(false);
    }
    Execution ex;
    run_subgraph(ctx, *st.body, formal, by_value, ex);
    SLIM_CHECK(ex.outputs[0].numel() == 1, ctx.attrs.owner(), ": body condition output has shape ",
               shape_str(ex.outputs[0].shape), ", must hold one value");
    cond = *ex.outputs[0].ptr<const bool>();
    for (size_t j = 0; j < st.carried; ++j) state[j] = copy_of(ex.outputs[1 + j]);
    for (size_t k = 0; k < st.scans; ++k) {
      const TensorRef& r = ex.outputs[1 + st.carried + k];
      SLIM_CHECK(scans[k].empty() || scans[k][0].ref.shape == r.shape, ctx.attrs.owner(), ": scan output ", k,
                 " has shape ", shape_str(r.shape), " in iteration ", iter, ", ", shape_str(scans[k][0].ref.shape),
                 " before (ONNX: one shape for every iteration)");
      scan_bytes += r.bytes();
      SLIM_CHECK(st.max_memory == 0 || scan_bytes <= st.max_memory, ctx.attrs.owner(), ": scan outputs after ",
                 iter + 1, " iterations need ", memory_str(scan_bytes), ", more than max_memory_bytes = ",
                 memory_str(st.max_memory));
      scans[k].push_back(copy_of(r));
    }
  }
  for (size_t j = 0; j < st.carried; ++j) emit(ctx, j, state[j].ref);
  for (size_t k = 0; k < st.scans; ++k) {
    const size_t o = st.carried + k;
    Shape per_iter;
    if (!scans[k].empty()) {
      per_iter = scans[k][0].ref.shape;
    } else if (!ctx.output_dynamic(o)) {
      per_iter = Shape(ctx.outputs[o].shape.begin() + 1, ctx.outputs[o].shape.end());
    } else {
      // no iteration ran: the body's plan for the initial state says what one iteration would give
      std::vector<PlanInput> formal{{Shape{}, st.iter_by_value.load() ? &kFirstIteration : nullptr, Layout::kPlain},
                                    {Shape{}, &kTrue, Layout::kPlain}};
      for (size_t j = 0; j < st.carried; ++j) formal.push_back({ctx.inputs[2 + j].shape, nullptr, Layout::kPlain});
      for (size_t pos : st.body->model().capture_input)
        formal.push_back({ctx.inputs[pos].shape, small_int(ctx.inputs[pos]) ? ctx.inputs[pos].data : nullptr,
                          Layout::kPlain});
      auto p = st.body->plan(formal, ctx.pool);
      if (plan_complete(*p)) per_iter = out_slot(*p, 1 + st.carried + k).shape;
    }
    const Shape shape = inserted(per_iter, 0, iter);
    TensorRef dst = ctx.output_dynamic(o) ? ctx.allocate_output(o, shape) : ctx.outputs[o];
    SLIM_CHECK(dst.shape == shape, ctx.attrs.owner(), ": scan output ", k, " has shape ", shape_str(shape),
               " at run time, the plan has ", shape_str(dst.shape));
    stack_into(scans[k], 0, false, dst);
  }
}

// ---- Scan -------------------------------------------------------------------------------------

struct ScanState {
  std::unique_ptr<GraphProgram> body;
  size_t state = 0, scan_in = 0, scan_out = 0;
  std::vector<int64_t> in_axes, in_dirs, out_axes, out_dirs;
};

std::shared_ptr<void> prepare_scan(PrepareContext& c) {
  auto st = std::make_shared<ScanState>();
  auto body = graph_attr(c.attrs, "body");
  const int64_t explicit_inputs = static_cast<int64_t>(c.inputs.size() - c.attrs.captured_inputs());
  c.attrs.get_int("num_scan_inputs");  // required
  st->scan_in = static_cast<size_t>(int_attr(c.attrs, "num_scan_inputs", 0, 1, explicit_inputs));
  st->state = static_cast<size_t>(explicit_inputs) - st->scan_in;
  if (c.num_outputs < st->state) c.error("has ", c.num_outputs, " outputs, fewer than its ", st->state, " state values");
  st->scan_out = c.num_outputs - st->state;
  if (body->num_formal_inputs != static_cast<size_t>(explicit_inputs))
    c.error("body has ", body->num_formal_inputs, " inputs, expected ", explicit_inputs);
  if (body->outputs.size() != c.num_outputs)
    c.error("body has ", body->outputs.size(), " outputs, expected ", c.num_outputs);
  for (size_t i = 0; i < static_cast<size_t>(explicit_inputs); ++i) {
    if (!c.has_input(i)) c.error("input ", i, " is omitted");
    if (declared_dtype(*body, body->inputs[i]) != c.inputs[i]->dtype)
      c.error("input ", i, " is ", dtype_name(c.inputs[i]->dtype), " but the body reads it as ",
              dtype_name(declared_dtype(*body, body->inputs[i])));
  }
  for (size_t j = 0; j < st->state; ++j)
    if (declared_dtype(*body, body->outputs[j]) != c.inputs[j]->dtype) c.error("state value ", j, " changes dtype in the body");
  const auto list = [&](const char* name, size_t n, int64_t lo, int64_t hi) {
    return ints_attr(c.attrs, name, std::vector<int64_t>(n, 0), n, lo, hi);
  };
  st->in_dirs = list("scan_input_directions", st->scan_in, 0, 1);
  st->out_dirs = list("scan_output_directions", st->scan_out, 0, 1);
  st->in_axes = list("scan_input_axes", st->scan_in, -static_cast<int64_t>(kMaxRank), kMaxRank - 1);
  st->out_axes = list("scan_output_axes", st->scan_out, -static_cast<int64_t>(kMaxRank), kMaxRank - 1);
  st->body = std::make_unique<GraphProgram>(body, c.kernels, c.max_memory_bytes);
  return st;
}

void infer_scan(InferContext& c) {
  const auto& st = c.state<ScanState>();
  const Model& body = st.body->model();
  std::vector<PlanInput> formal;
  for (size_t j = 0; j < st.state; ++j) formal.push_back({c.input_shape(j), nullptr, Layout::kPlain});
  int64_t count = -1;
  for (size_t q = 0; q < st.scan_in; ++q) {
    const Shape& s = c.input_shape(st.state + q);
    const int axis = normalize_axis(st.in_axes[q], static_cast<int>(s.size()), "scan_input_axes");
    if (count >= 0 && s[static_cast<size_t>(axis)] != count)
      c.error("scan input ", q, " has ", s[static_cast<size_t>(axis)], " elements along its axis, scan input 0 ", count);
    count = s[static_cast<size_t>(axis)];
    if (count > kMaxIterations)
      c.error("scans ", count, " iterations, more than the engine's limit of ", kMaxIterations);
    Shape slice = s;
    slice.erase(slice.begin() + axis);
    formal.push_back({slice, nullptr, Layout::kPlain});
  }
  auto p = plan_subgraph(c, *st.body, formal);
  const bool complete = plan_complete(*p);
  bool stable = complete;
  for (size_t j = 0; complete && j < st.state; ++j) stable = stable && out_slot(*p, j).shape == c.input_shape(j);
  for (size_t j = 0; j < st.state; ++j) {
    const DType d = declared_dtype(body, body.outputs[j]);
    if (count == 0) c.set_output(j, d, c.input_shape(j));
    else if (stable) c.set_output(j, d, out_slot(*p, j).shape);
    else c.set_output_dynamic(j, d);
  }
  for (size_t k = 0; k < st.scan_out; ++k) {
    const size_t o = st.state + k;
    const DType d = declared_dtype(body, body.outputs[o]);
    if (!(stable || count <= 1) || !complete) {
      c.set_output_dynamic(o, d);
      continue;
    }
    const Shape& s = out_slot(*p, o).shape;
    const int axis = normalize_axis(st.out_axes[k], static_cast<int>(s.size()) + 1, "scan_output_axes");
    c.set_output(o, d, inserted(s, axis, count));
  }
}

void scan_kernel(const KernelContext& ctx) {
  const auto& st = ctx.state<ScanState>();
  std::vector<Owned> state;
  for (size_t j = 0; j < st.state; ++j) state.push_back(copy_of(ctx.inputs[j]));
  std::vector<int> in_axes;
  int64_t count = 0;
  for (size_t q = 0; q < st.scan_in; ++q) {
    const TensorRef& in = ctx.inputs[st.state + q];
    in_axes.push_back(normalize_axis(st.in_axes[q], in.rank(), "scan_input_axes"));
    count = in.shape[static_cast<size_t>(in_axes.back())];
  }
  std::vector<std::vector<Owned>> scans(st.scan_out);
  const IterationBudget budget;
  for (int64_t t = 0; t < count; ++t) {
    budget.take(ctx);
    std::vector<TensorRef> formal;
    std::vector<Owned> slices;
    for (const Owned& s : state) formal.push_back(s.ref);
    for (size_t q = 0; q < st.scan_in; ++q) {
      const int64_t idx = st.in_dirs[q] ? count - 1 - t : t;
      slices.push_back(slice_of(ctx.inputs[st.state + q], in_axes[q], idx));
      formal.push_back(slices.back().ref);
    }
    Execution ex;
    run_subgraph(ctx, *st.body, formal, std::vector<bool>(formal.size(), false), ex);
    for (size_t j = 0; j < st.state; ++j) state[j] = copy_of(ex.outputs[j]);
    for (size_t k = 0; k < st.scan_out; ++k) {
      const TensorRef& r = ex.outputs[st.state + k];
      SLIM_CHECK(scans[k].empty() || scans[k][0].ref.shape == r.shape, ctx.attrs.owner(), ": scan output ", k,
                 " changes shape between iterations");
      scans[k].push_back(copy_of(r));
    }
  }
  for (size_t j = 0; j < st.state; ++j) emit(ctx, j, state[j].ref);
  for (size_t k = 0; k < st.scan_out; ++k) {
    const size_t o = st.state + k;
    if (scans[k].empty()) {
      SLIM_CHECK(!ctx.output_dynamic(o), ctx.attrs.owner(), ": scan output ", k, " of zero iterations has no shape");
      continue;
    }
    const Shape& s = scans[k][0].ref.shape;
    const int axis = normalize_axis(st.out_axes[k], static_cast<int>(s.size()) + 1, "scan_output_axes");
    const Shape shape = inserted(s, axis, count);
    TensorRef dst = ctx.output_dynamic(o) ? ctx.allocate_output(o, shape) : ctx.outputs[o];
    SLIM_CHECK(dst.shape == shape, ctx.attrs.owner(), ": scan output ", k, " has shape ", shape_str(shape),
               " at run time, the plan has ", shape_str(dst.shape));
    stack_into(scans[k], axis, st.out_dirs[k] != 0, dst);
  }
}

constexpr int kMaxGraphValues = 4096;  // inputs/outputs of a control-flow node (state, scan values)

}  // namespace
}  // namespace slim

DEFINE_OP(If) {
  return OpDef("If").dtypes({DType::kBool}).inputs(1).outputs(1, kMaxGraphValues)
      .infer(infer_if).prepare(prepare_if).kernel(if_kernel);
}
DEFINE_OP(Loop) {
  // M and cond may both be omitted (""): the op itself checks that the two are there
  return OpDef("Loop").dtypes({DType::kInt64}).inputs(0, kMaxGraphValues).outputs(1, kMaxGraphValues)
      .infer(infer_loop).prepare(prepare_loop).kernel(loop_kernel);
}
DEFINE_OP(Scan) {
  return OpDef("Scan").dtypes(kAllTypes).inputs(1, kMaxGraphValues).outputs(1, kMaxGraphValues)
      .infer(infer_scan).prepare(prepare_scan).kernel(scan_kernel);
}
