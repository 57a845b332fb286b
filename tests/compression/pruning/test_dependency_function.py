"""Regression tests of the dependency analysis on the couplings pruning tools get wrong:
depthwise convs, MobileNetV3's squeeze-excite with hardswish, residual adds, concat
(Ghost, Fire), ShuffleNetV2's branches, MobileViT's MLP.

The check is functional, not just "it runs": zero every tensor slice that belongs to a few
channels of a group (as the graph maps them), prune exactly those channels, and the pruned
model must compute the *same* function. A coupling the graph missed leaves a live slice
behind (or removes the wrong one) and the outputs differ.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from compression.pruning import prune_structured
from compression.pruning.dependency import analyze
from tests.compression.pruning.helpers import small_input, small_model

DEAD_PER_GROUP = 2
GROUPS_PER_MODEL = 4
CROSS_CHANNEL_NORMS = (nn.LayerNorm, nn.GroupNorm)


def _zero_slice(module: nn.Module, idxs: list[int], outputs: bool) -> None:
    per_channel = outputs or isinstance(module, nn.modules.batchnorm._BatchNorm)
    depthwise = isinstance(module, nn.Conv2d) and module.groups > 1
    with torch.no_grad():
        if per_channel or depthwise:
            for t in (module.weight, module.bias):
                if t is not None:
                    t[idxs] = 0
        else:
            module.weight[:, idxs] = 0  # a consumer: its bias is not per input channel


def _kill_channels(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Zero DEAD_PER_GROUP channels in up to GROUPS_PER_MODEL groups; returns layer_ratios removing them."""
    analysis = analyze(model, x)
    graph, names = analysis.graph, analysis.names
    ratios: dict[str, float] = {}
    for group in analysis.prunable_groups():
        root = group[0].dep.target.module
        if any(isinstance(dep.target.module, CROSS_CHANNEL_NORMS) for dep, _ in group):
            continue  # normalising across channels: a zero channel still moves mean and variance
        width = len(group[0].idxs)
        if width < 4:
            continue
        dead = graph.get_pruning_group(root, group[0].dep.handler, list(range(1, 1 + DEAD_PER_GROUP)))
        for dep, idxs in dead:
            module = dep.target.module
            if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm)):
                _zero_slice(module, list(idxs), graph.is_out_channel_pruning_fn(dep.handler))
        # Torch-Pruning keeps int(width * (1 - ratio)) channels: this removes exactly DEAD_PER_GROUP
        ratios[names[root]] = (DEAD_PER_GROUP - 0.5) / width
        if len(ratios) == GROUPS_PER_MODEL:
            break
    return ratios


@pytest.mark.parametrize(
    "name",
    ["mobilenetv2", "mobilenetv3_small", "ghostnet", "shufflenetv2_x0_5", "mobilevit_xxs", "squeezenet1_1",
     "efficientnet_b0", "efficientformer_l1", "mobilenetv4_conv_small", "shufflenetv1_g1"],
)
def test_pruning_dead_channels_keeps_the_function(name):
    model, x = small_model(name), small_input(2)
    ratios = _kill_channels(model, x)
    assert ratios, f"{name}: no group to test"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = prune_structured(model, x, 0.0, layer_ratios=ratios, round_to=1)
    removed = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in result.model.parameters())
    assert removed > 0
    with torch.no_grad():
        torch.testing.assert_close(result.model(x), model(x), rtol=1e-4, atol=1e-5)


def test_depthwise_convs_keep_groups_equal_to_channels():
    model, x = small_model("mobilenetv2"), small_input()
    pruned = prune_structured(model, x, 0.5).model
    depthwise = [m for m in pruned.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert depthwise
    for conv in depthwise:
        assert conv.groups == conv.in_channels == conv.out_channels
        assert conv.weight.shape[1] == 1


def test_mobilenetv3_squeeze_excite_follows_its_channels():
    model, x = small_model("mobilenetv3_small"), small_input()
    pruned = prune_structured(model, x, 0.5).model
    ses = [m for m in pruned.modules() if type(m).__name__ == "SqueezeExcite"]
    assert ses
    for se in ses:
        assert se.conv_expand.out_channels == se.conv_reduce.in_channels
    assert any(se.conv_reduce.in_channels < s.conv_reduce.in_channels
               for se, s in zip(ses, [m for m in model.modules() if type(m).__name__ == "SqueezeExcite"]))
    assert any(isinstance(m, nn.Hardswish) for m in pruned.modules())
