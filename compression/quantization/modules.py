"""Quantized layers: a weight layer wrapped with its input and weight quantizers.

Only the inputs of compute layers and their weights are quantized (the QDQ
convention): a layer's output is quantized by whoever consumes it, so
activation functions, pooling and reshapes stay exact in between.

The bias of a layer with quantized input and weight is rounded onto the int32 grid of
step ``input_step * weight_step`` (zero point 0), as an integer runtime stores it: ONNX
Runtime's QLinearConv/QLinearMatMul add ``rint(bias / (s_x * s_w))`` to their int32
accumulator (and quantize a float bias that way themselves when they fuse a QDQ group).
Adding the float bias instead moves outputs across rounding boundaries of the next
quantizer, and those one-step flips compound through a deep network. For the same reason
inference (no autograd) sums the integer codes exactly, as the runtime does, instead of float
products (the rounding convention is documented in ``spec``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from compression.quantization.calibrators import build_calibrator
from compression.quantization.fake_quant import FakeQuantize
from compression.quantization.spec import quantize_bias
from configs.registry import Registry

LayerOp = Callable[[nn.Module, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class WeightLayer:
    """How to quantize one layer type: the output-channel axis of its weight, its op, and the channel axis
    of its output (where a per-channel requantization step applies)."""

    weight_axis: int
    op: LayerOp
    output_axis: int = 1


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
WEIGHT_LAYERS.add("Linear", WeightLayer(0, _linear, output_axis=-1))


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
        # set by the QDQ exporter: writes the integer bias (codes, step) into the graph as a constant
        self.bias_export_hook: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def effective_weight(self) -> torch.Tensor:
        return self.layer.weight

    def effective_bias(self) -> torch.Tensor | None:
        """The float bias (before integer rounding; see ``integer_bias``)."""
        return self.layer.bias

    def bias_step(self) -> torch.Tensor | None:
        """Step of the int32 bias grid, ``input_step * weight_step`` (one per output channel for
        per-channel weights); None while either quantizer is missing or has no grid yet."""
        iq, wq = self.input_quant, self.weight_quant
        if not isinstance(iq, FakeQuantize) or not isinstance(wq, FakeQuantize):
            return None
        if "observe" in (iq.mode, wq.mode) or not (bool(iq.calibrated) and bool(wq.calibrated)):
            return None
        # float32 product, as the runtime computes the bias scale
        return iq.quant_step().reshape(()) * wq.quant_step().reshape(-1)

    def integer_bias(self, bias: torch.Tensor | None) -> torch.Tensor | None:
        """``bias`` on the int32 grid of ``bias_step`` (unchanged when there is none); the gradient
        passes straight through so QAT still trains the float bias."""
        step = self.bias_step()
        if bias is None or step is None:
            return bias
        codes = quantize_bias(bias.detach(), step)
        # getattr: a layer pickled before the hook existed has no such attribute
        hook = getattr(self, "bias_export_hook", None)
        if hook is not None:
            return hook(bias, codes, step)
        return bias + (codes.float() * step - bias).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_quant is not None:
            x = self.input_quant(x)
        w = self.effective_weight()
        if self.weight_quant is not None:
            w = self.weight_quant(w)
        step = self.bias_step()
        # inference only: the integer path has no useful gradient (QAT and AdaRound keep the float one)
        if step is not None and not torch.is_grad_enabled() and getattr(self, "bias_export_hook", None) is None \
                and not torch.jit.is_tracing():
            return self._integer_forward(x, w, step)
        return self._op(self.layer, x, w, self.integer_bias(self.effective_bias()))

    def _integer_forward(self, x: torch.Tensor, w: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Inference on the integer codes: the exact int32 accumulator times ``input step * weight step``.

        Summing float products (``x_fq * w_fq``) rounds differently from the runtime's exact integer sum;
        at a requantization tie that moves an output by one step, and a deep network amplifies such
        flips. Integer-valued float32 sums are exact while they stay below 2**24 in magnitude (the
        accumulators of the zoo models on Fashion-MNIST stay below about 1.1e5).
        """
        wq = self.weight_quant
        x_codes = torch.round(x / self.input_quant.quant_step().reshape(()))  # q - zero_point, exact
        w_step = wq.quant_step()
        if wq.ch_axis is not None:
            shape = [1] * w.dim()
            shape[wq.ch_axis % w.dim()] = -1
            w_step = w_step.reshape(shape)
        w_codes = torch.round(w / w_step)
        bias = self.effective_bias()
        b_codes = quantize_bias(bias.detach(), step).float() if bias is not None else None
        acc = self._op(self.layer, x_codes, w_codes, b_codes)
        if step.numel() > 1:
            shape = [1] * acc.dim()
            shape[layer_kind(self.layer).output_axis % acc.dim()] = -1
            step = step.reshape(shape)
        return acc * step


class QuantizedFunctional(nn.Module):
    """A functional op as a module, so its tensor inputs can carry quantizers.

    Models may use these directly (``self.add = QAdd()``): unconfigured they are the
    plain op; ``quantize_model`` gives each input a quantizer.
    """

    num_inputs = 2
    # inputs that are softmax outputs (set by the functional-op rewrite, which sees the graph): their
    # quantizers use the fixed probability grid (``calibrators.probability``) instead of a calibrated one
    probability_inputs: tuple[int, ...] = ()

    def __init__(self, num_inputs: int | None = None) -> None:
        super().__init__()
        if num_inputs is not None:
            self.num_inputs = num_inputs
        self.input_quants = nn.ModuleList()

    def configure(self, make_quantizer: Callable[[], FakeQuantize | None]) -> None:
        quants = [make_quantizer() for _ in range(self.num_inputs)]
        for i in self.probability_inputs:
            if isinstance(quants[i], FakeQuantize):
                quants[i].calibrator = build_calibrator("probability")
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
    """Matrix product of two quantized activations. At inference it sums the integer codes exactly,
    as ONNX Runtime's fused QLinearMatMul does (attention's ``q @ k^T`` and ``attn @ v``): float sums
    of the dequantized values round differently and flip the next quantizer at ties, the same effect
    ``QuantizedLayer._integer_forward`` removes for convs and linears."""

    def op(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        steps = self._integer_steps()
        if steps is None or len(xs) != 2:
            return super().forward(*xs)
        a, b = self._quantized(xs)
        # codes minus zero point are exact integers; their float32 sums stay exact below 2**24
        return torch.matmul(torch.round(a / steps[0]), torch.round(b / steps[1])) * (steps[0] * steps[1])

    def _integer_steps(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The two per-tensor input steps when the integer path applies (inference on frozen grids, not
        while exporting or training), else None."""
        if torch.is_grad_enabled() or torch.jit.is_tracing() or len(self.input_quants) != 2:
            return None
        steps = []
        for q in self.input_quants:
            if not isinstance(q, FakeQuantize) or q.export_hook is not None or q.mode != "frozen" \
                    or not bool(q.calibrated) or q.ch_axis is not None:
                return None
            steps.append(q.quant_step().reshape(()))
        return steps[0], steps[1]


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
