// Einsum (float32): any equation ONNX allows: explicit or implicit output,
// ellipsis with broadcasting, repeated labels (diagonals), sums, any number of
// operands. Operands are contracted pairwise, left to right; each contraction
// lays its operands out as [batch, rows, inner] and [batch, inner, cols] and
// runs the f32_gemm variant chosen at load ('bij,bjk->bik', 'bhid,bhjd->bhij').
// Sums over labels only one operand has, diagonals, and the final transposition
// are one strided loop.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace slim {
namespace {

// Labels are chars; the dims an ellipsis stands for get the codes 0 .. 7 (never letters).
using Labels = std::vector<char>;

struct Equation {
  std::vector<Labels> inputs;  // per operand, ellipsis expanded
  Labels output;
  std::map<char, int64_t> dims;  // broadcast size of each label
};

bool is_label(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Parses `equation` for operands of `shapes`; throws naming `owner` on anything malformed.
Equation parse_equation(const std::string& equation, const std::vector<Shape>& shapes, const std::string& owner) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  SLIM_CHECK(arrow == std::string::npos || eq.find("->", arrow + 2) == std::string::npos, owner,
             ": equation '", equation, "' has more than one '->'");
  std::vector<std::string> terms(1);
  for (char c : lhs) {
    if (c == ',') terms.emplace_back();
    else terms.back() += c;
  }
  SLIM_CHECK(terms.size() == shapes.size(), owner, ": equation '", equation, "' has ", terms.size(),
             " operands for ", shapes.size(), " inputs");
  Equation e;
  size_t ellipsis_rank = 0;
  bool any_ellipsis = false;
  const auto expand = [&](const std::string& term, int rank, bool is_output) {
    Labels out;
    const size_t dots = term.find("...");
    SLIM_CHECK(dots == std::string::npos || term.find("...", dots + 3) == std::string::npos, owner,
               ": equation '", equation, "' has two ellipses in one term");
    int named = 0;
    for (size_t i = 0; i < term.size(); ++i) {
      if (i == dots) {
        i += 2;
        continue;
      }
      SLIM_CHECK(is_label(term[i]), owner, ": equation '", equation, "' has the invalid character '", term[i], "'");
      ++named;
    }
    int ell = 0;
    if (dots != std::string::npos) {
      ell = is_output ? static_cast<int>(ellipsis_rank) : rank - named;
      SLIM_CHECK(ell >= 0, owner, ": term '", term, "' has more labels than its input's rank ", rank);
      if (!is_output) {
        any_ellipsis = true;
        ellipsis_rank = std::max(ellipsis_rank, static_cast<size_t>(ell));
      }
    } else if (!is_output) {
      SLIM_CHECK(named == rank, owner, ": term '", term, "' has ", named, " labels for an input of rank ", rank);
    }
    for (size_t i = 0; i < term.size(); ++i) {
      if (i == dots) {
        // right-aligned like broadcasting: the last ellipsis dim is always code 7
        const int total = is_output ? static_cast<int>(ellipsis_rank) : ell;
        for (int j = 0; j < total; ++j) out.push_back(static_cast<char>(kMaxRank - total + j));
        i += 2;
        continue;
      }
      out.push_back(term[i]);
    }
    return out;
  };
  for (size_t t = 0; t < terms.size(); ++t) {
    e.inputs.push_back(expand(terms[t], static_cast<int>(shapes[t].size()), false));
    SLIM_CHECK(e.inputs.back().size() == shapes[t].size(), owner, ": term '", terms[t], "' does not match rank ",
               shapes[t].size());
  }
  // sizes: equal, or 1 broadcast to the other
  for (size_t t = 0; t < terms.size(); ++t)
    for (size_t i = 0; i < e.inputs[t].size(); ++i) {
      const char l = e.inputs[t][i];
      const int64_t d = shapes[t][i];
      auto it = e.dims.find(l);
      if (it == e.dims.end()) {
        e.dims[l] = d;
      } else if (it->second != d) {
        const bool ok = it->second == 1 || d == 1;
        SLIM_CHECK(ok, owner, ": label '", is_label(l) ? std::string(1, l) : std::string("..."),
                   "' has sizes ", it->second, " and ", d);
        if (it->second == 1) it->second = d;
      }
    }
  if (arrow != std::string::npos) {
    e.output = expand(eq.substr(arrow + 2), 0, true);
    SLIM_CHECK(any_ellipsis || eq.substr(arrow + 2).find("...") == std::string::npos, owner,
               ": the output has an ellipsis that no input has");
    for (size_t i = 0; i < e.output.size(); ++i) {
      SLIM_CHECK(e.dims.count(e.output[i]) != 0, owner, ": output label '", e.output[i], "' is in no input");
      SLIM_CHECK(std::count(e.output.begin(), e.output.end(), e.output[i]) == 1, owner, ": output label '",
                 e.output[i], "' is repeated");
    }
  } else {
    // implicit: the ellipsis dims, then the labels seen exactly once, alphabetically
    std::map<char, int> count;
    for (const Labels& in : e.inputs)
      for (char l : in) ++count[l];
    for (size_t j = 0; j < ellipsis_rank; ++j) e.output.push_back(static_cast<char>(kMaxRank - ellipsis_rank + j));
    for (const auto& [l, n] : count)
      if (is_label(l) && n == 1) e.output.push_back(l);
  }
  SLIM_CHECK(e.output.size() <= kMaxRank, owner, ": output rank ", e.output.size(), " exceeds ", kMaxRank);
  return e;
}

void infer_einsum(InferContext& c) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    if (i > 0) require_dtype(c, i, {DType::kFloat32}, "operand");
    shapes.push_back(c.input_shape(i));
  }
  const Equation e = parse_equation(c.attrs().get_string("equation"), shapes, c.attrs().owner());
  Shape out;
  for (char l : e.output) out.push_back(e.dims.at(l));
  c.set_output(0, DType::kFloat32, out);
}

// Intermediates (broadcast operands, pairwise products) may be larger than any
// input or the output ('a,b,ab->' makes an a x b product); a hostile equation
// must not make the node allocate without bound, so they are capped at 16 times
// the larger of the inputs' total and the output, plus 2^20.
int64_t intermediate_cap(const KernelContext& ctx) {
  int64_t total = ctx.outputs[0].numel();
  int64_t in = 0;
  for (const TensorRef& t : ctx.inputs) in += t.numel();
  return std::max(total, in) * 16 + (int64_t(1) << 20);
}

int64_t checked_size(const KernelContext& ctx, const Shape& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n = mul_dims(ctx.attrs.owner(), "einsum intermediate size", n, d);
  SLIM_CHECK(n <= intermediate_cap(ctx), ctx.attrs.owner(), ": an intermediate of ", n,
             " elements is too large for this equation's inputs and output");
  return n;
}

// A contiguous tensor with one label per dim (no repeats): its own storage, or a
// view of an input that already has that form (no copy).
struct Labeled {
  std::vector<float> own;
  const float* data = nullptr;
  Labels labels;
  Labeled() = default;
  Labeled(Labeled&&) = default;  // a vector's move keeps its buffer, so `data` stays valid
  Labeled& operator=(Labeled&&) = default;
  Labeled(const Labeled&) = delete;
};

// dst[labels = `order`] = sum over the other labels of `src` (repeated labels of src read its diagonal; a
// label of size 1 in src broadcasts to its full size), contiguous in `order`.
void rearrange_into(const KernelContext& ctx, const float* src, const Labels& src_labels, const Shape& src_shape,
                    const Labels& order, const std::map<char, int64_t>& dims, float* dst) {
  Labels uniq;
  for (char l : src_labels)
    if (std::find(uniq.begin(), uniq.end(), l) == uniq.end()) uniq.push_back(l);
  // stride of each unique label in src (summed over repeats: a diagonal), 0 where src broadcasts it
  std::map<char, int64_t> stride;
  int64_t s = 1;
  for (int i = static_cast<int>(src_labels.size()) - 1; i >= 0; --i) {
    if (src_shape[i] != 1) stride[src_labels[i]] += s;
    else stride[src_labels[i]] += 0;
    s *= src_shape[i];
  }
  Labels summed;
  for (char l : uniq)
    if (std::find(order.begin(), order.end(), l) == order.end()) summed.push_back(l);
  Shape out_dims, sum_dims;
  std::vector<int64_t> out_st, sum_st;
  for (char l : order) {
    out_dims.push_back(dims.at(l));
    out_st.push_back(stride.count(l) ? stride[l] : 0);
  }
  for (char l : summed) {
    int64_t d = 1;  // a label of size 1 in src that another operand has larger still sums once
    for (size_t i = 0; i < src_labels.size(); ++i)
      if (src_labels[i] == l) d = src_shape[i];
    sum_dims.push_back(d);
    sum_st.push_back(stride[l]);
  }
  const int64_t n_out = numel(out_dims), n_sum = numel(sum_dims);
  if (n_out == 0) return;
  if (n_sum == 1) {
    // a transposition, diagonal or broadcast: contiguous runs copied by the shared strided loop
    strided_copy(ctx, out_dims, Layout::kPlain, sizeof(float), dst, logical_strides(out_dims, Layout::kPlain), 0,
                 src, out_st, 0);
    return;
  }
  ctx.parallel_for(n_out, std::max<int64_t>(1, 4096 / std::max<int64_t>(n_sum, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t rest = o, base = 0;
      for (int d = static_cast<int>(out_dims.size()) - 1; d >= 0; --d) {
        base += (rest % out_dims[d]) * out_st[d];
        rest /= out_dims[d];
      }
      float acc = 0.0f;
      for (int64_t k = 0; k < n_sum; ++k) {
        int64_t r2 = k, off = base;
        for (int d = static_cast<int>(sum_dims.size()) - 1; d >= 0; --d) {
          off += (r2 % sum_dims[d]) * sum_st[d];
          r2 /= sum_dims[d];
        }
        acc += src[off];
      }
      dst[o] = acc;
    }
  });
}

// True when src already is `order`, contiguous, at full size.
bool already_arranged(const Labels& src_labels, const Shape& src_shape, const Labels& order,
                      const std::map<char, int64_t>& dims) {
  if (src_labels != order) return false;
  for (size_t i = 0; i < order.size(); ++i)
    if (src_shape[i] != dims.at(order[i])) return false;
  return true;  // order has no repeats: it is a list of distinct labels by construction
}

Labeled rearrange(const KernelContext& ctx, const float* src, const Labels& src_labels, const Shape& src_shape,
                  const Labels& order, const std::map<char, int64_t>& dims) {
  Labeled r;
  r.labels = order;
  if (already_arranged(src_labels, src_shape, order, dims)) {
    r.data = src;
    return r;
  }
  Shape out_dims;
  for (char l : order) out_dims.push_back(dims.at(l));
  r.own.assign(static_cast<size_t>(checked_size(ctx, out_dims)), 0.0f);
  r.data = r.own.data();
  rearrange_into(ctx, src, src_labels, src_shape, order, dims, r.own.data());
  return r;
}

Shape dims_of(const Labels& labels, const std::map<char, int64_t>& dims) {
  Shape s;
  for (char l : labels) s.push_back(dims.at(l));
  return s;
}

bool contains(const Labels& v, char l) { return std::find(v.begin(), v.end(), l) != v.end(); }

struct EinsumState {
  const kernels::F32GemmKernel* gemm = nullptr;
};

std::shared_ptr<void> prepare_einsum(PrepareContext& ctx) {
  auto st = std::make_shared<EinsumState>();
  st->gemm = ctx.use(ctx.kernels.f32_gemm);
  return st;
}

// a x b over their shared labels; `keep`: the labels later operands or the output still need. When the
// product comes out in the order `final_order` (when given), it is written straight into `final_dst`
// (the node's output).
Labeled contract(const KernelContext& ctx, const Labeled& a, const Labeled& b, const Labels& keep,
                 const std::map<char, int64_t>& dims, const Labels* final_order, float* final_dst) {
  Labels batch, rows, inner, cols;
  for (char l : a.labels) {
    if (contains(b.labels, l)) (contains(keep, l) ? batch : inner).push_back(l);
    else rows.push_back(l);
  }
  for (char l : b.labels)
    if (!contains(a.labels, l)) cols.push_back(l);
  Labels ao = batch, bo = batch, bt = batch;
  ao.insert(ao.end(), rows.begin(), rows.end());
  ao.insert(ao.end(), inner.begin(), inner.end());
  bo.insert(bo.end(), inner.begin(), inner.end());
  bo.insert(bo.end(), cols.begin(), cols.end());
  bt.insert(bt.end(), cols.begin(), cols.end());
  bt.insert(bt.end(), inner.begin(), inner.end());
  const Labeled ap = rearrange(ctx, a.data, a.labels, dims_of(a.labels, dims), ao, dims);
  // B already [batch, cols, inner] (keys in 'bhid,bhjd->bhij') is packed as a transpose, without a copy
  const Shape b_shape = dims_of(b.labels, dims);
  const bool b_transposed =
      already_arranged(b.labels, b_shape, bt, dims) && !already_arranged(b.labels, b_shape, bo, dims);
  const Labeled bp = b_transposed ? rearrange(ctx, b.data, b.labels, b_shape, bt, dims)
                                  : rearrange(ctx, b.data, b.labels, b_shape, bo, dims);
  const int64_t nb = numel(dims_of(batch, dims)), m = numel(dims_of(rows, dims));
  const int64_t k = numel(dims_of(inner, dims)), n = numel(dims_of(cols, dims));
  Labeled r;
  r.labels = batch;
  r.labels.insert(r.labels.end(), rows.begin(), rows.end());
  r.labels.insert(r.labels.end(), cols.begin(), cols.end());
  float* out = nullptr;
  if (final_order != nullptr && r.labels == *final_order) {
    out = final_dst;
    std::fill(out, out + nb * m * n, 0.0f);
  } else {
    r.own.assign(static_cast<size_t>(checked_size(ctx, dims_of(r.labels, dims))), 0.0f);
    out = r.own.data();
  }
  r.data = out;
  if (nb * m * n == 0 || k == 0) return r;  // an empty sum is 0; the kernels refuse empty sizes
  const kernels::F32GemmKernel& g = *ctx.state<EinsumState>().gemm;
  const kernels::Epilogue ep;
  const auto pack = [&](int64_t i, float* packed) {
    if (b_transposed) kernels::pack_b_transposed(g, k, n, bp.data + i * k * n, k, packed);
    else kernels::pack_b(g, k, n, bp.data + i * k * n, n, packed);
  };
  const auto run_batch = [&](int64_t i, float* packed, kernels::Range rws) {
    kernels::sgemm_packed(g, k, n, ap.data + i * m * k, k, packed, out + i * m * n, n, ep, rws, {0, n});
  };
  const int64_t packed_floats = std::max<int64_t>(1, kernels::packed_b_floats(g, k, n));
  if (nb >= 2 * static_cast<int64_t>(ctx.pool.threads()) || m < 2 * g.tile_rows) {
    // many small products (attention heads): threads take whole matrices
    ctx.parallel_for(nb, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> packed(static_cast<size_t>(packed_floats));
      for (int64_t i = begin; i < end; ++i) {
        pack(i, packed.data());
        run_batch(i, packed.data(), {0, m});
      }
    });
    return r;
  }
  std::vector<float> packed(static_cast<size_t>(packed_floats));
  for (int64_t i = 0; i < nb; ++i) {
    pack(i, packed.data());
    split_gemm_rows(ctx, g, m, [&](kernels::Range rws) { run_batch(i, packed.data(), rws); });
  }
  return r;
}

void einsum_kernel(const KernelContext& ctx) {
  const TensorRef& y = ctx.outputs[0];
  std::vector<Shape> shapes;
  for (const TensorRef& t : ctx.inputs) shapes.push_back(t.shape);
  const Equation e = parse_equation(ctx.attrs.get_string("equation"), shapes, ctx.attrs.owner());
  if (y.numel() == 0) return;
  const size_t n = ctx.inputs.size();
  // what operands after `t`, and the output, still need
  const auto needed_after = [&](size_t t) {
    Labels keep = e.output;
    for (size_t j = t + 1; j < n; ++j)
      for (char l : e.inputs[j])
        if (!contains(keep, l)) keep.push_back(l);
    return keep;
  };
  // each operand first loses its diagonals and the labels no one else needs
  const auto reduce_operand = [&](size_t t, const Labels& keep_other) {
    Labels order;
    for (char l : e.inputs[t])
      if (contains(keep_other, l) && !contains(order, l)) order.push_back(l);
    return rearrange(ctx, ctx.inputs[t].ptr<const float>(), e.inputs[t], shapes[t], order, e.dims);
  };
  const auto labels_of_others = [&](size_t t, const Labels& acc) {
    Labels keep = needed_after(t);
    for (char l : acc)
      if (!contains(keep, l)) keep.push_back(l);
    return keep;
  };
  Labeled acc = reduce_operand(0, n > 1 ? labels_of_others(0, e.inputs[1]) : e.output);
  for (size_t t = 1; t < n; ++t) {
    const Labeled b = reduce_operand(t, labels_of_others(t, acc.labels));
    acc = contract(ctx, acc, b, needed_after(t), e.dims, t + 1 == n ? &e.output : nullptr, y.ptr<float>());
  }
  if (acc.data == y.ptr<float>()) return;  // the last product was written in place
  // the accumulated labels are unique and contiguous; the output order (and any remaining sum) is one pass.
  // A label the operands had only at size 1 but the output wants larger cannot happen: dims are the max.
  const Shape acc_shape = dims_of(acc.labels, e.dims);
  if (already_arranged(acc.labels, acc_shape, e.output, e.dims))
    std::copy(acc.data, acc.data + y.numel(), y.ptr<float>());
  else
    rearrange_into(ctx, acc.data, acc.labels, acc_shape, e.output, e.dims, y.ptr<float>());
}

}  // namespace
}  // namespace slim

DEFINE_OP(Einsum) {
  return OpDef("Einsum")
      .dtypes({DType::kFloat32})
      .inputs(1, 8)
      .outputs(1)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_einsum)
      .prepare(prepare_einsum)
      .kernel(einsum_kernel);
}
