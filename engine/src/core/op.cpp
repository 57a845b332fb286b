#include "core/op.h"

#include <cstdio>
#include <cstdlib>

namespace slim {

namespace {
std::map<std::string, OpDef>& registry() {
  // Function-local: registrars in other translation units run during static
  // initialization in unspecified order, so the map must build on first use.
  static std::map<std::string, OpDef> ops;
  return ops;
}
}  // namespace

const TensorRef& InferContext::input(size_t i) const {
  if (!has_input(i)) error("input ", i, " is required but missing");
  return *inputs_[i];
}

void InferContext::set_output(size_t i, DType dtype, Shape shape) {
  if (i >= out_shapes_.size()) error("infers output ", i, " but the node has ", out_shapes_.size());
  for (int64_t d : shape)
    if (d < 0) error("inferred a negative dim for output ", i, ": ", shape_str(shape));
  out_shapes_[i] = std::move(shape);
  out_dtypes_[i] = dtype;
  out_set_[i] = true;
}

std::pair<Isa, const KernelFn*> OpDef::select_kernel(Isa cap) const {
  for (int level = static_cast<int>(cap); level >= 0; --level) {
    auto it = kernels_.find(static_cast<Isa>(level));
    if (it != kernels_.end()) return {it->first, &it->second};
  }
  return {Isa::kScalar, nullptr};
}

bool OpDef::supports_dtype(DType d) const {
  for (DType x : dtypes_)
    if (x == d) return true;
  return false;
}

std::string OpDef::validate() const {
  if (type_.empty()) return "op with an empty type";
  if (!infer_) return "op " + type_ + " has no infer function";
  if (kernels_.count(Isa::kScalar) == 0) return "op " + type_ + " has no scalar kernel";
  if (dtypes_.empty()) return "op " + type_ + " lists no dtypes";
  if (min_inputs_ < 0 || max_inputs_ < min_inputs_ || min_outputs_ < 1 || max_outputs_ < min_outputs_)
    return "op " + type_ + " has inconsistent input/output counts";
  return "";
}

OpRegistrar::OpRegistrar(OpDef (*make)()) {
  OpDef def = make();
  const std::string problem = def.validate();
  // A broken registration is a programming error in the engine itself; no
  // model could ever run it, so fail loudly at startup.
  if (!problem.empty() || registry().count(def.type()) != 0) {
    std::fprintf(stderr, "slimlab engine: bad op registration: %s\n",
                 problem.empty() ? ("duplicate op " + def.type()).c_str() : problem.c_str());
    std::abort();
  }
  const std::string type = def.type();
  registry().emplace(type, std::move(def));
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
