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

Block order: the papers binarize the BN output (BN -> sign -> conv), while mobile nets run
conv -> BN -> ReLU(6) -> conv, whose sign would always be +1 (BNN then computes a per-channel
constant, XNOR that constant times K, which train-mode BN turns into exploding gradients). So for
binary activations (bnn, xnor) the non-negative activation that produces a binary layer's input is
replaced by ``nn.Identity``, found by tensor identity in a forward pass on an example input (through
ops that only move values, such as ShuffleNet's concat and channel shuffle). It stays when its output
also feeds anything else (a residual add, pooling, a kept layer); the report names each kept one and
why. TWN keeps real-valued activations, so nothing is removed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

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


# activations whose output is never negative (binarizing it gives only +1); a predicate, because a
# Hardtanh is non-negative only for some settings
NON_NEGATIVE_ACTIVATIONS: Registry[Callable[[nn.Module], bool]] = Registry("non-negative activation")
NON_NEGATIVE_ACTIVATIONS.add("ReLU", lambda m: True)
NON_NEGATIVE_ACTIVATIONS.add("ReLU6", lambda m: True)
NON_NEGATIVE_ACTIVATIONS.add("Hardtanh", lambda m: m.min_val >= 0)


def is_non_negative_activation(module: nn.Module) -> bool:
    """True for an activation module (subclasses included) whose output is always >= 0."""
    for cls in type(module).__mro__:
        if cls.__name__ in NON_NEGATIVE_ACTIVATIONS:
            return NON_NEGATIVE_ACTIVATIONS.get(cls.__name__)(module)
    return False


def _has_binary_input(module: nn.Module) -> bool:
    return isinstance(module, BinaryLayer) and isinstance(module.input_quant, BinaryActivation)


# ops that only move values (concatenate, split, reshape, permute): ShuffleNet's channel shuffle routes
# ReLU outputs into the next binary conv through them, so their outputs still count as the activation's
ROUTING_OPS = frozenset({"cat", "concat", "chunk", "split", "view", "reshape", "transpose", "permute", "flatten",
                         "unflatten", "contiguous", "__getitem__", "squeeze", "unsqueeze"})


@dataclass
class _Producer:
    feeds_binary: bool = False
    # the first consumer that is not a binary-activation layer, in words
    other_consumer: str | None = None


@dataclass
class _Trace:
    producers: dict[str, _Producer] = field(default_factory=dict)
    # id -> (the tensor, kept alive so that its id is not reused; the activations whose values it holds)
    tensors: dict[int, tuple[torch.Tensor, frozenset[str]]] = field(default_factory=dict)
    # the modules running, innermost last
    stack: list[tuple[str, nn.Module]] = field(default_factory=list)

    def owners(self, values: Any) -> set[str]:
        names: set[str] = set()
        for leaf in tree_leaves(values):
            entry = self.tensors.get(id(leaf)) if isinstance(leaf, torch.Tensor) else None
            if entry is not None and entry[0] is leaf:
                names |= entry[1]
        return names

    def track(self, values: Any, names: set[str] | frozenset[str]) -> None:
        for leaf in tree_leaves(values):
            if isinstance(leaf, torch.Tensor):
                self.tensors[id(leaf)] = (leaf, frozenset(names))


class _ConsumerTrace(TorchFunctionMode):
    """Sees every torch op of a forward pass; attributes each use of a tracked tensor to the modules running."""

    def __init__(self, trace: _Trace) -> None:
        super().__init__()
        self.trace = trace

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204, D105
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        # metadata queries (shape, size, dim) return no tensor and read no values
        if not any(isinstance(leaf, torch.Tensor) for leaf in tree_leaves(out)):
            return out
        trace = self.trace
        # a binary layer's own use, or a quantizer's (its output is tracked in its module hook)
        if any(_has_binary_input(module) or isinstance(module, FakeQuantize) for _, module in trace.stack):
            return out
        owners = trace.owners((args, kwargs))
        if not owners:
            return out
        op = getattr(func, "__name__", str(func))
        if op in ROUTING_OPS:
            trace.track(out, owners)
            return out
        # the root module's name is "": its own forward (e.g. a residual add written there)
        where = (trace.stack[-1][0] if trace.stack else "") or "the model's forward"
        for name in owners:
            if trace.producers[name].other_consumer is None:
                trace.producers[name].other_consumer = f"its output also feeds '{op}' in '{where}'"
        return out


@torch.no_grad()
def _trace_producers(model: nn.Module, example_input: torch.Tensor | tuple[torch.Tensor, ...]) -> dict[str, _Producer]:
    """The non-negative activations whose outputs reach a binary-activation layer, with their other consumers."""
    trace = _Trace()
    handles = []

    def enter(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            if _has_binary_input(module):
                for owner in trace.owners(args):
                    trace.producers[owner].feeds_binary = True
            trace.stack.append((name, module))
        return hook

    def leave(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            trace.stack.pop()
            if isinstance(module, FakeQuantize):
                # a quantizer (e.g. on a concat's inputs) keeps signs and exact zeros: it routes values like a view
                owners = trace.owners(args)
                if owners:
                    trace.track(output, owners)
            elif is_non_negative_activation(module) and isinstance(output, torch.Tensor):
                trace.producers.setdefault(name, _Producer())
                trace.track(output, {name})
        return hook

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(enter(name)))
        handles.append(module.register_forward_hook(leave(name)))
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    try:
        with _ConsumerTrace(trace):
            model.eval()(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return {name: p for name, p in trace.producers.items() if p.feeds_binary}


@dataclass
class BinarizeReport:
    """What ``binarize_model`` changed."""

    layers: list[str] = field(default_factory=list)
    # non-negative activations replaced by nn.Identity so that sign() sees the BN output
    activations_removed: list[str] = field(default_factory=list)
    # activations feeding a binary layer that had to stay, and why
    activations_kept: dict[str, str] = field(default_factory=dict)


def _remove_sign_blocking_activations(
    qmodel: nn.Module, example_input: torch.Tensor | tuple[torch.Tensor, ...], report: BinarizeReport
) -> None:
    # traced on a copy: the forward pass would otherwise feed the example into the calibrators
    for name, producer in _trace_producers(copy.deepcopy(qmodel), example_input).items():
        if producer.other_consumer is not None:
            report.activations_kept[name] = producer.other_consumer
            continue
        parent, _, child = name.rpartition(".")
        setattr(qmodel.get_submodule(parent) if parent else qmodel, child, nn.Identity())
        report.activations_removed.append(name)


def binarize_model(
    qmodel: nn.Module,
    scheme_name: str,
    keep: set[str],
    activation: TensorQuant | None,
    example_input: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
) -> BinarizeReport:
    """Turn every ``QuantizedLayer`` not in ``keep`` into a binary/ternary layer.

    Schemes with binary activations need ``example_input`` to find the non-negative activations in
    front of binary layers (see the module docstring). Layers of types the scheme does not support
    are named in the error.
    """
    scheme = BINARY_SCHEMES.get(scheme_name)
    if scheme.binary_activations and example_input is None:
        raise ValueError(f"the '{scheme_name}' scheme binarizes activations and needs an example_input to find "
                         "the ReLUs in front of its binary layers")
    report = BinarizeReport()
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
        report.layers.append(name)
    if scheme.binary_activations and report.layers:
        _remove_sign_blocking_activations(qmodel, example_input, report)
    return report
