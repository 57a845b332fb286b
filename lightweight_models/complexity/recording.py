"""Forward hooks that record what each module produced and how much memory its
weight layers moved; the per-layer tables are built from this record."""

from __future__ import annotations

from collections import defaultdict
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from lightweight_models.complexity.access_cost import memory_access_cost


def _first_tensor(tree: Any) -> torch.Tensor | None:
    return next((t for t in tree_leaves(tree) if isinstance(t, torch.Tensor)), None)


class LayerRecorder:
    """Context manager: ``output_shapes[fqn]`` of every module that ran (last call)
    and ``access_cost[fqn]`` of every leaf with an access-cost rule (summed over calls)."""

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self.output_shapes: dict[str, tuple[int, ...]] = {}
        self.access_cost: dict[str, int] = defaultdict(int)

    def _hook(self, fqn: str, is_leaf: bool):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            out = _first_tensor(output)
            if out is None:
                return
            self.output_shapes[fqn] = tuple(out.shape)
            inp = _first_tensor((args, kwargs))
            if is_leaf and inp is not None:
                cost = memory_access_cost(module, inp, out)
                if cost is not None:
                    self.access_cost[fqn] += cost

        return hook

    def __enter__(self) -> LayerRecorder:
        for fqn, module in self._model.named_modules():
            is_leaf = next(module.children(), None) is None
            self._handles.append(module.register_forward_hook(self._hook(fqn, is_leaf), with_kwargs=True))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
