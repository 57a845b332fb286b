"""Quantized layers: a weight layer wrapped with its input and weight quantizers.

Only the inputs of compute layers and their weights are quantized (the QDQ
convention): a layer's output is quantized by whoever consumes it, so
activation functions, pooling and reshapes stay exact in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from compression.quantization.fake_quant import FakeQuantize
from configs.registry import Registry

LayerOp = Callable[[nn.Module, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class WeightLayer:
    """How to quantize one layer type: the output-channel axis of its weight and its op."""

    weight_axis: int
    op: LayerOp


WEIGHT_LAYERS: Registry[WeightLayer] = Registry("quantizable layer type")


def _conv(layer: nn.Module, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return layer._conv_forward(x, w, b)


def _conv_transpose2d(layer: nn.Module, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return F.conv_transpose2d(
        x, w, b, layer.stride, layer.padding, layer.output_padding, layer.groups, layer.dilation
    )


def _linear(layer: nn.Module, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return F.linear(x, w, b)


# depthwise convs are Conv2d with groups == channels: weight [C, 1, k, k], still axis 0.
# ConvTranspose weights are [in, out / groups, k, k]: output channels on axis 1.
WEIGHT_LAYERS.add("Conv1d", WeightLayer(0, _conv))
WEIGHT_LAYERS.add("Conv2d", WeightLayer(0, _conv))
WEIGHT_LAYERS.add("ConvTranspose2d", WeightLayer(1, _conv_transpose2d))
WEIGHT_LAYERS.add("Linear", WeightLayer(0, _linear))


def layer_kind(module: nn.Module) -> WeightLayer | None:
    """The registered kind of ``module``'s torch layer class (subclasses included), or None."""
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn") and cls.__name__ in WEIGHT_LAYERS:
            return WEIGHT_LAYERS.get(cls.__name__)
    return None


class QuantizedLayer(nn.Module):
    """``layer`` computing on quantized inputs and weights; either quantizer may be None (kept float)."""

    def __init__(self, layer: nn.Module, weight_quant: FakeQuantize | None, input_quant: FakeQuantize | None) -> None:
        super().__init__()
        kind = layer_kind(layer)
        if kind is None:
            raise TypeError(f"{type(layer).__name__} is not a quantizable layer type ({', '.join(WEIGHT_LAYERS)})")
        self.layer = layer
        self.weight_quant = weight_quant
        self.input_quant = input_quant
        self._op = kind.op

    def effective_weight(self) -> torch.Tensor:
        return self.layer.weight

    def effective_bias(self) -> torch.Tensor | None:
        return self.layer.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_quant is not None:
            x = self.input_quant(x)
        w = self.effective_weight()
        if self.weight_quant is not None:
            w = self.weight_quant(w)
        return self._op(self.layer, x, w, self.effective_bias())


class QuantizedFunctional(nn.Module):
    """A functional op as a module, so its tensor inputs can carry quantizers.

    Models may use these directly (``self.add = QAdd()``): unconfigured they are the
    plain op; ``quantize_model`` gives each input a quantizer.
    """

    num_inputs = 2

    def __init__(self, num_inputs: int | None = None) -> None:
        super().__init__()
        if num_inputs is not None:
            self.num_inputs = num_inputs
        self.input_quants = nn.ModuleList()

    def configure(self, make_quantizer: Callable[[], FakeQuantize | None]) -> None:
        quants = [make_quantizer() for _ in range(self.num_inputs)]
        self.input_quants = nn.ModuleList(q if q is not None else nn.Identity() for q in quants)

    def _quantized(self, xs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        if not len(self.input_quants):
            return list(xs)
        if len(xs) != len(self.input_quants):
            raise ValueError(f"{type(self).__name__} was configured for {len(self.input_quants)} inputs, got {len(xs)}")
        return [q(x) for q, x in zip(self.input_quants, xs)]

    def op(self, *xs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.op(*self._quantized(xs))


class QAdd(QuantizedFunctional):
    def op(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class QMul(QuantizedFunctional):
    def op(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b


class QMatMul(QuantizedFunctional):
    def op(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class QCat(QuantizedFunctional):
    def __init__(self, num_inputs: int = 2, dim: int = 1) -> None:
        super().__init__(num_inputs)
        self.dim = dim

    def op(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)


class QSoftmax(QuantizedFunctional):
    num_inputs = 1

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def op(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=self.dim)
