"""The pruned channel configuration as data, so a pruned model reloads from config + checkpoint.

A structurally pruned model has the zoo architecture with narrower tensors. We store, for
every layer whose shape changed, its parameter/buffer shapes and the constructor
attributes that describe them (``in_channels``, ``groups``, ``num_features``, and what a
zoo block declares as its ``shape_attrs``, e.g. an attention's ``num_heads``) as
``pruned_shapes`` in the checkpoint. To reload: build the model from its config, call
``apply_pruned_shapes(model, state["pruned_shapes"])`` (resizes those layers, values
uninitialised), then ``load_state_dict(state["model"])``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from compression.pruning.errors import PruningError
from configs.registry import Registry
from lightweight_models.blocks.structure import shape_attrs

# torch layer type -> names of the attributes that must follow its tensor shapes; zoo blocks declare
# theirs (``shape_attrs``, e.g. an attention's ``num_heads`` and ``split`` after head pruning)
SHAPE_ATTRS: Registry[tuple[type[nn.Module], tuple[str, ...]]] = Registry("pruned layer type")
SHAPE_ATTRS.add("conv", (nn.modules.conv._ConvNd, ("in_channels", "out_channels", "groups")))
SHAPE_ATTRS.add("linear", (nn.Linear, ("in_features", "out_features")))
SHAPE_ATTRS.add("batchnorm", (nn.modules.batchnorm._NormBase, ("num_features",)))
SHAPE_ATTRS.add("layernorm", (nn.LayerNorm, ("normalized_shape",)))
SHAPE_ATTRS.add("groupnorm", (nn.GroupNorm, ("num_groups", "num_channels")))

ShapeSpec = dict[str, dict[str, Any]]


def _attrs_of(module: nn.Module) -> tuple[str, ...]:
    for name in SHAPE_ATTRS:
        kind, attrs = SHAPE_ATTRS.get(name)
        if isinstance(module, kind):
            return attrs
    return shape_attrs(module)


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    own = dict(module.named_parameters(recurse=False))
    own.update({k: v for k, v in module.named_buffers(recurse=False) if v is not None})
    return own


def _describe(module: nn.Module) -> dict[str, Any]:
    attrs = {a: getattr(module, a) for a in _attrs_of(module)}
    attrs = {a: list(v) if isinstance(v, tuple) else v for a, v in attrs.items()}
    return {"tensors": {k: list(t.shape) for k, t in _tensors(module).items()}, "attrs": attrs}


def pruned_shapes(pruned: nn.Module, original: nn.Module) -> ShapeSpec:
    """Shapes of every layer of ``pruned`` that differs from ``original`` (same architecture)."""
    before = dict(original.named_modules())
    spec: ShapeSpec = {}
    for name, module in pruned.named_modules():
        now = _describe(module)
        if name not in before or now != _describe(before[name]):
            spec[name] = now
    return spec


def apply_pruned_shapes(model: nn.Module, spec: ShapeSpec) -> nn.Module:
    """Resize ``model``'s layers in place to ``spec``; load the pruned weights afterwards."""
    modules = dict(model.named_modules())
    unknown = [n for n in spec if n not in modules]
    if unknown:
        raise PruningError(f"pruned_shapes names layers the model does not have: {unknown[:5]}")
    for name, entry in spec.items():
        module = modules[name]
        own = _tensors(module)
        for tname, shape in entry["tensors"].items():
            if tname not in own:
                raise PruningError(f"pruned_shapes: layer '{name}' has no tensor '{tname}'")
            old = own[tname]
            if list(old.shape) == list(shape):
                continue
            fresh = torch.empty(shape, dtype=old.dtype, device=old.device)
            if isinstance(old, nn.Parameter):
                setattr(module, tname, nn.Parameter(fresh, requires_grad=old.requires_grad))
            else:
                module._buffers[tname] = fresh
        for attr, value in entry["attrs"].items():
            setattr(module, attr, tuple(value) if isinstance(getattr(module, attr), tuple) else value)
    return model


def rebuild(build: Callable[[], nn.Module], state: dict[str, Any]) -> nn.Module:
    """Build the architecture, resize it to ``state['pruned_shapes']`` and load ``state['model']``."""
    model = build()
    apply_pruned_shapes(model, state.get("pruned_shapes", {}))
    model.load_state_dict(state["model"])
    return model
