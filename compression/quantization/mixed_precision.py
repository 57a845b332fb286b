"""Mixed precision: per-layer sensitivity, then bit widths under a model-size budget.

Sensitivity quantizes the weights of one layer at a time (all else float) and
records the model's accuracy and output SQNR. The assignment starts every layer
at the highest candidate width and greedily lowers the layer whose additional
output noise (10^(-SQNR/10), noise powers of independent layers add) per byte
saved is smallest, until the weights fit the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from compression.quantization.config import QuantConfig, TensorQuant
from compression.quantization.insert import quantize_model, set_quant_mode
from compression.quantization.modules import QuantizedLayer
from compression.quantization.spec import QuantSpec, sqnr_db


@dataclass
class Sensitivity:
    layer: str
    params: int
    bits: int
    top1: float
    sqnr_db: float

    def as_dict(self) -> dict:
        return asdict(self)


def layer_sensitivity(
    model: nn.Module,
    weight: TensorQuant,
    candidate_bits: Sequence[int],
    inputs: torch.Tensor,
    accuracy: Callable[[nn.Module], float],
) -> list[Sensitivity]:
    """One row per (weight layer, candidate width): accuracy and output SQNR with only that layer quantized."""
    if not candidate_bits:
        raise ValueError("mixed precision needs at least one candidate bit width")
    rows: list[Sensitivity] = []
    with torch.no_grad():
        reference = model.eval()(inputs)
    for bits in sorted(set(candidate_bits), reverse=True):
        tq = replace(weight, spec=replace(weight.spec, bits=bits))  # validates the width
        qmodel, _ = quantize_model(model, QuantConfig(weight=tq, activation=None, functional=False, fold_bn=True))
        with torch.no_grad():
            qmodel(inputs[:1])  # weights observe themselves
        set_quant_mode(qmodel, "frozen")
        layers = [(n, m) for n, m in qmodel.named_modules() if isinstance(m, QuantizedLayer)]
        stash = {n: m.weight_quant for n, m in layers}
        for name, _ in layers:
            for n, m in layers:
                m.weight_quant = stash[n] if n == name else None
            with torch.no_grad():
                out = qmodel(inputs)
            rows.append(Sensitivity(name, layers_numel(qmodel, name), bits, accuracy(qmodel),
                                    sqnr_db(reference, out)))
        for n, m in layers:
            m.weight_quant = stash[n]
    return rows


def layers_numel(qmodel: nn.Module, name: str) -> int:
    return qmodel.get_submodule(name).layer.weight.numel()


def _noise(sqnr: float) -> float:
    return 0.0 if sqnr == float("inf") else 10 ** (-sqnr / 10)


def assign_bits(rows: Sequence[Sensitivity], budget_bytes: float, fixed_bytes: float = 0.0) -> dict[str, int]:
    """Bit width per layer so that ``fixed_bytes`` + quantized weights <= ``budget_bytes``."""
    table = {(r.layer, r.bits): r for r in rows}
    layers = sorted({r.layer for r in rows})
    widths = sorted({r.bits for r in rows}, reverse=True)
    params = {r.layer: r.params for r in rows}
    chosen = {layer: widths[0] for layer in layers}

    def size() -> float:
        return fixed_bytes + sum(params[layer] * chosen[layer] / 8 for layer in layers)

    smallest = fixed_bytes + sum(params[layer] * widths[-1] / 8 for layer in layers)
    if smallest > budget_bytes:
        raise ValueError(
            f"size budget of {budget_bytes:.0f} bytes is unreachable: the smallest assignment "
            f"({widths[-1]} bits everywhere) needs {smallest:.0f} bytes"
        )
    while size() > budget_bytes:
        best, best_cost = None, float("inf")
        for layer in layers:
            i = widths.index(chosen[layer])
            if i + 1 == len(widths):
                continue
            lower = widths[i + 1]
            saved = params[layer] * (chosen[layer] - lower) / 8
            cost = (_noise(table[layer, lower].sqnr_db) - _noise(table[layer, chosen[layer]].sqnr_db)) / saved
            if cost < best_cost:
                best, best_cost = layer, cost
        assert best is not None  # the budget is reachable, so something can still be lowered
        chosen[best] = widths[widths.index(chosen[best]) + 1]
    return chosen


def weight_only_spec(weight: TensorQuant | None) -> TensorQuant:
    return weight or TensorQuant(QuantSpec(8, symmetric=True, signed=True, per_channel=True))
