#include "ops/fused_activation.h"

#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace slim {

namespace {

using kernels::ActKind;

struct ActivationSpec {
  ActKind kind;
  size_t num_params;
  float default_alpha, default_beta;  // used only when the op's ONNX form has defaults
};

// The names are the ONNX op types the converter fused (kernels::act_name spells them the same).
const std::map<std::string, ActivationSpec>& specs() {
  static const std::map<std::string, ActivationSpec> table = {
      {"Relu", {ActKind::kRelu, 0, 0.0f, 0.0f}},
      {"Clip", {ActKind::kClip, 2, 0.0f, 0.0f}},
      {"LeakyRelu", {ActKind::kLeakyRelu, 1, 0.01f, 0.0f}},
      {"HardSigmoid", {ActKind::kHardSigmoid, 2, 0.2f, 0.5f}},
      {"HardSwish", {ActKind::kHardSwish, 0, 0.0f, 0.0f}},
      {"Sigmoid", {ActKind::kSigmoid, 0, 0.0f, 0.0f}},
      {"SiLU", {ActKind::kSilu, 0, 0.0f, 0.0f}},
      {"Gelu", {ActKind::kGelu, 0, 0.0f, 0.0f}},
      {"Tanh", {ActKind::kTanh, 0, 0.0f, 0.0f}},
  };
  return table;
}

}  // namespace

kernels::Activation parse_fused_activation(const Attributes& attrs) {
  kernels::Activation act;
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
  SLIM_CHECK(!(spec.kind == ActKind::kClip && params.empty()), attrs.owner(),
             ": activation Clip needs activation_params [min, max]");
  act.kind = spec.kind;
  act.alpha = params.size() > 0 ? params[0] : spec.default_alpha;
  act.beta = params.size() > 1 ? params[1] : spec.default_beta;
  return act;
}

}  // namespace slim
