"""``profile``: every complexity figure of a model at one input shape."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lightweight_models.complexity.counting import MacCounter, count_params
from lightweight_models.complexity.memory import peak_activation_bytes
from lightweight_models.complexity.recording import LayerRecorder
from lightweight_models.complexity.report import ComplexityReport
from lightweight_models.complexity.tables import block_rows, layer_rows


def _check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if len(shape) < 2 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"input_shape must be positive integers (batch, channels, ...), got {input_shape}")
    return shape


def _example_input(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    # seeded so that data-dependent models profile the same every time
    gen = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=gen).to(device=device, dtype=dtype)


def profile(
    model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224), block_depth: int | None = None
) -> ComplexityReport:
    """Params, MACs, peak activation memory and memory access cost of ``model``.

    ``input_shape`` includes the batch; MACs, memory figures and the feature-map
    part of the access cost scale with it. ``block_depth`` sets the aggregation
    depth of the block table (default: children of ``stages``/``features``,
    other top-level modules as they are). The model runs in eval mode under
    ``torch.no_grad``; its training flag is restored.
    """
    shape = _check_shape(input_shape)
    x = _example_input(model, shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), MacCounter(model) as macs, LayerRecorder(model) as record:
            model(x)
    finally:
        model.train(was_training)
    layers = layer_rows(model, macs.by_module, record.output_shapes, record.access_cost)
    return ComplexityReport(
        model=type(model).__name__,
        input_shape=shape,
        params=count_params(model),
        macs=macs.total,
        peak_activation_bytes=peak_activation_bytes(model, x),
        memory_access_cost=sum(record.access_cost.values()),
        layers=layers,
        blocks=block_rows(model, layers, record.output_shapes, block_depth),
    )
