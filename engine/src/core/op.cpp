#include "core/op.h"

#include <cstdio>
#include <cstdlib>

#include "core/aligned.h"
#include "ops/op_list.h"

namespace slim {

namespace {

// A broken definition is a programming error in the engine itself; no model
// could ever run it, so fail loudly at first use.
[[noreturn]] void bad_definition(const std::string& problem) {
  std::fprintf(stderr, "slimlab engine: bad op definition: %s\n", problem.c_str());
  std::abort();
}

void add(std::map<std::string, OpDef>& defs, const char* listed, OpDef def) {
  std::string problem = def.validate();
  if (problem.empty() && def.type() != listed) {
    problem = "ops/op_list.h lists " + std::string(listed) + " but its definition says " + def.type();
  }
  if (!problem.empty()) bad_definition(problem);
  const std::string type = def.type();
  if (!defs.emplace(type, std::move(def)).second) bad_definition("op " + type + " is listed twice");
}

const std::map<std::string, OpDef>& registry() {
  static const std::map<std::string, OpDef> defs = [] {
    std::map<std::string, OpDef> m;
#define SLIM_ADD_OP(type) add(m, #type, ops::define_##type());
    SLIM_OPS(SLIM_ADD_OP)
#undef SLIM_ADD_OP
    return m;
  }();
  return defs;
}

}  // namespace

const TensorRef& InferContext::input(size_t i) const {
  if (!has_input(i)) error("input ", i, " is required but missing");
  return *inputs_[i];
}

void InferContext::set_output(size_t i, DType dtype, Shape shape) {
  if (i >= out_shapes_.size()) error("infers output ", i, " but the node has ", out_shapes_.size());
  if (shape.size() > kMaxRank) error("output ", i, " would have rank ", shape.size(), " > ", kMaxRank);
  for (int64_t d : shape)
    if (d < 0) error("inferred a negative dim for output ", i, ": ", shape_str(shape));
  int64_t n = 0;
  if (!checked_numel(shape, kMaxElements, &n))
    error("output ", i, " shape ", shape_str(shape), " has more than 2^40 elements");
  out_shapes_[i] = std::move(shape);
  out_dtypes_[i] = dtype;
  out_set_[i] = true;
}

void InferContext::set_output_dynamic(size_t i, DType dtype) {
  if (i >= out_shapes_.size()) error("infers output ", i, " but the node has ", out_shapes_.size());
  out_shapes_[i].clear();
  out_dtypes_[i] = dtype;
  out_set_[i] = true;
  out_dynamic_[i] = true;
}

TensorRef KernelContext::allocate_output(size_t i, const Shape& shape) const {
  if (!output_dynamic(i)) fail(attrs.owner(), ": internal error: output ", i, " is not dynamic");
  if (dynamic->refs[i].data != nullptr) fail(attrs.owner(), ": internal error: output ", i, " allocated twice");
  int64_t n = 0;
  SLIM_CHECK(shape.size() <= kMaxRank && checked_numel(shape, kMaxElements, &n), attrs.owner(), ": output ", i,
             " shape ", shape_str(shape), " is too large");
  const DType dtype = outputs[i].dtype;
  const size_t bytes = storage_bytes(dtype, static_cast<size_t>(n));
  SLIM_CHECK(dynamic->max_bytes == 0 || bytes <= dynamic->max_bytes, attrs.owner(), ": output ", i, " ",
             shape_str(shape), " needs ", bytes, " bytes, more than max_memory_bytes = ", dynamic->max_bytes);
  // never a null pointer, even when empty: kernels and memcpy want one
  auto buf = aligned_buffer(bytes > 0 ? bytes : 64);
  dynamic->refs[i] = TensorRef{buf.get(), dtype, shape, Layout::kPlain};
  dynamic->buffers[i] = std::move(buf);
  return dynamic->refs[i];
}

bool OpDef::supports_dtype(DType d) const {
  for (DType x : dtypes_)
    if (x == d) return true;
  return false;
}

std::string OpDef::validate() const {
  if (type_.empty()) return "op with an empty type";
  if (!infer_) return "op " + type_ + " has no infer function";
  if (!kernel_) return "op " + type_ + " has no kernel";
  if (dtypes_.empty()) return "op " + type_ + " lists no dtypes";
  if (min_inputs_ < 0 || max_inputs_ < min_inputs_ || min_outputs_ < 1 || max_outputs_ < min_outputs_)
    return "op " + type_ + " has inconsistent input/output counts";
  return "";
}

const OpDef* find_op(const std::string& type) {
  auto it = registry().find(type);
  return it == registry().end() ? nullptr : &it->second;
}

const OpDef& get_op(const std::string& type) {
  if (const OpDef* def = find_op(type)) return *def;
  std::string known;
  for (const auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
  fail("unsupported op type '", type, "' (supported: ", known, ")");
}

const std::map<std::string, OpDef>& all_ops() { return registry(); }

void infer_like_input0(InferContext& ctx) { ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0)); }

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& owner) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    SLIM_CHECK(da == db || da == 1 || db == 1, owner, ": shapes ", shape_str(a), " and ", shape_str(b),
               " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace slim
