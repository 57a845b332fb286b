// LSTM, GRU and RNN (ONNX opset 14 semantics). One direction's recurrence is
// inherently serial, so the work is arranged around the two GEMMs:
//  * the input projection X * W^T (+ biases that sit outside the recurrence)
//    for every time step and both directions is one GEMM over seq * batch rows;
//  * each step adds H_{t-1} * R^T (M = batch) into that step's gate rows with
//    the kernel's accumulate epilogue, then the gate nonlinearities run on
//    whole gate blocks through the f32_vact kernel.
// W and R are packed once at load when they are constants. Directions of a
// bidirectional layer run on two threads; a single direction splits the
// recurrent GEMM's columns when it is large enough to pay for the hand-off.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/common.h"

namespace slim {
namespace {

enum class Cell { kRnn, kGru, kLstm };

// Gates per cell: RNN 1 (i), GRU 3 (z, r, h), LSTM 4 (i, o, f, c).
int gate_count(Cell cell) { return cell == Cell::kLstm ? 4 : cell == Cell::kGru ? 3 : 1; }
// Activations per direction: RNN f, GRU f g, LSTM f g h.
int act_count(Cell cell) { return cell == Cell::kLstm ? 3 : cell == Cell::kGru ? 2 : 1; }

enum class ActFn { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid,
                   kElu, kSoftsign, kSoftplus };

struct ActSpec {
  const char* name;
  ActFn fn;
  bool alpha, beta;        // whether it consumes activation_alpha / activation_beta values
  float def_alpha, def_beta;  // what it takes when those lists run out (ONNX Runtime's defaults)
};

constexpr ActSpec kActs[] = {
    {"Relu", ActFn::kRelu, false, false, 0.0f, 0.0f},
    {"Tanh", ActFn::kTanh, false, false, 0.0f, 0.0f},
    {"Sigmoid", ActFn::kSigmoid, false, false, 0.0f, 0.0f},
    {"Affine", ActFn::kAffine, true, true, 0.0f, 0.0f},
    {"LeakyRelu", ActFn::kLeakyRelu, true, false, 0.01f, 0.0f},
    {"ThresholdedRelu", ActFn::kThresholdedRelu, true, false, 0.0f, 0.0f},
    {"ScaledTanh", ActFn::kScaledTanh, true, true, 0.0f, 0.0f},
    {"HardSigmoid", ActFn::kHardSigmoid, true, true, 0.2f, 0.5f},
    {"Elu", ActFn::kElu, true, false, 1.0f, 0.0f},
    {"Softsign", ActFn::kSoftsign, false, false, 0.0f, 0.0f},
    {"Softplus", ActFn::kSoftplus, false, false, 0.0f, 0.0f},
};

struct Act {
  ActFn fn = ActFn::kTanh;
  float alpha = 0.0f, beta = 0.0f;
};

bool same_name(const std::string& a, const char* b) {
  if (a.size() != std::strlen(b)) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// x[0, n) = act(x) in place. The library's activations run its vectorized
// kernel; the rest are short loops the compiler vectorizes (or libm for Elu
// and Softplus, which no default activation uses).
void apply_act(const Act& a, const kernels::F32VactKernel& vact, float* x, int64_t n) {
  if (n <= 0) return;
  switch (a.fn) {
    case ActFn::kRelu: return kernels::activation(vact, kernels::Activation::relu(), x, x, n);
    case ActFn::kTanh: return kernels::activation(vact, kernels::Activation::tanh(), x, x, n);
    case ActFn::kSigmoid: return kernels::activation(vact, kernels::Activation::sigmoid(), x, x, n);
    case ActFn::kLeakyRelu: return kernels::activation(vact, kernels::Activation::leaky_relu(a.alpha), x, x, n);
    case ActFn::kHardSigmoid:
      return kernels::activation(vact, kernels::Activation::hard_sigmoid(a.alpha, a.beta), x, x, n);
    case ActFn::kAffine:
      for (int64_t i = 0; i < n; ++i) x[i] = a.alpha * x[i] + a.beta;
      return;
    case ActFn::kThresholdedRelu:
      // NaN fails the comparison, so it must be kept explicitly
      for (int64_t i = 0; i < n; ++i) x[i] = (x[i] > a.alpha || x[i] != x[i]) ? x[i] : 0.0f;
      return;
    case ActFn::kScaledTanh:
      for (int64_t i = 0; i < n; ++i) x[i] *= a.beta;
      kernels::activation(vact, kernels::Activation::tanh(), x, x, n);
      for (int64_t i = 0; i < n; ++i) x[i] *= a.alpha;
      return;
    case ActFn::kElu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0.0f ? x[i] : a.alpha * (std::exp(x[i]) - 1.0f);
      return;
    case ActFn::kSoftsign:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::fabs(x[i]));
      return;
    case ActFn::kSoftplus:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 20.0f ? x[i] : std::log1p(std::exp(x[i]));
      return;
  }
}

// Clip to [-c, c], keeping NaN (a comparison with NaN is false either way).
void clip_inplace(float* x, int64_t n, float c) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > c ? c : (x[i] < -c ? -c : x[i]);
}

// Everything read from the attributes, checked once at load.
struct Params {
  Cell cell = Cell::kRnn;
  int64_t hidden = 0;   // 0 until known (hidden_size may be omitted: then R's last dim)
  int dirs = 1;
  bool reverse = false;  // the only direction runs backwards ("reverse")
  int layout = 0;
  bool has_clip = false;
  float clip = 0.0f;
  bool input_forget = false;
  bool linear_before_reset = false;
  std::vector<Act> acts;  // act_count(cell) per direction
};

Params parse_params(const Attributes& a, Cell cell) {
  Params p;
  p.cell = cell;
  p.hidden = a.has("hidden_size") ? int_attr(a, "hidden_size", 0, 1, int64_t(1) << 24) : 0;
  const std::string dir = enum_attr(a, "direction", "forward", {"forward", "reverse", "bidirectional"});
  p.dirs = dir == "bidirectional" ? 2 : 1;
  p.reverse = dir == "reverse";
  p.layout = static_cast<int>(int_attr(a, "layout", 0, 0, 1));
  if (a.has("clip")) {
    p.has_clip = true;
    p.clip = a.get_float("clip");
    SLIM_CHECK(p.clip > 0.0f, a.owner(), ": attribute 'clip' must be a positive number, got ", p.clip);
  }
  if (cell == Cell::kLstm) p.input_forget = int_attr(a, "input_forget", 0, 0, 1) != 0;
  else SLIM_CHECK(!a.has("input_forget"), a.owner(), ": attribute 'input_forget' is only defined for LSTM");
  if (cell == Cell::kGru) p.linear_before_reset = int_attr(a, "linear_before_reset", 0, 0, 1) != 0;
  else SLIM_CHECK(!a.has("linear_before_reset"), a.owner(), ": attribute 'linear_before_reset' is only defined for GRU");
  SLIM_CHECK(!a.has("output_sequence"), a.owner(), ": attribute 'output_sequence' (opset 1) is not supported");

  const int per_dir = act_count(cell);
  std::vector<std::string> names;
  if (a.has("activations")) {
    // The engine file has no list-of-strings attribute: the converter joins the names with ','.
    const std::string joined = a.get_string("activations");
    size_t start = 0;
    while (true) {
      const size_t comma = joined.find(',', start);
      names.push_back(joined.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    SLIM_CHECK(names.size() == static_cast<size_t>(per_dir * p.dirs), a.owner(), ": attribute 'activations' has ",
               names.size(), " names, expected ", per_dir * p.dirs, " (", per_dir, " per direction)");
  } else {
    const std::vector<std::string> def = cell == Cell::kLstm  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                         : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                              : std::vector<std::string>{"Tanh"};
    for (int d = 0; d < p.dirs; ++d) names.insert(names.end(), def.begin(), def.end());
  }
  const std::vector<float> alphas = a.get_floats("activation_alpha", {});
  const std::vector<float> betas = a.get_floats("activation_beta", {});
  size_t ai = 0, bi = 0;
  for (const std::string& n : names) {
    const ActSpec* spec = nullptr;
    for (const ActSpec& s : kActs)
      if (same_name(n, s.name)) spec = &s;
    SLIM_CHECK(spec != nullptr, a.owner(), ": attribute 'activations': unknown activation '", n,
               "' (expected Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, "
               "Softsign or Softplus)");
    Act act{spec->fn, spec->def_alpha, spec->def_beta};
    // The values are consumed in order by the activations that take them, as ONNX Runtime reads them.
    if (spec->alpha && ai < alphas.size()) act.alpha = alphas[ai++];
    if (spec->beta && bi < betas.size()) act.beta = betas[bi++];
    p.acts.push_back(act);
  }
  SLIM_CHECK(ai == alphas.size(), a.owner(), ": attribute 'activation_alpha' has ", alphas.size(),
             " values, but the activations take ", ai);
  SLIM_CHECK(bi == betas.size(), a.owner(), ": attribute 'activation_beta' has ", betas.size(),
             " values, but the activations take ", bi);
  return p;
}

// Floats of the input projection a run may hold (1 GiB): a keyword-spotting LSTM needs about 0.2 MiB.
constexpr int64_t kMaxScratchFloats = int64_t(1) << 28;

// The input projection is shared by the threads from this many multiply-adds. Below, one thread
// does it: a keyword-spotting layer's (2-7M) took 0.2 ms longer on two threads than on one on the
// shared 2-core host measured (recurrent_bench.py), where the join waits for a descheduled worker.
constexpr int64_t kMinParallelProjection = int64_t(1) << 24;

// Input indices.
constexpr size_t kX = 0, kW = 1, kR = 2, kB = 3, kSeqLens = 4, kInitH = 5, kInitC = 6, kP = 7;

// Shapes checked against each other; the dims the kernel needs.
struct Dims {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0;
};

Dims check_shapes(const Params& p, const std::string& owner, const std::vector<const TensorRef*>& in) {
  auto has = [&](size_t i) { return i < in.size() && in[i] != nullptr; };
  const Shape& x = in[kX]->shape;
  SLIM_CHECK(x.size() == 3, owner, ": X must be rank 3, got ", shape_str(x));
  Dims d;
  d.seq = p.layout == 0 ? x[0] : x[1];
  d.batch = p.layout == 0 ? x[1] : x[0];
  d.input = x[2];
  const Shape &w = in[kW]->shape, &r = in[kR]->shape;
  SLIM_CHECK(r.size() == 3, owner, ": R must be rank 3 [num_directions, gates * hidden_size, hidden_size], got ",
             shape_str(r));
  d.hidden = p.hidden != 0 ? p.hidden : r[2];
  SLIM_CHECK(d.hidden > 0, owner, ": hidden_size must be positive, got ", d.hidden);
  const int64_t g = gate_count(p.cell);
  const int64_t gh = mul_dims(owner, "gates * hidden_size", g, d.hidden);
  const char* gates = p.cell == Cell::kLstm ? "4" : p.cell == Cell::kGru ? "3" : "1";
  SLIM_CHECK(w.size() == 3 && w[0] == p.dirs && w[1] == gh && w[2] == d.input, owner, ": W has shape ",
             shape_str(w), ", expected [", p.dirs, ", ", gh, ", ", d.input, "] (num_directions, ", gates,
             " * hidden_size ", d.hidden, ", input_size)");
  SLIM_CHECK(r[0] == p.dirs && r[1] == gh && r[2] == d.hidden, owner, ": R has shape ", shape_str(r), ", expected [",
             p.dirs, ", ", gh, ", ", d.hidden, "] (num_directions, ", gates, " * hidden_size, hidden_size)");
  if (has(kB)) {
    const Shape& b = in[kB]->shape;
    SLIM_CHECK(b.size() == 2 && b[0] == p.dirs && b[1] == 2 * gh, owner, ": B has shape ", shape_str(b),
               ", expected [", p.dirs, ", ", 2 * gh, "]");
  }
  if (has(kSeqLens)) {
    const Shape& s = in[kSeqLens]->shape;
    SLIM_CHECK(s.size() == 1 && s[0] == d.batch, owner, ": sequence_lens has shape ", shape_str(s), ", expected [",
               d.batch, "]");
  }
  const Shape state = p.layout == 0 ? Shape{p.dirs, d.batch, d.hidden} : Shape{d.batch, p.dirs, d.hidden};
  for (size_t i : {kInitH, kInitC}) {
    if (!has(i)) continue;
    SLIM_CHECK(in[i]->shape == state, owner, ": ", i == kInitH ? "initial_h" : "initial_c", " has shape ",
               shape_str(in[i]->shape), ", expected ", shape_str(state));
  }
  if (has(kP)) {
    const Shape& pp = in[kP]->shape;
    SLIM_CHECK(pp.size() == 2 && pp[0] == p.dirs && pp[1] == 3 * d.hidden, owner, ": P has shape ", shape_str(pp),
               ", expected [", p.dirs, ", ", 3 * d.hidden, "]");
  }
  mul_dims(owner, "seq_length * batch_size", d.seq, d.batch);
  mul_dims(owner, "seq_length * batch_size * gates * hidden_size * num_directions",
           mul_dims(owner, "seq_length * batch_size", d.seq, d.batch), mul_dims(owner, "gates", gh, p.dirs));
  return d;
}

void infer_recurrent(InferContext& c, Cell cell) {
  const Params p = parse_params(c.attrs(), cell);
  if (c.input_dtype(kX) != DType::kFloat32) c.error("X must be float32, got ", dtype_name(c.input_dtype(kX)));
  require_dtype(c, kW, {DType::kFloat32}, "W");
  require_dtype(c, kR, {DType::kFloat32}, "R");
  if (c.has_input(kB)) require_dtype(c, kB, {DType::kFloat32}, "B");
  if (c.has_input(kSeqLens)) require_dtype(c, kSeqLens, {DType::kInt32}, "sequence_lens");
  if (c.has_input(kInitH)) require_dtype(c, kInitH, {DType::kFloat32}, "initial_h");
  if (c.has_input(kInitC)) require_dtype(c, kInitC, {DType::kFloat32}, "initial_c");
  if (c.has_input(kP)) require_dtype(c, kP, {DType::kFloat32}, "P");
  // Shapes only: a TensorRef per present input with the shape and no data.
  std::vector<TensorRef> refs(c.num_inputs());
  std::vector<const TensorRef*> ptrs(c.num_inputs(), nullptr);
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    if (!c.has_input(i)) continue;
    refs[i].shape = c.input_shape(i);
    ptrs[i] = &refs[i];
  }
  const Dims d = check_shapes(p, c.attrs().owner(), ptrs);
  const Shape y = p.layout == 0 ? Shape{d.seq, p.dirs, d.batch, d.hidden} : Shape{d.batch, d.seq, p.dirs, d.hidden};
  const Shape state = p.layout == 0 ? Shape{p.dirs, d.batch, d.hidden} : Shape{d.batch, p.dirs, d.hidden};
  for (size_t i = 0; i < c.num_outputs(); ++i) c.set_output(i, DType::kFloat32, i == 0 ? y : state);
}

// W, R, biases and peepholes in the form the kernel reads.
struct Weights {
  int64_t input = 0, hidden = 0;
  std::vector<float> packed_w;  // all directions' W^T side by side: K = input, N = dirs * gates * hidden
  std::vector<float> in_bias;   // dirs * gates * hidden: the biases added with the input projection
  // Per direction. RNN/LSTM: rec = R^T (N = gates * hidden). GRU: rec = [Rz; Rr]^T (N = 2 hidden) and
  // rec_h = Rh^T (N = hidden): its product is added after (linear_before_reset) or computed from r * H.
  std::vector<std::vector<float>> rec, rec_h;
  std::vector<std::vector<float>> rec_h_bias;  // GRU linear_before_reset: Rbh, inside the reset gate's product
  std::vector<std::vector<float>> peep;        // LSTM P: [i, o, f] * hidden per direction, or empty
};

std::vector<float> packed_t(const kernels::F32GemmKernel& k, int64_t K, int64_t N, const float* bt) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(1, kernels::packed_b_floats(k, K, N))));
  if (K > 0 && N > 0) kernels::pack_b_transposed(k, K, N, bt, K, out.data());
  return out;
}

std::shared_ptr<Weights> build_weights(const Params& p, const kernels::F32GemmKernel& k, int64_t input,
                                       int64_t hidden, const TensorRef& w, const TensorRef& r, const TensorRef* b,
                                       const TensorRef* peep) {
  auto wt = std::make_shared<Weights>();
  wt->input = input;
  wt->hidden = hidden;
  const int64_t g = gate_count(p.cell), gh = g * hidden, nt = p.dirs * gh;
  // [dirs, gh, input] is the transposed B of one GEMM with N = dirs * gh
  wt->packed_w = packed_t(k, input, nt, w.ptr<const float>());
  wt->in_bias.assign(static_cast<size_t>(nt), 0.0f);
  wt->rec.resize(p.dirs);
  wt->rec_h.resize(p.dirs);
  wt->rec_h_bias.resize(p.dirs);
  wt->peep.resize(p.dirs);
  const float* rp = r.ptr<const float>();
  for (int d = 0; d < p.dirs; ++d) {
    const float* rd = rp + d * gh * hidden;
    if (p.cell == Cell::kGru) {
      wt->rec[d] = packed_t(k, hidden, 2 * hidden, rd);
      wt->rec_h[d] = packed_t(k, hidden, hidden, rd + 2 * hidden * hidden);
    } else {
      wt->rec[d] = packed_t(k, hidden, gh, rd);
    }
    float* ib = wt->in_bias.data() + d * gh;
    if (b != nullptr) {
      const float* wb = b->ptr<const float>() + d * 2 * gh;
      const float* rb = wb + gh;
      for (int64_t j = 0; j < gh; ++j) ib[j] = wb[j] + rb[j];
      if (p.cell == Cell::kGru && p.linear_before_reset) {
        // Rbh is multiplied by the reset gate with H * Rh^T, so it cannot join the input bias
        wt->rec_h_bias[d].assign(rb + 2 * hidden, rb + 3 * hidden);
        for (int64_t j = 2 * hidden; j < 3 * hidden; ++j) ib[j] = wb[j];
      }
    }
    if (p.cell == Cell::kGru && p.linear_before_reset && wt->rec_h_bias[d].empty())
      wt->rec_h_bias[d].assign(static_cast<size_t>(hidden), 0.0f);
    if (peep != nullptr) {
      const float* pd = peep->ptr<const float>() + d * 3 * hidden;
      wt->peep[d].assign(pd, pd + 3 * hidden);
    }
  }
  return wt;
}

struct RecurrentState {
  Params p;
  const kernels::F32GemmKernel* gemm = nullptr;
  const kernels::F32VactKernel* vact = nullptr;
  std::shared_ptr<Weights> weights;  // when W, R, B and P are all constants
};

std::shared_ptr<void> prepare_recurrent(PrepareContext& c, Cell cell) {
  auto st = std::make_shared<RecurrentState>();
  st->p = parse_params(c.attrs, cell);
  st->gemm = c.use(c.kernels.f32_gemm);
  st->vact = c.use(c.kernels.f32_vact);
  const bool consts = c.constant(kW) && c.constant(kR) && (!c.has_input(kB) || c.constant(kB)) &&
                      (!c.has_input(kP) || c.constant(kP));
  if (consts && c.has_input(kX)) {
    const TensorRef& w = *c.constant(kW);
    const TensorRef& r = *c.constant(kR);
    const bool typed = w.dtype == DType::kFloat32 && r.dtype == DType::kFloat32 &&
                       (!c.has_input(kB) || c.constant(kB)->dtype == DType::kFloat32) &&
                       (!c.has_input(kP) || c.constant(kP)->dtype == DType::kFloat32);
    // The shapes are checked here against the attributes, so a weight that disagrees with
    // hidden_size is refused at load; X's dims may still be symbolic, so its input size comes from W.
    if (typed && w.rank() == 3 && r.rank() == 3) {
      const int64_t hidden = st->p.hidden != 0 ? st->p.hidden : r.shape[2];
      const int64_t g = gate_count(cell);
      const Shape wexp{st->p.dirs, mul_dims(c.attrs.owner(), "gates * hidden_size", g, hidden), w.shape[2]};
      if (w.shape != wexp)
        c.error("W has shape ", shape_str(w.shape), ", expected ", shape_str(wexp), " (num_directions, ", g,
                " * hidden_size ", hidden, ", input_size)");
      const Shape rexp{st->p.dirs, g * hidden, hidden};
      if (r.shape != rexp) c.error("R has shape ", shape_str(r.shape), ", expected ", shape_str(rexp));
      const TensorRef* b = c.constant(kB);
      if (b != nullptr && b->shape != Shape{st->p.dirs, 2 * g * hidden})
        c.error("B has shape ", shape_str(b->shape), ", expected [", st->p.dirs, ", ", 2 * g * hidden, "]");
      const TensorRef* pp = c.constant(kP);
      if (pp != nullptr && pp->shape != Shape{st->p.dirs, 3 * hidden})
        c.error("P has shape ", shape_str(pp->shape), ", expected [", st->p.dirs, ", ", 3 * hidden, "]");
      st->weights = build_weights(st->p, *st->gemm, w.shape[2], hidden, w, r, b, pp);
    }
  }
  return st;
}

// The activation the GEMM epilogue can apply for `a` (the kernels library's own functions), or none.
bool epilogue_act(const Act& a, kernels::Activation* out) {
  switch (a.fn) {
    case ActFn::kRelu: *out = kernels::Activation::relu(); return true;
    case ActFn::kTanh: *out = kernels::Activation::tanh(); return true;
    case ActFn::kSigmoid: *out = kernels::Activation::sigmoid(); return true;
    case ActFn::kLeakyRelu: *out = kernels::Activation::leaky_relu(a.alpha); return true;
    case ActFn::kHardSigmoid: *out = kernels::Activation::hard_sigmoid(a.alpha, a.beta); return true;
    default: return false;
  }
}

// out[rows 0..m) += A * packed over N columns, the activation act0 applied in the epilogue to the
// columns before `split` and act1 to the rest (split: a multiple of the panel width, or N). With
// `threads`, the columns are shared by the pool at panel boundaries.
struct RecProduct {
  const kernels::F32GemmKernel* k = nullptr;
  int64_t K = 0, N = 0, split = 0;
  const float* packed = nullptr;
  kernels::Epilogue ep0, ep1;
};

void rec_gemm(const KernelContext& ctx, const RecProduct& rp, bool threads, const float* a, int64_t lda, float* out,
              int64_t ldc, int64_t m) {
  auto run = [&](kernels::Range cols) {
    if (cols.begin < rp.split)
      kernels::sgemm_packed(*rp.k, rp.K, rp.N, a, lda, rp.packed, out, ldc, rp.ep0, {0, m},
                            {cols.begin, std::min(cols.end, rp.split)});
    if (cols.end > rp.split)
      kernels::sgemm_packed(*rp.k, rp.K, rp.N, a, lda, rp.packed, out, ldc, rp.ep1, {0, m},
                            {std::max(cols.begin, rp.split), cols.end});
  };
  if (threads) split_gemm_cols(ctx, *rp.k, rp.N, run);
  else run({0, rp.N});
}

RecProduct product(const kernels::F32GemmKernel& k, int64_t K, int64_t N, const std::vector<float>& packed) {
  RecProduct rp;
  rp.k = &k;
  rp.K = K;
  rp.N = N;
  rp.split = N;
  rp.packed = packed.data();
  rp.ep0.accumulate = rp.ep1.accumulate = true;
  return rp;
}

void recurrent_kernel(const KernelContext& ctx) {
  const RecurrentState& st = ctx.state<RecurrentState>();
  const Params& p = st.p;
  const std::string& owner = ctx.attrs.owner();
  const std::vector<const TensorRef*> in = present_inputs(ctx);
  auto has = [&](size_t i) { return i < in.size() && in[i] != nullptr; };
  const Dims dm = check_shapes(p, owner, in);
  const int64_t seq = dm.seq, batch = dm.batch, hid = dm.hidden, input = dm.input;
  const int64_t g = gate_count(p.cell), gh = g * hid, nt = p.dirs * gh;
  const kernels::F32GemmKernel& gemm = *st.gemm;
  const kernels::F32VactKernel& vact = *st.vact;

  std::shared_ptr<Weights> run_weights;
  const Weights* wt = st.weights.get();
  if (wt == nullptr) {
    run_weights = build_weights(p, gemm, input, hid, *in[kW], *in[kR], has(kB) ? in[kB] : nullptr,
                                has(kP) ? in[kP] : nullptr);
    wt = run_weights.get();
  }

  // Per-sequence lengths; values are data, so they are checked here, before anything is indexed with them.
  std::vector<int64_t> lens(static_cast<size_t>(batch), seq);
  bool ragged = false;
  if (has(kSeqLens)) {
    const int32_t* sl = in[kSeqLens]->ptr<const int32_t>();
    for (int64_t b = 0; b < batch; ++b) {
      SLIM_CHECK(sl[b] >= 0 && sl[b] <= seq, owner, ": sequence_lens[", b, "] = ", sl[b], " is out of range [0, ",
                 seq, "]");
      lens[b] = sl[b];
      ragged |= sl[b] != seq;
    }
  }
  const int64_t max_len = batch == 0 ? 0 : *std::max_element(lens.begin(), lens.end());

  float* y = ctx.outputs.size() > 0 && ctx.outputs[0].numel() > 0 ? ctx.outputs[0].ptr<float>() : nullptr;
  float* yh = ctx.outputs.size() > 1 && ctx.outputs[1].numel() > 0 ? ctx.outputs[1].ptr<float>() : nullptr;
  float* yc = ctx.outputs.size() > 2 && ctx.outputs[2].numel() > 0 ? ctx.outputs[2].ptr<float>() : nullptr;
  if (batch == 0) return;
  // Steps past a sequence's end are zero in Y (ONNX).
  if (y != nullptr && ragged) std::memset(y, 0, static_cast<size_t>(ctx.outputs[0].numel()) * sizeof(float));

  // Input projection of every (t, b) row and both directions: X rows are in (t, b) order for
  // layout 0 and (b, t) order for layout 1; xw has the same row order.
  const int64_t rows = seq * batch;
  // The projection is held whole (gates * num_directions times Y's size), outside the session's arena:
  // a cap keeps a hostile shape from asking for more than any real layer needs.
  SLIM_CHECK(rows * nt <= kMaxScratchFloats, owner, ": the input projection of ", rows, " steps x ", nt,
             " gate columns needs more than ", (kMaxScratchFloats * 4) >> 20, " MiB of scratch");
  std::vector<float> xw(static_cast<size_t>(std::max<int64_t>(1, rows * nt)));
  if (rows > 0) {
    const float* x = in[kX]->ptr<const float>();
    kernels::Epilogue ep;
    ep.bias = wt->in_bias.data();
    if (rows * input * nt < kMinParallelProjection) {
      kernels::sgemm_packed(gemm, input, nt, x, input, wt->packed_w.data(), xw.data(), nt, ep, {0, rows}, {0, nt});
    } else if (rows <= gemm.tile_rows && nt >= 2 * gemm.tile_cols) {
      split_gemm_cols(ctx, gemm, nt, [&](kernels::Range cols) {
        kernels::sgemm_packed(gemm, input, nt, x, input, wt->packed_w.data(), xw.data(), nt, ep, {0, rows}, cols);
      });
    } else {
      split_gemm_rows(ctx, gemm, rows, [&](kernels::Range r) {
        kernels::sgemm_packed(gemm, input, nt, x, input, wt->packed_w.data(), xw.data(), nt, ep, r, {0, nt});
      });
    }
  }
  auto xw_row = [&](int64_t t, int64_t b) { return p.layout == 0 ? t * batch + b : b * seq + t; };
  auto y_off = [&](int64_t t, int d, int64_t b) {
    return p.layout == 0 ? ((t * p.dirs + d) * batch + b) * hid : ((b * seq + t) * p.dirs + d) * hid;
  };
  auto state_off = [&](int d, int64_t b) { return p.layout == 0 ? (d * batch + b) * hid : (b * p.dirs + d) * hid; };

  const int threads = ctx.pool.threads();
  const bool dirs_parallel = p.dirs == 2 && threads >= 2;
  // Splitting a step's product over the threads costs a hand-off and a join per step; below ~1M
  // multiply-adds (an LSTM of hidden 512 at batch 1) one thread streaming R was as fast on the 2-core
  // host measured, where a busy neighbour made every join wait (recurrent_bench.py, LSTM 2x256: 2x slower).
  const bool split_cols = !dirs_parallel && threads >= 2 && batch * gh * hid >= (int64_t(1) << 20) &&
                          gh >= 2 * gemm.tile_cols;

  auto run_direction = [&](int d) {
    const bool backward = p.reverse || d == 1;
    const Act* acts = p.acts.data() + d * act_count(p.cell);
    // The step's gate rows are updated in place in xw unless the sequences of a backward pass end at
    // different steps (their rows of one step are then not one stride apart): those are gathered.
    const bool gather = backward && ragged;
    std::vector<float> gathered(gather ? static_cast<size_t>(batch * gh) : 0);
    std::vector<float> h(static_cast<size_t>(batch * hid), 0.0f), tmp(h.size()), c, hr;
    if (p.cell == Cell::kLstm) c.assign(h.size(), 0.0f);
    if (p.cell == Cell::kGru) hr.assign(h.size(), 0.0f);
    for (int64_t b = 0; b < batch; ++b) {
      if (has(kInitH)) std::memcpy(&h[b * hid], in[kInitH]->ptr<const float>() + state_off(d, b), hid * sizeof(float));
      if (p.cell == Cell::kLstm && has(kInitC))
        std::memcpy(&c[b * hid], in[kInitC]->ptr<const float>() + state_off(d, b), hid * sizeof(float));
    }
    float* xw_d = xw.data() + d * gh;
    const std::vector<float>& peep = wt->peep[d];
    const bool clip = p.has_clip;
    const float cl = p.clip;
    const int64_t nr = gemm.tile_cols;

    // The recurrent products, with the gate activations in their epilogue where nothing comes between
    // the sum and the activation (no clip, no peephole) and the kernels library has the function.
    kernels::Activation a0, a1;
    const bool fuse0 = !clip && epilogue_act(acts[0], &a0);
    const bool fuse1 = !clip && act_count(p.cell) > 1 && epilogue_act(acts[1], &a1);
    bool fused_f = false, fused_g = false;  // f (RNN/GRU z, r/LSTM i, o, f) and g (LSTM c/GRU h) done in the GEMM
    RecProduct rec, rec_h;
    if (p.cell == Cell::kGru) {
      rec = product(gemm, hid, 2 * hid, wt->rec[d]);
      if (fuse0) rec.ep0.act = a0, fused_f = true;
      rec_h = product(gemm, hid, hid, wt->rec_h[d]);
      if (p.linear_before_reset) {
        rec_h.ep0.accumulate = false;
        rec_h.ep0.bias = wt->rec_h_bias[d].data();
      } else if (fuse1) {
        rec_h.ep0.act = a1, fused_g = true;
      }
    } else {
      rec = product(gemm, hid, gh, wt->rec[d]);
      if (p.cell == Cell::kRnn && fuse0) rec.ep0.act = a0, fused_f = true;
      if (p.cell == Cell::kLstm && peep.empty() && fuse0 && fuse1 && (3 * hid) % nr == 0) {
        rec.split = 3 * hid;
        rec.ep0.act = a0;
        rec.ep1.act = a1;
        fused_f = fused_g = true;
      }
    }

    for (int64_t s = 0; s < max_len; ++s) {
      float* gates;
      int64_t ldg;
      if (gather) {
        for (int64_t b = 0; b < batch; ++b)
          if (s < lens[b]) std::memcpy(&gathered[b * gh], xw_d + xw_row(lens[b] - 1 - s, b) * nt, gh * sizeof(float));
        gates = gathered.data();
        ldg = gh;
      } else {
        const int64_t t = backward ? seq - 1 - s : s;
        gates = xw_d + xw_row(t, 0) * nt;
        ldg = p.layout == 0 ? nt : seq * nt;
      }
      auto active = [&](int64_t b) { return s < lens[b]; };

      rec_gemm(ctx, rec, split_cols, h.data(), hid, gates, ldg, batch);
      if (p.cell == Cell::kRnn) {
        for (int64_t b = 0; b < batch; ++b) {
          if (!active(b)) continue;
          float* gt = gates + b * ldg;
          if (clip) clip_inplace(gt, hid, cl);
          if (!fused_f) apply_act(acts[0], vact, gt, hid);
          std::memcpy(&h[b * hid], gt, hid * sizeof(float));
        }
      } else if (p.cell == Cell::kGru) {
        if (p.linear_before_reset) rec_gemm(ctx, rec_h, split_cols, h.data(), hid, hr.data(), hid, batch);
        for (int64_t b = 0; b < batch; ++b) {
          float* zr = gates + b * ldg;
          if (active(b) && clip) clip_inplace(zr, 2 * hid, cl);
          if (active(b) && !fused_f) apply_act(acts[0], vact, zr, 2 * hid);
          const float* r = zr + hid;
          if (p.linear_before_reset) {
            if (!active(b)) continue;
            float* hh = zr + 2 * hid;
            const float* hrb = &hr[b * hid];
            for (int64_t j = 0; j < hid; ++j) hh[j] += r[j] * hrb[j];
          } else {
            // every row: the product reads all of them (an ended sequence's row is not used after)
            const float* hb = &h[b * hid];
            float* rh = &tmp[b * hid];
            for (int64_t j = 0; j < hid; ++j) rh[j] = r[j] * hb[j];
          }
        }
        if (!p.linear_before_reset) rec_gemm(ctx, rec_h, split_cols, tmp.data(), hid, gates + 2 * hid, ldg, batch);
        for (int64_t b = 0; b < batch; ++b) {
          if (!active(b)) continue;
          const float* z = gates + b * ldg;
          float* hh = gates + b * ldg + 2 * hid;
          if (clip) clip_inplace(hh, hid, cl);
          if (!fused_g) apply_act(acts[1], vact, hh, hid);
          float* hb = &h[b * hid];
          for (int64_t j = 0; j < hid; ++j) hb[j] = (1.0f - z[j]) * hh[j] + z[j] * hb[j];
        }
      } else {
        for (int64_t b = 0; b < batch; ++b) {
          if (!active(b)) continue;
          float* gt = gates + b * ldg;
          float *gi = gt, *go = gt + hid, *gf = gt + 2 * hid, *gc = gt + 3 * hid;
          float* cb = &c[b * hid];
          float* hb = &h[b * hid];
          float* hc = &tmp[b * hid];
          if (peep.empty()) {
            if (clip) clip_inplace(gt, gh, cl);
            // i, o, f are contiguous: one call for the three gates of activation f
            if (!fused_f) apply_act(acts[0], vact, gi, (p.input_forget ? 2 : 3) * hid);
          } else {
            const float *pi = peep.data(), *pf = pi + 2 * hid;
            for (int64_t j = 0; j < hid; ++j) gi[j] += pi[j] * cb[j];
            if (clip) clip_inplace(gi, hid, cl);
            apply_act(acts[0], vact, gi, hid);
            if (!p.input_forget) {
              for (int64_t j = 0; j < hid; ++j) gf[j] += pf[j] * cb[j];
              if (clip) clip_inplace(gf, hid, cl);
              apply_act(acts[0], vact, gf, hid);
            }
            if (clip) clip_inplace(gc, hid, cl);
          }
          if (p.input_forget)
            for (int64_t j = 0; j < hid; ++j) gf[j] = 1.0f - gi[j];
          if (!fused_g) apply_act(acts[1], vact, gc, hid);
          for (int64_t j = 0; j < hid; ++j) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
          if (!peep.empty()) {
            const float* po = peep.data() + hid;
            for (int64_t j = 0; j < hid; ++j) go[j] += po[j] * cb[j];
            if (clip) clip_inplace(go, hid, cl);
            apply_act(acts[0], vact, go, hid);
          }
          std::memcpy(hc, cb, hid * sizeof(float));
          apply_act(acts[2], vact, hc, hid);
          for (int64_t j = 0; j < hid; ++j) hb[j] = go[j] * hc[j];
        }
      }
      if (y != nullptr) {
        for (int64_t b = 0; b < batch; ++b) {
          if (!active(b)) continue;
          const int64_t t = backward ? lens[b] - 1 - s : s;
          std::memcpy(y + y_off(t, d, b), &h[b * hid], hid * sizeof(float));
        }
      }
    }
    for (int64_t b = 0; b < batch; ++b) {
      if (yh != nullptr) std::memcpy(yh + state_off(d, b), &h[b * hid], hid * sizeof(float));
      if (yc != nullptr) std::memcpy(yc + state_off(d, b), &c[b * hid], hid * sizeof(float));
    }
  };

  if (dirs_parallel) {
    ctx.parallel_for(2, 1, [&](int64_t b, int64_t e) {
      for (int64_t d = b; d < e; ++d) run_direction(static_cast<int>(d));
    });
  } else {
    for (int d = 0; d < p.dirs; ++d) run_direction(d);
  }
}

template <Cell C>
void infer_cell(InferContext& c) { infer_recurrent(c, C); }
template <Cell C>
std::shared_ptr<void> prepare_cell(PrepareContext& c) { return prepare_recurrent(c, C); }

}  // namespace
}  // namespace slim

DEFINE_OP(LSTM) {
  return OpDef("LSTM")
      .dtypes({DType::kFloat32})
      .inputs(3, 8)
      .outputs(1, 3)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_cell<Cell::kLstm>)
      .prepare(prepare_cell<Cell::kLstm>)
      .kernel(recurrent_kernel);
}

DEFINE_OP(GRU) {
  return OpDef("GRU")
      .dtypes({DType::kFloat32})
      .inputs(3, 6)
      .outputs(1, 2)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_cell<Cell::kGru>)
      .prepare(prepare_cell<Cell::kGru>)
      .kernel(recurrent_kernel);
}

DEFINE_OP(RNN) {
  return OpDef("RNN")
      .dtypes({DType::kFloat32})
      .inputs(3, 6)
      .outputs(1, 2)
      .layout(LayoutPolicy::kPlain)
      .infer(infer_cell<Cell::kRnn>)
      .prepare(prepare_cell<Cell::kRnn>)
      .kernel(recurrent_kernel);
}
