#include "ops/activation.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace slim {

namespace {

struct ActivationSpec {
  Activation kind;
  size_t num_params;
  float default_a, default_b;  // used only when the op's ONNX form has defaults
};

const std::map<std::string, ActivationSpec>& specs() {
  static const std::map<std::string, ActivationSpec> table = {
      {"Relu", {Activation::kRelu, 0, 0.0f, 0.0f}},
      {"Clip", {Activation::kClip, 2, 0.0f, 0.0f}},
      {"LeakyRelu", {Activation::kLeakyRelu, 1, 0.01f, 0.0f}},
      {"HardSigmoid", {Activation::kHardSigmoid, 2, 0.2f, 0.5f}},
      {"HardSwish", {Activation::kHardSwish, 0, 0.0f, 0.0f}},
      {"Sigmoid", {Activation::kSigmoid, 0, 0.0f, 0.0f}},
      {"SiLU", {Activation::kSiLU, 0, 0.0f, 0.0f}},
      {"Gelu", {Activation::kGelu, 0, 0.0f, 0.0f}},
      {"Tanh", {Activation::kTanh, 0, 0.0f, 0.0f}},
  };
  return table;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

float FusedActivation::apply(float x) const {
  switch (kind) {
    case Activation::kNone: return x;
    case Activation::kRelu: return x > 0.0f ? x : (x == x ? 0.0f : x);  // keeps NaN
    case Activation::kClip: return x < a ? a : (x > b ? b : x);
    case Activation::kLeakyRelu: return x >= 0.0f ? x : a * x;
    case Activation::kHardSigmoid: return std::fmax(0.0f, std::fmin(1.0f, a * x + b));
    case Activation::kHardSwish: return x * std::fmax(0.0f, std::fmin(1.0f, x / 6.0f + 0.5f));
    case Activation::kSigmoid: return sigmoid(x);
    case Activation::kSiLU: return x * sigmoid(x);
    case Activation::kGelu: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::kTanh: return std::tanh(x);
  }
  return x;
}

FusedActivation parse_fused_activation(const Attributes& attrs) {
  FusedActivation act;
  if (!attrs.has("activation")) {
    SLIM_CHECK(!attrs.has("activation_params"), attrs.owner(),
               ": attribute 'activation_params' given without 'activation'");
    return act;
  }
  const std::string name = attrs.get_string("activation");
  auto it = specs().find(name);
  if (it == specs().end()) {
    std::string known;
    for (const auto& kv : specs()) known += (known.empty() ? "" : ", ") + kv.first;
    fail(attrs.owner(), ": unknown fused activation '", name, "' (known: ", known, ")");
  }
  const ActivationSpec& spec = it->second;
  const std::vector<float> params = attrs.get_floats("activation_params", {});
  SLIM_CHECK(params.empty() || params.size() == spec.num_params, attrs.owner(), ": activation ", name,
             " takes ", spec.num_params, " activation_params, got ", params.size());
  SLIM_CHECK(!(spec.kind == Activation::kClip && params.empty()), attrs.owner(),
             ": activation Clip needs activation_params [min, max]");
  act.kind = spec.kind;
  act.a = params.size() > 0 ? params[0] : spec.default_a;
  act.b = params.size() > 1 ? params[1] : spec.default_b;
  return act;
}

void apply_activation(const FusedActivation& act, float* data, int64_t n) {
  if (act.kind == Activation::kNone) return;
  for (int64_t i = 0; i < n; ++i) data[i] = act.apply(data[i]);
}

#ifdef SLIMLAB_HAVE_KERNELS
kernels::Activation to_kernel_activation(const FusedActivation& a) {
  using kernels::ActKind;
  switch (a.kind) {
    case Activation::kNone: return {};
    case Activation::kRelu: return {ActKind::kRelu, 0.0f, 0.0f};
    case Activation::kClip: return {ActKind::kClip, a.a, a.b};
    case Activation::kLeakyRelu: return {ActKind::kLeakyRelu, a.a, 0.0f};
    case Activation::kHardSigmoid: return {ActKind::kHardSigmoid, a.a, a.b};
    case Activation::kHardSwish: return {ActKind::kHardSwish, 0.0f, 0.0f};
    case Activation::kSigmoid: return {ActKind::kSigmoid, 0.0f, 0.0f};
    case Activation::kSiLU: return {ActKind::kSilu, 0.0f, 0.0f};
    case Activation::kGelu: return {ActKind::kGelu, 0.0f, 0.0f};
    case Activation::kTanh: return {ActKind::kTanh, 0.0f, 0.0f};
  }
  return {};
}
#endif

}  // namespace slim
