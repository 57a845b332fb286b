"""AdaRound (Nagel et al., 2020): learn, per weight, whether to round down or up so that each
layer's output on calibration inputs is preserved, instead of rounding to nearest.

The learned weights are written back on the layer's existing grid, so the
frozen weight quantizer reproduces them exactly (nothing else changes).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from compression.quantization.calibrate import forward_batches
from compression.quantization.modules import QuantizedLayer

ZETA, GAMMA = 1.1, -0.1


def _rectified_sigmoid(v: torch.Tensor) -> torch.Tensor:
    return (torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA).clamp(0, 1)


def _grid(layer: QuantizedLayer, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q = layer.weight_quant
    scale, zp = q.quant_step(), q.zero_point.float()
    if q.ch_axis is not None:
        shape = [1] * w.dim()
        shape[q.ch_axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return scale, zp


def _round_layer(layer: QuantizedLayer, inputs: list[torch.Tensor], iters: int, reg: float) -> None:
    w = layer.effective_weight().detach()
    scale, zp = _grid(layer, w)
    spec = layer.weight_quant.grid_spec()
    floor = torch.floor(w / scale)
    rest = w / scale - floor
    # initialise so that h(v) equals the fractional part: the start is plain rounding's neighbourhood
    v = nn.Parameter(-torch.log((ZETA - GAMMA) / (rest.clamp(0.01, 0.99) - GAMMA) - 1))
    opt = torch.optim.Adam([v], lr=1e-2)
    bias = layer.effective_bias()
    targets = [layer._op(layer.layer, x, w, bias).detach() for x in inputs]
    for it in range(iters):
        beta = 20 - (20 - 2) * it / max(iters - 1, 1)  # anneal: soft early, binary late
        h = _rectified_sigmoid(v)
        wq = (torch.clamp(floor + h + zp, spec.qmin, spec.qmax) - zp) * scale
        x, target = inputs[it % len(inputs)], targets[it % len(inputs)]
        rec = (layer._op(layer.layer, x, wq, bias) - target).pow(2).mean()
        round_loss = (1 - (2 * h - 1).abs().pow(beta)).sum() if it > iters // 5 else torch.zeros(())
        loss = rec + reg * round_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        hard = (_rectified_sigmoid(v) >= 0.5).float()
        layer.layer.weight.copy_((torch.clamp(floor + hard + zp, spec.qmin, spec.qmax) - zp) * scale)


def adaround(qmodel: nn.Module, batches: Iterable, num_batches: int, iters: int = 200, reg: float = 0.01) -> int:
    """Learn the rounding of every calibrated weight quantizer; returns the number of layers rounded."""
    layers = [(n, m) for n, m in qmodel.named_modules() if isinstance(m, QuantizedLayer) and m.weight_quant is not None]
    captured: dict[str, list[torch.Tensor]] = {n: [] for n, _ in layers}

    def hook(name: str):
        def fn(mod: QuantizedLayer, args: tuple) -> None:
            x = args[0]
            captured[name].append((mod.input_quant(x) if mod.input_quant is not None else x).detach())

        return fn

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in layers]
    try:
        qmodel.eval()
        forward_batches(qmodel, batches, num_batches, "AdaRound")
    finally:
        for h in handles:
            h.remove()
    for name, layer in layers:
        if captured[name]:
            with torch.enable_grad():
                _round_layer(layer, captured[name], iters, reg)
    return len(layers)
