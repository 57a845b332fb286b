"""Binary and ternary networks; first and last layers stay at higher precision, as the papers do.

* ``bnn``  (Hubara et al., 2016): weights and activations ``sign(.)``; gradients pass straight
  through where |x| <= 1 (the hard-tanh STE).
* ``xnor`` (Rastegari et al., 2016): binary weights scaled per output channel by mean |w|, binary
  activations. The activation scaling matrix K of the paper is omitted (a per-position scale that
  later work found adds little); the weight scale keeps the layer's output magnitude.
* ``twn``  (Li et al., 2016): ternary weights {-a, 0, +a} per output channel with threshold
  0.7 * mean |w|; activations follow the configured activation quantizer.

Binarized / ternarized weights are values on a grid {-1, 0, +1} x scale, so the QDQ exporter
stores them as int8 codes with a per-channel scale (``deploy_weight`` rewrites the layer).
Binary activations have no QDQ form (sign is not rounding), so BNN/XNOR models export with
``Where(x >= 0, 1, -1)`` at those points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from compression.quantization.config import TensorQuant
from compression.quantization.fake_quant import FakeQuantize
from compression.quantization.insert import UnsupportedLayerError, make_quantizer
from compression.quantization.modules import QuantizedLayer, layer_kind
from compression.quantization.spec import QuantSpec
from configs.registry import Registry

TERNARY_GRID = QuantSpec(2, symmetric=True, signed=True, per_channel=True, narrow_range=True)  # {-1, 0, 1}


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        # sign(0) = +1: a binary value must be one of two levels
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)

    @staticmethod
    def symbolic(g, x):  # noqa: ANN001, D102
        # not ONNX Sign: Sign(0) is 0 there, and exact zeros are common (after ReLU, padding)
        zero = g.op("Constant", value_t=torch.tensor(0.0))
        one = g.op("Constant", value_t=torch.tensor(1.0))
        minus_one = g.op("Constant", value_t=torch.tensor(-1.0))
        return g.op("Where", g.op("GreaterOrEqual", x, zero), one, minus_one)


class BinaryActivation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SignSTE.apply(x)


def _channel_mean(w: torch.Tensor, axis: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    dims = [d for d in range(w.dim()) if d != axis]
    a = w.abs() if mask is None else w.abs() * mask
    count = torch.ones_like(w).sum(dims, keepdim=True) if mask is None else mask.sum(dims, keepdim=True).clamp(min=1)
    return a.sum(dims, keepdim=True) / count


class BinaryWeight(FakeQuantize):
    """Weight binarizer/ternarizer with a per-channel scale; a FakeQuantize so modes and export apply."""

    def __init__(self, kind: str, ch_axis: int, channels: int) -> None:
        super().__init__(TERNARY_GRID, "minmax", ch_axis, reset_each_step=True, channels=channels)
        self.kind = kind
        # bits one weight needs in storage: 1 for binary, log2(3) rounded up for ternary
        self.storage_bits = 2 if kind == "twn" else 1
        self.mode = "frozen"
        self.calibrated.fill_(True)

    def set_mode(self, mode: str) -> None:
        self.mode = "frozen"  # the scale is a function of the current weights, never calibrated

    def binarize(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(values in {-1, 0, 1} with a straight-through gradient, per-channel scale)."""
        axis = self.ch_axis
        if self.kind == "twn":
            delta = 0.7 * _channel_mean(w, axis)
            mask = (w.abs() > delta).to(w.dtype)
            scale = _channel_mean(w, axis, mask)
            codes = torch.sign(w) * mask
            return w + (codes - w).detach(), scale.detach()
        codes = SignSTE.apply(w)
        scale = _channel_mean(w, axis) if self.kind == "xnor" else torch.ones_like(_channel_mean(w, axis))
        return codes, scale.detach()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.export_hook is not None:
            return self.export_hook(self, w)
        codes, scale = self.binarize(w)
        with torch.no_grad():
            self.scale = scale.reshape(-1).clone().clamp(min=1e-8)
            self.zero_point = torch.zeros_like(self.scale, dtype=torch.int32)
        return codes * scale


class BinaryLayer(QuantizedLayer):
    @torch.no_grad()
    def fold_for_deploy(self) -> None:
        """Write the binarized weight into the layer so the exporter's integer codes are exact."""
        w = self.weight_quant(self.layer.weight)
        self.layer.weight.copy_(w)


@dataclass(frozen=True)
class BinaryScheme:
    binary_weights: str  # bnn | xnor | twn
    binary_activations: bool


BINARY_SCHEMES: Registry[BinaryScheme] = Registry("binary scheme")
BINARY_SCHEMES.add("bnn", BinaryScheme("bnn", True))
BINARY_SCHEMES.add("xnor", BinaryScheme("xnor", True))
BINARY_SCHEMES.add("twn", BinaryScheme("twn", False))
_SUPPORTED = (nn.Conv2d, nn.Linear)


def binarize_model(
    qmodel: nn.Module, scheme_name: str, keep: set[str], activation: TensorQuant | None
) -> list[str]:
    """Turn every ``QuantizedLayer`` not in ``keep`` into a binary/ternary layer; returns their names.

    Layers of types the scheme does not support are named in the error.
    """
    scheme = BINARY_SCHEMES.get(scheme_name)
    done = []
    for name, module in list(qmodel.named_modules()):
        if type(module) is not QuantizedLayer or name in keep:
            continue
        if not isinstance(module.layer, _SUPPORTED):
            raise UnsupportedLayerError(
                f"layer '{name}' is a {type(module.layer).__name__}, which the '{scheme_name}' scheme does not "
                f"support (supported: {', '.join(t.__name__ for t in _SUPPORTED)}); keep it at higher precision "
                "with an override skip"
            )
        kind = layer_kind(module.layer)
        axis = kind.weight_axis
        wq = BinaryWeight(scheme.binary_weights, axis, module.layer.weight.shape[axis])
        if scheme.binary_activations:
            aq: nn.Module | None = BinaryActivation()
        else:
            aq = make_quantizer(activation, None, is_weight=False)
        new = BinaryLayer(module.layer, wq, aq)
        parent, _, child = name.rpartition(".")
        setattr(qmodel.get_submodule(parent) if parent else qmodel, child, new)
        done.append(name)
    return done
