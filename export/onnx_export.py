"""PyTorch -> ONNX export, checked and verified against PyTorch before it lands on disk."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from export.atomic import write_atomically

MIN_OPSET = 17


class ExportVerificationError(RuntimeError):
    """The exported ONNX model does not reproduce the PyTorch outputs."""


def _as_tuple(example_input: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    inputs = tuple(example_input)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError("example_input must be a tensor or a non-empty sequence of tensors")
    return inputs


def _dynamic_axes(
    names: Sequence[str], inputs: tuple[torch.Tensor, ...] | None, dynamic_batch: bool, dynamic_hw: bool
) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for i, name in enumerate(names):
        entry: dict[int, str] = {}
        if dynamic_batch:
            entry[0] = "batch"
        # spatial axes only make sense on image-like (4-D) inputs; outputs get theirs from the trace
        if dynamic_hw and inputs is not None and i < len(inputs) and inputs[i].dim() == 4:
            entry[2], entry[3] = "height", "width"
        if entry:
            axes[name] = entry
    return axes


def verify_with_onnxruntime(
    model_bytes: bytes,
    inputs: tuple[torch.Tensor, ...],
    expected: tuple[torch.Tensor, ...],
    input_names: Sequence[str],
    rtol: float,
) -> float | None:
    """Max |ort - torch| / max |torch| over all outputs; None when onnxruntime is absent."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feeds = {name: t.detach().cpu().numpy() for name, t in zip(input_names, inputs)}
    got = session.run(None, feeds)
    if len(got) != len(expected):
        raise ExportVerificationError(f"ONNX model has {len(got)} outputs, PyTorch {len(expected)}")
    worst = 0.0
    for i, (g, e) in enumerate(zip(got, expected)):
        ref = e.detach().cpu().numpy()
        if g.shape != ref.shape:
            raise ExportVerificationError(f"output {i}: ONNX shape {g.shape} != PyTorch shape {ref.shape}")
        scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-12)
        rel = float(np.max(np.abs(g.astype(np.float64) - ref))) / scale if ref.size else 0.0
        if not rel <= rtol:  # also catches NaN
            raise ExportVerificationError(
                f"output {i}: max |onnxruntime - torch| / max |torch| = {rel:.3g} exceeds rtol={rtol:g}"
            )
        worst = max(worst, rel)
    return worst


def to_onnx(
    model: nn.Module,
    example_input: torch.Tensor | Sequence[torch.Tensor],
    path: str | os.PathLike[str],
    dynamic_batch: bool = True,
    opset: int = 17,
    input_names: Sequence[str] = ("input",),
    output_names: Sequence[str] = ("output",),
    verify: bool = True,
    rtol: float = 1e-4,
    dynamic_hw: bool = False,
) -> Path:
    """Export ``model`` (in eval mode) to ONNX at ``path`` and return the path.

    The file is checked with ``onnx.checker`` and, when ``verify`` and onnxruntime
    is installed, its outputs on ``example_input`` must match PyTorch within
    ``rtol`` relative to the largest output magnitude. ``dynamic_hw`` also makes
    height/width of 4-D inputs symbolic.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    if rtol <= 0:
        raise ValueError(f"rtol must be positive, got {rtol}")
    inputs = _as_tuple(example_input)
    input_names, output_names = list(input_names), list(output_names)
    if len(input_names) != len(inputs):
        raise ValueError(f"{len(inputs)} example inputs but {len(input_names)} input_names {input_names}")
    path = Path(path)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(*inputs)
            expected_t = (expected,) if isinstance(expected, torch.Tensor) else tuple(expected)
            if len(output_names) != len(expected_t):
                raise ValueError(
                    f"model returns {len(expected_t)} outputs but {len(output_names)} output_names given"
                )
            axes = _dynamic_axes(input_names, inputs, dynamic_batch, dynamic_hw)
            axes.update(_dynamic_axes(output_names, None, dynamic_batch, False))
            buffer = io.BytesIO()
            with warnings.catch_warnings():
                # the TorchScript exporter is deprecated upstream but is the one that works offline
                warnings.simplefilter("ignore", category=DeprecationWarning)
                warnings.simplefilter("ignore", category=FutureWarning)
                torch.onnx.export(
                    model,
                    inputs,
                    buffer,
                    input_names=input_names,
                    output_names=output_names,
                    dynamic_axes=axes or None,
                    opset_version=opset,
                    do_constant_folding=True,
                    dynamo=False,
                )
    finally:
        model.train(was_training)

    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    if verify:
        verify_with_onnxruntime(data, inputs, expected_t, input_names, rtol)
    return write_atomically(path, data)
