"""Memory access cost (MAC) in the sense of ShuffleNetV2 (Ma et al. 2018, Sec. 2).

For a convolution the paper counts the values a layer must move: its input
feature map, its output feature map and its weights,
``h*w*(c_in + c_out) + k*k*c_in*c_out/groups`` for a stride-1 conv. We count the
same three terms from the shapes actually seen in the forward pass, which makes
the rule hold for strided and padded convolutions too (input and output maps
then differ in size) and extends it unchanged to ``nn.Linear``: input elements +
output elements + weight elements, the input being every token/row the layer
sees. Biases are left out as in the paper (they fold into the norm or are
negligible). Figures are numbers of values, not bytes, so they do not depend
on the data type; the whole batch of the profiled input is counted.

Layers without a rule (norms, activations, pooling) get ``None``: the paper's
cost model is defined for the weight layers and we do not invent one for the rest.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from configs.registry import Registry

AccessCostRule = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]

ACCESS_COST_RULES: Registry[AccessCostRule] = Registry("memory access cost rule")


def _feature_maps_plus_weight(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    # conv weight numel is c_out * c_in/groups * k*k: the paper's weight term, exactly
    return int(inp.numel() + out.numel() + module.weight.numel())


ACCESS_COST_RULES.add("conv", _feature_maps_plus_weight, types=(nn.modules.conv._ConvNd,))
ACCESS_COST_RULES.add("linear", _feature_maps_plus_weight, types=(nn.Linear,))


def rule_for(module: nn.Module) -> AccessCostRule | None:
    """The access-cost rule whose registered types match ``module``; None when none does."""
    for name in ACCESS_COST_RULES:
        if isinstance(module, ACCESS_COST_RULES.meta(name)["types"]):
            return ACCESS_COST_RULES.get(name)
    return None


def memory_access_cost(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int | None:
    """Values moved by one call of ``module`` with input ``inp`` and output ``out`` (None: no rule)."""
    rule = rule_for(module)
    return None if rule is None else rule(module, inp, out)
