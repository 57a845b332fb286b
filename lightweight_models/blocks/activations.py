"""Activations by name. h-swish/h-sigmoid use PyTorch's modules, which export to
ONNX HardSwish/HardSigmoid (ops the engine fuses into convolutions)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from configs.registry import Registry

ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")
ACTIVATIONS.add("relu", lambda: nn.ReLU(inplace=True))
ACTIVATIONS.add("relu6", lambda: nn.ReLU6(inplace=True))
ACTIVATIONS.add("hswish", lambda: nn.Hardswish(inplace=True))
ACTIVATIONS.add("hsigmoid", lambda: nn.Hardsigmoid(inplace=True))
ACTIVATIONS.add("silu", lambda: nn.SiLU(inplace=True))
ACTIVATIONS.add("sigmoid", nn.Sigmoid)
ACTIVATIONS.add("gelu", nn.GELU)
ACTIVATIONS.add("identity", nn.Identity)


def get_activation(name: str | None) -> nn.Module:
    """A fresh activation module; ``None`` or ``"identity"`` gives ``nn.Identity``."""
    return ACTIVATIONS.get(name or "identity")()
