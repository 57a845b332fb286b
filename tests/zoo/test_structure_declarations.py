"""Every zoo block whose forward depends on stored widths declares it (``lightweight_models.blocks.structure``),
so that tools changing widths (structured pruning) can read it as data instead of knowing the block by name.

The check does not trust the declarations: it runs every registered model and records each reshape, view or
split that is given explicit sizes, together with the block whose own forward made the call. Such a call
breaks (or silently mixes channels) when the block's input gets narrower, unless its input comes straight
from a channel barrier, whose width never changes.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from lightweight_models import create_model, list_models
from lightweight_models.blocks.structure import channel_barrier, head_layout, per_head_params, pruning_locks

SMALL_INPUT = {"small_input": True, "input_size": 32, "in_chans": 1, "num_classes": 10}
SHAPE_OPS = {torch.Tensor.reshape, torch.Tensor.view, torch.reshape, torch.Tensor.split, torch.split}


def _sizes(args: tuple[Any, ...]) -> list[int]:
    out: list[int] = []
    for a in args:
        if isinstance(a, int) and not isinstance(a, bool):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out += _sizes(tuple(a))
    return out


class _StoredShapes(TorchFunctionMode):
    """Records (block type, op) for every shape op given explicit sizes > 1, by the innermost running module,
    unless the tensor was produced by a channel barrier."""

    def __init__(self, running: list[nn.Module], producer: dict[int, nn.Module]) -> None:
        super().__init__()
        self.running, self.producer = running, producer
        self.calls: dict[type[nn.Module], set[str]] = defaultdict(set)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        if func in SHAPE_OPS and self.running and isinstance(args[0], torch.Tensor) and args[0].dim() >= 2:
            source = self.producer.get(id(args[0]))
            fixed_input = source is not None and channel_barrier(source) is not None
            if any(s > 1 for s in _sizes(args[1:])) and not fixed_input:
                self.calls[type(self.running[-1])].add(func.__name__)
        return func(*args, **(kwargs or {}))


@contextmanager
def _recording(model: nn.Module) -> Iterator[_StoredShapes]:
    running: list[nn.Module] = []
    producer: dict[int, nn.Module] = {}
    keep: list[torch.Tensor] = []  # alive until the end, so an id is never reused for another tensor

    def enter(module: nn.Module, args: Any) -> None:
        running.append(module)

    def leave(module: nn.Module, args: Any, out: Any) -> None:
        running.pop()
        if isinstance(out, torch.Tensor) and id(out) not in producer:  # the innermost producer wins
            producer[id(out)] = module
            keep.append(out)

    handles = [m.register_forward_pre_hook(enter) for m in model.modules()]
    handles += [m.register_forward_hook(leave) for m in model.modules()]
    mode = _StoredShapes(running, producer)
    try:
        with mode:
            yield mode
    finally:
        for h in handles:
            h.remove()


def _declares_structure(block: type[nn.Module], instance: nn.Module) -> bool:
    return bool(
        channel_barrier(instance) is not None
        or pruning_locks(instance)
        or head_layout(instance) is not None
        or per_head_params(instance) is not None
    )


def _stored_shape_blocks(name: str) -> dict[type[nn.Module], nn.Module]:
    torch.manual_seed(0)
    model = create_model(name, **SMALL_INPUT).eval()
    with _recording(model) as mode, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model(torch.randn(1, 1, 32, 32))
    instances = {type(m): m for m in model.modules()}
    return {kind: instances[kind] for kind in mode.calls}


@pytest.mark.parametrize("name", list_models())
def test_every_block_that_reshapes_by_stored_sizes_declares_its_structure(name):
    undeclared = [kind.__name__ for kind, m in _stored_shape_blocks(name).items() if not _declares_structure(kind, m)]
    assert not undeclared, (
        f"{name}: {undeclared} reshape or split by stored sizes but declare no channel_barrier, pruning_locks(), "
        "head_layout() or head_params (lightweight_models/blocks/structure.py)"
    )


def test_the_check_sees_the_blocks_it_is_meant_to_see():
    # a detector that silently saw nothing would pass the test above for every model
    seen = {kind.__name__ for name in ("mobilevit_xxs", "efficientformer_l1", "shufflenetv2_x0_5")
            for kind in _stored_shape_blocks(name)}
    assert {"MobileViTBlock", "MultiHeadSelfAttention", "RelativePositionBias", "GridToTokens",
            "ChannelShuffle"} <= seen
