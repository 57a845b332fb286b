"""Insert quantization points: BN folding, functional-op rewrite, then module replacement.

Module replacement wraps every Conv/ConvTranspose/Linear in a ``QuantizedLayer``
(works on any model, traceable or not); add/mul/cat/matmul/softmax inputs are
quantized through ``QuantizedFunctional`` modules, inserted by torch.fx where it
can trace (see ``functional_rewrite``) or placed explicitly by the model author.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from compression.quantization.bn_fold import fold_batchnorm
from compression.quantization.calibrators import build_calibrator
from compression.quantization.config import QuantConfig, TensorQuant
from compression.quantization.fake_quant import QUANTIZERS, FakeQuantize
from compression.quantization.functional_rewrite import rewrite_functional_ops
from compression.quantization.modules import WEIGHT_LAYERS, QuantizedFunctional, QuantizedLayer, layer_kind


class UnsupportedLayerError(TypeError):
    """A layer that the requested quantization scheme cannot handle."""


@dataclass
class InsertReport:
    folded_bn: int = 0
    quantized_layers: list[str] = field(default_factory=list)
    quantized_functional: list[str] = field(default_factory=list)
    # "<op>.input_quants.<i>" of each softmax output on the fixed probability grid
    probability_inputs: list[str] = field(default_factory=list)
    untraced: dict[str, str] = field(default_factory=dict)


def make_quantizer(
    tq: TensorQuant | None, ch_axis: int | None, is_weight: bool, channels: int = 1
) -> FakeQuantize | None:
    if tq is None:
        return None
    calibrator = build_calibrator(tq.calibrator, **dict(tq.calibrator_args))
    return QUANTIZERS.get(tq.quantizer)(tq.spec, calibrator, ch_axis, reset_each_step=is_weight, channels=channels)


def quantizers(model: nn.Module) -> Iterator[tuple[str, FakeQuantize]]:
    for name, module in model.named_modules():
        if isinstance(module, FakeQuantize):
            yield name, module


def set_quant_mode(model: nn.Module, mode: str) -> None:
    for _, q in quantizers(model):
        q.set_mode(mode)


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


def _check_overrides(model: nn.Module, config: QuantConfig) -> None:
    """Every override must name quantizable layers: a typo or a BatchNorm is an error, not a silent no-op."""
    targets = (QuantizedFunctional,)
    for pattern in config.overrides:
        matched = False
        for name, module in model.named_modules():
            if not name or not fnmatch.fnmatchcase(name, pattern):
                continue
            if layer_kind(module) is None and not isinstance(module, targets):
                if any(True for _ in module.children()) or not any(True for _ in module.parameters(recurse=False)):
                    continue  # containers are checked through their children; activations/pooling have no weights
                raise UnsupportedLayerError(
                    f"override '{pattern}' matches layer '{name}' of type {type(module).__name__}, which the "
                    f"quantization scheme does not support (supported: {', '.join(WEIGHT_LAYERS)}, "
                    "and add/mul/cat/matmul/softmax inputs)"
                )
            matched = True
        if not matched:
            raise ValueError(f"override '{pattern}' matches no quantizable layer of the model")


def quantize_model(
    model: nn.Module,
    config: QuantConfig,
    example_input: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
    layer_filter: Callable[[str, nn.Module], bool] | None = None,
) -> tuple[nn.Module, InsertReport]:
    """A fake-quantized copy of ``model`` (the original is untouched) with quantizers in ``observe`` mode.

    ``example_input`` is needed for the functional-op rewrite (shape propagation);
    ``layer_filter(name, layer)`` restricts which weight layers are wrapped.
    """
    report = InsertReport()
    qmodel = copy.deepcopy(model).eval()
    if config.fold_bn:
        report.folded_bn = fold_batchnorm(qmodel)
    if config.functional:
        if example_input is None:
            raise ValueError("quantizing functional ops needs an example_input (or set functional=False)")
        inputs = example_input if isinstance(example_input, tuple) else (example_input,)
        qmodel, rewrite = rewrite_functional_ops(qmodel, inputs)
        report.untraced = rewrite.untraced
    _check_overrides(qmodel, config)

    for name, module in list(qmodel.named_modules()):
        kind = layer_kind(module)
        if kind is None or (layer_filter is not None and not layer_filter(name, module)):
            continue
        weight, act = config.for_layer(name)
        if weight is None and act is None:
            continue
        wq = make_quantizer(weight, kind.weight_axis, is_weight=True, channels=module.weight.shape[kind.weight_axis])
        aq = make_quantizer(act, None, is_weight=False)
        _set_submodule(qmodel, name, QuantizedLayer(module, wq, aq))
        report.quantized_layers.append(name)
    for name, module in qmodel.named_modules():
        if isinstance(module, QuantizedFunctional) and not len(module.input_quants):
            _, act = config.for_layer(name)
            if act is not None:
                module.configure(lambda act=act: make_quantizer(act, None, is_weight=False))
                report.quantized_functional.append(name)
                report.probability_inputs += [f"{name}.input_quants.{i}" for i in module.probability_inputs]
    return qmodel, report
