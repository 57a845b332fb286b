"""Run calibration data through a model in ``observe`` mode, then freeze every quantizer's grid."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from compression.quantization.calibrators import CalibrationError
from compression.quantization.insert import quantizers, set_quant_mode


def _inputs(batch: object) -> torch.Tensor:
    # loaders yield (inputs, labels); bare tensors are accepted too
    return batch[0] if isinstance(batch, (tuple, list)) else batch  # type: ignore[return-value]


@torch.no_grad()
def forward_batches(model: nn.Module, batches: Iterable, num_batches: int, purpose: str, device: str = "cpu") -> int:
    """Run up to ``num_batches`` input batches through ``model`` (hooks collect what they need).

    Returns the number of batches run; none at all is an error naming ``purpose``.
    """
    seen = 0
    for batch in batches:
        if seen >= num_batches:
            break
        model(_inputs(batch).to(device))
        seen += 1
    if seen == 0:
        raise CalibrationError(f"{purpose} needs at least one batch of data; the data yielded none")
    return seen


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable, num_batches: int, device: str = "cpu") -> int:
    """Observe up to ``num_batches`` batches and freeze; returns the number of batches seen."""
    if isinstance(num_batches, bool) or not isinstance(num_batches, int) or num_batches < 1:
        raise ValueError(f"calibration needs at least one batch; got num_batches={num_batches!r}")
    if hasattr(batches, "__len__") and len(batches) == 0:  # type: ignore[arg-type]
        raise CalibrationError("the calibration data has zero batches")
    if not any(True for _ in quantizers(model)):
        raise ValueError("the model has no quantizers: run quantize_model first")
    was_training = model.training
    model.eval()
    set_quant_mode(model, "observe")
    seen = forward_batches(model, batches, num_batches, "calibration", device)
    set_quant_mode(model, "frozen")
    model.train(was_training)
    return seen
