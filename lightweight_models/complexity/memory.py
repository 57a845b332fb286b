"""Peak activation memory of an inference forward pass, measured from the ops it runs.

Definition: a buffer (a tensor storage produced by an op, or the model input)
is live from the op that writes it to the last op that reads or writes it; the
model output stays live to the end. Views and in-place results share their
base's storage and so extend its life instead of adding a new buffer. Weights,
buffers and other constants the model owns are not activations and are not
counted. The peak is the largest total of live buffer bytes over all ops, each
op counted with its inputs and outputs live at once.

This is the memory an inference engine needs when it frees every buffer right
after its last reader (what a liveness-based planner does). It is deliberately
not PyTorch eager's allocator peak, which is higher and depends on Python
frames keeping module inputs alive. For a plain chain it is the largest sum of
two adjacent buffers (a layer's input plus its output).

It is measured on the model as written: an eval ``BatchNorm`` writes a new
buffer, so an unfolded conv-BN pair holds two feature maps at once; after BN
folding (an export pass) the same network needs less.

The lifetimes come from the real op trace: a ``TorchDispatchMode`` sees every
ATen op of an eval forward under ``torch.no_grad`` with its input and output
tensors, so nothing about the architecture is assumed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    return (str(t.device), t.untyped_storage().data_ptr())


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [t for t in tree_leaves(tree) if isinstance(t, torch.Tensor)]


class _LivenessTrace(TorchDispatchMode):
    """Records, for every ATen op, which storages it read and which it wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[list[tuple[str, int]], list[tuple[str, int]]]] = []
        self.nbytes: dict[tuple[str, int], int] = {}
        # every produced tensor is kept alive until the trace is analysed, so the
        # allocator cannot hand a freed address to a later buffer and alias the two
        self._keep: list[torch.Tensor] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        reads = [_storage_key(t) for t in _tensors((args, kwargs))]
        written = _tensors(out)
        for t in written:
            self.nbytes.setdefault(_storage_key(t), t.untyped_storage().nbytes())
        self._keep.extend(written)
        self.steps.append((reads, [_storage_key(t) for t in written]))
        return out


def _peak_of_trace(
    trace: _LivenessTrace,
    inputs: list[torch.Tensor],
    outputs: list[torch.Tensor],
    constants: set[tuple[str, int]],
) -> int:
    n = len(trace.steps)
    birth: dict[tuple[str, int], int] = {}
    death: dict[tuple[str, int], int] = {}
    sizes = dict(trace.nbytes)
    for t in inputs:
        key = _storage_key(t)
        birth[key], death[key] = 0, 0
        sizes[key] = t.untyped_storage().nbytes()
    for step, (reads, writes) in enumerate(trace.steps):
        for key in reads:
            if key in birth:
                death[key] = step
            else:
                # read before anything wrote it: a tensor the model owns, not an activation
                constants.add(key)
        for key in writes:
            if key in constants:
                continue
            birth.setdefault(key, step)
            death[key] = step
    for t in outputs:
        key = _storage_key(t)
        if key in birth:
            death[key] = max(n - 1, 0)
    # difference array over op steps: +size at birth, -size after death
    steps = max(n, 1)  # a model that runs no op still holds its input
    delta = [0] * (steps + 1)
    for key, start in birth.items():
        delta[start] += sizes[key]
        delta[death[key] + 1] -= sizes[key]
    live, peak = 0, 0
    for change in delta[:steps]:
        live += change
        peak = max(peak, live)
    return peak


def peak_activation_bytes(model: nn.Module, example_input: torch.Tensor) -> int:
    """Peak bytes of live activations (input + intermediates + output) in an eval forward.

    See the module docstring for the exact definition. The model is run once in
    eval mode under ``torch.no_grad``; its training flag is restored afterwards.
    """
    constants = {_storage_key(t) for t in (*model.parameters(), *model.buffers())}
    was_training = model.training
    model.eval()
    trace = _LivenessTrace()
    try:
        with torch.no_grad(), trace:
            output = model(example_input)
    finally:
        model.train(was_training)
    return _peak_of_trace(trace, [example_input], _tensors(output), constants)
