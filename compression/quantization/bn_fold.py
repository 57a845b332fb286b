"""BatchNorm folding: ``bn(conv(x))`` == ``conv'(x)`` with rescaled weights and a shifted bias.

Pairs are found as consecutive children of ``nn.Sequential`` containers (the
zoo's ``ConvNormAct`` and torchvision's ``Conv2dNormActivation`` are such), which
needs no tracing and therefore works on every model. Folding uses the running
statistics, so it is exact for a model in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn

from compression.quantization.modules import layer_kind

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def fold_into(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Fold ``bn``'s affine transform into ``layer``'s weight and bias in place."""
    kind = layer_kind(layer)
    if kind is None:
        raise TypeError(f"cannot fold BatchNorm into a {type(layer).__name__}")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics (track_running_stats=False)")
    if getattr(layer, "groups", 1) != 1 and kind.weight_axis != 0:
        raise ValueError(f"cannot fold BatchNorm into a grouped {type(layer).__name__}")
    inv_std = torch.rsqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(inv_std)
    beta = bn.bias if bn.affine else torch.zeros_like(inv_std)
    factor = gamma * inv_std
    shape = [1] * layer.weight.dim()
    shape[kind.weight_axis] = -1
    layer.weight.mul_(factor.reshape(shape))
    bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * factor + beta
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias)
    else:
        layer.bias.copy_(new_bias)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm that directly follows a conv/linear layer in a Sequential; returns the count."""
    folded = 0
    for container in model.modules():
        if not isinstance(container, nn.Sequential):
            continue
        names = list(container._modules)
        for prev, name in zip(names, names[1:]):
            layer, bn = container._modules[prev], container._modules[name]
            if isinstance(bn, _NORMS) and layer_kind(layer) is not None and bn.num_features == _out_channels(layer):
                fold_into(layer, bn)
                container._modules[name] = nn.Identity()
                folded += 1
    return folded


def _out_channels(layer: nn.Module) -> int:
    return layer.weight.shape[layer_kind(layer).weight_axis] * (
        getattr(layer, "groups", 1) if layer_kind(layer).weight_axis == 1 else 1
    )
