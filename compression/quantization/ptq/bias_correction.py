"""Empirical bias correction (Nagel et al., 2019): the mean output shift that weight quantization
causes in each layer, measured on calibration data, is added back to the layer's bias."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from compression.quantization.calibrate import forward_batches
from compression.quantization.modules import QuantizedLayer


@torch.no_grad()
def correct_bias(qmodel: nn.Module, batches: Iterable, num_batches: int) -> int:
    """Correct every quantized layer with a weight quantizer; returns the number corrected."""
    layers = {n: m for n, m in qmodel.named_modules() if isinstance(m, QuantizedLayer) and m.weight_quant is not None}
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def hook(name: str):
        def fn(mod: QuantizedLayer, args: tuple, out: torch.Tensor) -> None:
            x = mod.input_quant(args[0]) if mod.input_quant is not None else args[0]
            exact = mod._op(mod.layer, x, mod.effective_weight(), mod.effective_bias())
            # mean over everything but the channel axis (dim 1 for convs, last for linear)
            axis = 1 if out.dim() > 2 and not isinstance(mod.layer, nn.Linear) else -1
            diff = (exact - out).transpose(axis, -1).reshape(-1, out.shape[axis]).mean(0)
            sums[name] = sums.get(name, 0) + diff
            counts[name] = counts.get(name, 0) + 1

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in layers.items()]
    try:
        qmodel.eval()
        forward_batches(qmodel, batches, num_batches, "bias correction")
    finally:
        for h in handles:
            h.remove()
    for name, total in sums.items():
        layer = layers[name].layer
        shift = total / counts[name]
        if layer.bias is None:
            layer.bias = nn.Parameter(shift.clone())
        else:
            layer.bias.add_(shift)
    return len(sums)
