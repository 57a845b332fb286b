"""Cross-layer equalization (Nagel et al., 2019) of consecutive conv pairs, e.g. depthwise -> pointwise.

For ``conv1 -> ReLU -> conv2``, scaling output channel i of conv1 by 1/s_i and
input channel i of conv2 by s_i leaves the function unchanged (ReLU is positively
homogeneous) while s_i = sqrt(r1_i / r2_i) equalizes the two channel ranges, which
per-tensor quantization of depthwise layers needs badly.

ReLU6 is not homogeneous (the clip at 6 does not commute with the scale), so pairs
across it are skipped by default and counted, since a MobileNetV2 would otherwise
come back untouched without a word. With ``relu6_to_relu`` the ReLU6 modules between
equalized pairs become ReLU first, as the DFQ paper does for MobileNetV2 (sec. 5):
this changes the fp32 function slightly, so the number replaced is reported.

Each pair is verified numerically and undone (ReLU6 restored) if any layer other than
conv1 computes something else, e.g. because conv1's output also feeds a residual add.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch
from torch import nn

from compression.quantization.bn_fold import fold_batchnorm
from compression.quantization.modules import layer_kind

log = logging.getLogger(__name__)

# activations through which a positive per-channel scale passes unchanged
_HOMOGENEOUS = (nn.ReLU, nn.Identity, nn.LeakyReLU)


@dataclass(frozen=True)
class CLEReport:
    """What equalization did; ``relu6_replaced > 0`` means the fp32 function was changed on purpose."""

    pairs_found: int  # conv pairs joined by homogeneous activations or ReLU6
    equalized: int
    skipped_relu6: int  # pairs left alone because a ReLU6 sits between them and relu6_to_relu is off
    relu6_replaced: int  # ReLU6 modules now ReLU (each between equalized pairs)


@dataclass(frozen=True)
class _Pair:
    conv1: str
    conv2: str
    relu6: tuple[str, ...]  # ReLU6 modules on the path between them


@dataclass
class _Producer:
    name: str
    module: nn.Module
    # who produced this module's input, captured when it ran (in-place ops reuse the tensor, so
    # a lookup by tensor identity afterwards would find the module itself)
    source: _Producer | None
    # held so that the tensor's id is not reused by a later tensor while the walk runs
    output: torch.Tensor


def _find_pairs(model: nn.Module, x: torch.Tensor) -> list[_Pair]:
    producer: dict[int, _Producer] = {}
    pairs: list[_Pair] = []

    def hook(name: str):
        def fn(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
                return
            source = producer.get(id(args[0]))
            if isinstance(mod, nn.Conv2d):
                src, relu6 = source, []
                while src is not None and isinstance(src.module, (*_HOMOGENEOUS, nn.ReLU6)):
                    if isinstance(src.module, nn.ReLU6):
                        relu6.append(src.name)
                    src = src.source
                if src is not None and isinstance(src.module, nn.Conv2d):
                    pairs.append(_Pair(src.name, name, tuple(relu6)))
            producer[id(out)] = _Producer(name, mod, source, out)

        return fn

    handles = [
        mod.register_forward_hook(hook(name))
        for name, mod in model.named_modules()
        if isinstance(mod, (nn.Conv2d, *_HOMOGENEOUS, nn.ReLU6))
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return pairs


def _equalizable(conv1: nn.Conv2d, conv2: nn.Conv2d) -> bool:
    # conv1's output channels must each be one input channel of conv2 (dense) or one group (depthwise)
    depthwise2 = conv2.groups == conv2.in_channels == conv2.out_channels
    if (conv2.groups != 1 and not depthwise2) or conv1.out_channels != conv2.in_channels:
        return False
    return conv1.groups in (1, conv1.out_channels) and layer_kind(conv1) is not None and layer_kind(conv2) is not None


@torch.no_grad()
def _equalize(conv1: nn.Conv2d, conv2: nn.Conv2d) -> None:
    out1 = conv1.weight.shape[0]
    depthwise2 = conv2.groups != 1
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


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _layer_outputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The output of every weight layer, and the model's under "". Checking every layer, not just the
    model's output, catches a wrong rescale that a saturated activation would hide downstream."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        # cloned: an in-place activation after the layer would change the stored tensor
        mod.register_forward_hook(lambda _m, _a, out, name=name: outputs.__setitem__(name, out.clone()))
        for name, mod in model.named_modules()
        if name and layer_kind(mod) is not None
    ]
    try:
        outputs[""] = model(x)
    finally:
        for h in handles:
            h.remove()
    return outputs


def _unchanged(outputs: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], rescaled: str,
               rtol: float) -> bool:
    # conv1's own output is scaled on purpose; every other layer must compute what it did before
    for name, ref in reference.items():
        if name != rescaled and float((outputs[name] - ref).abs().max()) > rtol * (float(ref.abs().max()) or 1.0):
            return False
    return True


@torch.no_grad()
def equalize_cross_layer(
    model: nn.Module, example_input: torch.Tensor, rtol: float = 1e-4, relu6_to_relu: bool = False
) -> tuple[nn.Module, CLEReport]:
    """A BN-folded, equalized copy of ``model`` and what was done.

    ``relu6_to_relu`` lets pairs across ReLU6 be equalized by turning those ReLU6 into ReLU (the
    copy's fp32 function then differs from ``model``'s); ``model`` itself is never modified.
    """
    model = copy.deepcopy(model).eval()
    fold_batchnorm(model)
    pairs = [p for p in _find_pairs(model, example_input)
             if _equalizable(model.get_submodule(p.conv1), model.get_submodule(p.conv2))]
    reference = _layer_outputs(model, example_input)
    equalized, skipped, replaced = 0, 0, set()
    for pair in pairs:
        if pair.relu6 and not relu6_to_relu:
            skipped += 1
            continue
        conv1, conv2 = model.get_submodule(pair.conv1), model.get_submodule(pair.conv2)
        saved = (conv1.weight.clone(), None if conv1.bias is None else conv1.bias.clone(), conv2.weight.clone())
        fresh = [n for n in pair.relu6 if n not in replaced]
        originals = {n: model.get_submodule(n) for n in fresh}
        for name, relu6 in originals.items():
            _set_module(model, name, nn.ReLU(inplace=relu6.inplace))
        # the reference for this pair is the function with its ReLU6 already replaced
        target = _layer_outputs(model, example_input) if fresh else reference
        _equalize(conv1, conv2)
        outputs = _layer_outputs(model, example_input)
        if not _unchanged(outputs, target, pair.conv1, rtol):
            # not a plain chain (conv1's output also feeds a skip, say): undo, ReLU6 included
            conv1.weight.copy_(saved[0])
            if saved[1] is not None:
                conv1.bias.copy_(saved[1])
            conv2.weight.copy_(saved[2])
            for name, relu6 in originals.items():
                _set_module(model, name, relu6)
            continue
        # conv1's rescaled output is the new normal for the pairs that follow
        reference = {**target, pair.conv1: outputs[pair.conv1]}
        replaced.update(fresh)
        equalized += 1
    report = CLEReport(len(pairs), equalized, skipped, len(replaced))
    if skipped:
        log.warning("cross-layer equalization skipped %d of %d conv pairs because a ReLU6 sits between them "
                    "(not scale-invariant); pass relu6_to_relu=True (config: compress.ptq.cle_relu6_to_relu=true) "
                    "to replace those ReLU6 by ReLU and equalize them", skipped, len(pairs))
    if replaced:
        log.warning("cross-layer equalization replaced %d ReLU6 by ReLU: the fp32 model's function changed",
                    len(replaced))
    log.info("cross-layer equalization: %s", report)
    return model, report
