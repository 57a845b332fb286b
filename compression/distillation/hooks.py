"""Capture intermediate features of named modules during a forward pass."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import torch
from torch import nn


def module_by_name(model: nn.Module, name: str, role: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules:
        close = difflib.get_close_matches(name, list(modules), n=3)
        hint = f" (closest: {', '.join(close)})" if close else ""
        raise ValueError(f"{role} has no module named '{name}'{hint}")
    return modules[name]


class FeatureHooks:
    """Keeps the latest output of each named module in ``features`` (overwritten every forward)."""

    def __init__(self, model: nn.Module, names: Iterable[str], role: str) -> None:
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for name in names:
            module = module_by_name(model, name, role)
            self._handles.append(module.register_forward_hook(self._keep(name)))

    def _keep(self, name: str):
        def hook(module: nn.Module, args: object, out: torch.Tensor) -> None:
            self.features[name] = out

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
