"""Compress methods of ``python -m experiments.compress``: one module per method, registered by name.

A method has two halves so that a saved result can be rebuilt: ``prepare`` builds
the compressed structure (quantizers in place, nothing calibrated) and ``run``
fills it (calibration, training, search). ``load_compressed`` calls ``prepare``
and then loads the saved state instead of ``run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from compression.quantization import QuantConfig
from configs.registry import Registry
from experiments.runs import RunDir


@dataclass
class CompressContext:
    cfg: DictConfig
    fp32_model: nn.Module
    quant: QuantConfig
    example_input: torch.Tensor
    # None when the model is only being rebuilt from a saved run
    data: Any = None
    run: RunDir | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompressMethod:
    prepare: Callable[[CompressContext], nn.Module]
    run: Callable[[CompressContext, nn.Module], dict[str, Any]]


COMPRESS_METHODS: Registry[CompressMethod] = Registry("compress method")


def import_methods() -> None:
    """Import every module of this package: each method module registers itself, so adding a method
    is adding a file (kept in a function so importing the registry stays cheap)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
