"""Cross-layer equalization (Nagel et al., 2019) of consecutive conv pairs, e.g. depthwise -> pointwise.

For ``conv1 -> ReLU -> conv2``, scaling output channel i of conv1 by 1/s_i and
input channel i of conv2 by s_i leaves the function unchanged (ReLU is positively
homogeneous) while s_i = sqrt(r1_i / r2_i) equalizes the two channel ranges, which
per-tensor quantization of depthwise layers needs badly. ReLU6 is not homogeneous,
so pairs across it are left alone. Each pair is verified numerically and undone
if the model's output changes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from compression.quantization.bn_fold import fold_batchnorm
from compression.quantization.modules import layer_kind

# activations through which a positive per-channel scale passes unchanged
_HOMOGENEOUS = (nn.ReLU, nn.Identity, nn.LeakyReLU)


@dataclass
class _Producer:
    name: str
    module: nn.Module
    # who produced this module's input, captured when it ran (in-place ops reuse the tensor, so
    # a lookup by tensor identity afterwards would find the module itself)
    source: _Producer | None


def _find_pairs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str]]:
    producer: dict[int, _Producer] = {}
    pairs: list[tuple[str, str]] = []

    def hook(name: str):
        def fn(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
                return
            source = producer.get(id(args[0]))
            if isinstance(mod, nn.Conv2d):
                src = source
                while src is not None and isinstance(src.module, _HOMOGENEOUS):
                    src = src.source
                if src is not None and isinstance(src.module, nn.Conv2d):
                    pairs.append((src.name, name))
            producer[id(out)] = _Producer(name, mod, source)

        return fn

    handles = [
        mod.register_forward_hook(hook(name))
        for name, mod in model.named_modules()
        if isinstance(mod, (nn.Conv2d, *_HOMOGENEOUS))
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return pairs


@torch.no_grad()
def _equalize(conv1: nn.Conv2d, conv2: nn.Conv2d) -> bool:
    out1 = conv1.weight.shape[0]
    depthwise2 = conv2.groups == conv2.in_channels == conv2.out_channels
    if conv2.groups != 1 and not depthwise2:
        return False
    if conv1.groups != 1 and conv1.groups != conv1.out_channels:
        return False
    r1 = conv1.weight.abs().reshape(out1, -1).amax(dim=1)
    w2 = conv2.weight
    r2 = w2.abs().reshape(out1, -1).amax(dim=1) if depthwise2 else w2.abs().transpose(0, 1).reshape(out1, -1).amax(1)
    ok = (r1 > 0) & (r2 > 0)
    s = torch.where(ok, torch.sqrt(r1 / r2.clamp(min=1e-12)), torch.ones_like(r1))
    conv1.weight.div_(s.reshape(-1, 1, 1, 1))
    if conv1.bias is not None:
        conv1.bias.div_(s)
    if depthwise2:
        conv2.weight.mul_(s.reshape(-1, 1, 1, 1))
    else:
        conv2.weight.mul_(s.reshape(1, -1, 1, 1))
    return True


@torch.no_grad()
def equalize_cross_layer(model: nn.Module, example_input: torch.Tensor, rtol: float = 1e-4) -> tuple[nn.Module, int]:
    """A BN-folded, equalized copy of ``model`` and the number of equalized pairs."""
    model = copy.deepcopy(model).eval()
    fold_batchnorm(model)
    reference = model(example_input)
    scale = float(reference.abs().max()) or 1.0
    done = 0
    for name1, name2 in _find_pairs(model, example_input):
        conv1, conv2 = model.get_submodule(name1), model.get_submodule(name2)
        if layer_kind(conv1) is None or layer_kind(conv2) is None:
            continue
        saved = (conv1.weight.clone(), None if conv1.bias is None else conv1.bias.clone(), conv2.weight.clone())
        if not _equalize(conv1, conv2):
            continue
        if float((model(example_input) - reference).abs().max()) > rtol * scale:
            # the pair was not a plain chain (a skip or ReLU6 in between): undo
            conv1.weight.copy_(saved[0])
            if saved[1] is not None:
                conv1.bias.copy_(saved[1])
            conv2.weight.copy_(saved[2])
            continue
        done += 1
    return model, done
