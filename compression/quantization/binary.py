"""Binary and ternary networks; first and last layers stay at higher precision, as the papers do.

* ``bnn``  (Hubara et al., 2016): weights and activations ``sign(.)``; gradients pass straight
  through where |x| <= 1 (the hard-tanh STE).
* ``xnor`` (Rastegari et al., 2016): binary weights scaled per output channel by mean |w| (alpha),
  binary activations scaled per output position by K: ``conv(sign(I), sign(W)) * K * alpha``, where
  K averages A = mean over input channels of |I| over each kernel window (sec. 3.2, K = A * k with
  k = 1/(kh*kw); per group for grouped convs, one per sample for linear layers). K comes from the
  real-valued input, so it exports with standard ops (Abs, ReduceMean, AveragePool, Mul).
* ``twn``  (Li et al., 2016): ternary weights {-a, 0, +a} per output channel with threshold
  0.7 * mean |w|; activations follow the configured activation quantizer.

Binarized / ternarized weights are values on a grid {-1, 0, +1} x scale, so the QDQ exporter
stores them as int8 codes with a per-channel scale (``BinaryLayer.fold_for_deploy`` rewrites the layer).
Binary activations have no QDQ form (sign is not rounding), so BNN/XNOR models export with
``Where(x >= 0, 1, -1)`` at those points.

Limitation: blocks are not reordered. A binary layer after conv -> BN -> ReLU(6) binarizes values
>= 0, whose sign is always +1 (the papers binarize the BN output: BN -> sign -> conv); such a layer
then computes a per-channel constant (BNN), or that constant times K (XNOR), which train-mode BN
turns into exploding gradients in deep nets such as MobileNetV2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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


def _conv2d_window_mean(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    groups = layer.groups
    # A averages the input channels an output sees: all of them, or its group's (a depthwise output
    # sees one channel, and a mean over all would scale it by its neighbours' magnitudes)
    a = x.abs().mean(dim=1, keepdim=True) if groups == 1 else x.abs().unflatten(1, (groups, -1)).mean(dim=2)
    # zero padding counts towards the mean, as the zeros do in the convolution K scales
    k = F.avg_pool2d(a, layer.kernel_size, layer.stride, layer.padding, count_include_pad=True)
    per_group = layer.out_channels // groups
    if groups == 1 or per_group == 1:
        return k
    return k.unsqueeze(2).expand(-1, -1, per_group, -1, -1).flatten(1, 2)


def _conv2d_window_check(layer: nn.Conv2d) -> str | None:
    # avg_pool2d (ONNX AveragePool up to opset 18) has no dilation, string padding or padding modes
    if tuple(layer.dilation) != (1, 1):
        return f"dilation {tuple(layer.dilation)}"
    if isinstance(layer.padding, str):
        return f"padding='{layer.padding}'"
    if layer.padding_mode != "zeros":
        return f"padding_mode='{layer.padding_mode}'"
    if any(2 * p > k for p, k in zip(layer.padding, layer.kernel_size)):
        return f"padding {tuple(layer.padding)} more than half the kernel {tuple(layer.kernel_size)}"
    return None


def _linear_window_mean(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    # a fully connected layer's window is its whole input: one scale per sample (the paper's beta)
    return x.abs().mean(dim=-1, keepdim=True)


def _always_supported(layer: nn.Module) -> str | None:
    return None


@dataclass(frozen=True)
class ActivationScale:
    """XNOR-Net's K for one layer type: the mean |input| under each output's receptive window."""

    window_mean: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    # the output's channel axis, where the bias goes
    channel_axis: int
    # why a layer's configuration cannot be scaled (None when it can)
    unsupported: Callable[[nn.Module], str | None] = _always_supported


ACTIVATION_SCALES: Registry[ActivationScale] = Registry("XNOR activation scale")
ACTIVATION_SCALES.add("Conv2d", ActivationScale(_conv2d_window_mean, 1, _conv2d_window_check))
ACTIVATION_SCALES.add("Linear", ActivationScale(_linear_window_mean, -1))


class BinaryLayer(QuantizedLayer):
    """A binarized layer; with ``activation_scale`` (XNOR) its output is multiplied by K."""

    def __init__(self, layer: nn.Module, weight_quant: BinaryWeight, input_quant: nn.Module | None,
                 activation_scale: ActivationScale | None = None) -> None:
        super().__init__(layer, weight_quant, input_quant)
        self.activation_scale = activation_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation_scale is None:
            return super().forward(x)
        # K is a constant in the backward pass, as alpha is (and as in the reference implementations): the
        # sign's straight-through estimator carries the gradient, K only rescales it
        k = self.activation_scale.window_mean(self.layer, x.detach())
        xb = self.input_quant(x) if self.input_quant is not None else x
        out = self._op(self.layer, xb, self.weight_quant(self.effective_weight()), None) * k
        bias = self.effective_bias()
        # the bias is not part of the binary product K approximates: added after scaling
        if bias is None:
            return out
        shape = [1] * out.dim()
        shape[self.activation_scale.channel_axis] = -1
        return out + bias.reshape(shape)

    @torch.no_grad()
    def fold_for_deploy(self) -> None:
        """Write the binarized weight into the layer so the exporter's integer codes are exact."""
        w = self.weight_quant(self.layer.weight)
        self.layer.weight.copy_(w)


@dataclass(frozen=True)
class BinaryScheme:
    binary_weights: str  # bnn | xnor | twn
    binary_activations: bool
    # multiply the output by K (XNOR-Net's activation scaling)
    scale_activations: bool = False


BINARY_SCHEMES: Registry[BinaryScheme] = Registry("binary scheme")
BINARY_SCHEMES.add("bnn", BinaryScheme("bnn", True))
BINARY_SCHEMES.add("xnor", BinaryScheme("xnor", True, scale_activations=True))
BINARY_SCHEMES.add("twn", BinaryScheme("twn", False))
_SUPPORTED = (nn.Conv2d, nn.Linear)


def _activation_scale(name: str, layer: nn.Module, scheme_name: str) -> ActivationScale:
    # subclasses of a supported torch layer scale like it
    scale = ACTIVATION_SCALES.get(next(c.__name__ for c in type(layer).__mro__ if c.__name__ in ACTIVATION_SCALES))
    reason = scale.unsupported(layer)
    if reason is not None:
        raise UnsupportedLayerError(
            f"layer '{name}' ({type(layer).__name__}) has {reason}, for which the '{scheme_name}' scheme cannot "
            "compute its activation scale K; keep it at higher precision with an override skip"
        )
    return scale


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
        scale = _activation_scale(name, module.layer, scheme_name) if scheme.scale_activations else None
        kind = layer_kind(module.layer)
        axis = kind.weight_axis
        wq = BinaryWeight(scheme.binary_weights, axis, module.layer.weight.shape[axis])
        if scheme.binary_activations:
            aq: nn.Module | None = BinaryActivation()
        else:
            aq = make_quantizer(activation, None, is_weight=False)
        new = BinaryLayer(module.layer, wq, aq, scale)
        parent, _, child = name.rpartition(".")
        setattr(qmodel.get_submodule(parent) if parent else qmodel, child, new)
        done.append(name)
    return done
