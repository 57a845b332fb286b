"""A PyTorch model to the files the runners read: ``<stem>.onnx`` and the engine's ``<stem>.slm``."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from export import ConversionReport


@dataclass
class ExportedModel:
    onnx: Path
    slm: Path
    report: ConversionReport
    input_shape: tuple[int, ...]

    def model_for(self, kind: str, module: nn.Module | None = None) -> Any:
        """What a runner of ``kind`` (``Runner.model_kind``) reads."""
        if kind == "slm":
            return self.slm
        if kind == "onnx":
            return self.onnx
        if kind == "torch" and module is not None:
            return module
        raise ValueError(f"no model of kind '{kind}' here (slm, onnx{', torch' if module is not None else ''})")


def export_model(model: nn.Module, example_input: torch.Tensor, out_dir: str | os.PathLike[str],
                 stem: str = "model", *, dynamic_batch: bool = False, verify: bool = False,
                 weights: str = "fp32", opset: int = 17, precision: str = "fp32") -> ExportedModel:
    """Export at ``example_input``'s shape (static by default: the engine then plans once for the
    timed shape) and convert to the engine file.

    ``precision="int8"``: the ONNX file is ONNX Runtime's QDQ int8 version of the model
    (``measure.reference_int8``) and the engine file its integer conversion, so every runner times the
    same int8 model.
    """
    import export

    if precision not in ("fp32", "int8"):
        raise ValueError(f"precision must be 'fp32' or 'int8', got {precision!r}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # tracer warnings of zoo models (shape-dependent Python branches) say nothing about latency
        warnings.simplefilter("ignore")
        onnx_path = export.to_onnx(model, example_input, out / f"{stem}.onnx", dynamic_batch=dynamic_batch,
                                   verify=verify, opset=opset)
    if precision == "int8":
        from measure.reference_int8 import quantize_reference_int8

        onnx_path = quantize_reference_int8(onnx_path, out / f"{stem}.int8.onnx", tuple(example_input.shape))
        stem = f"{stem}.int8"
    report = export.convert_model(onnx_path, out / f"{stem}.slm", weights=weights)
    return ExportedModel(onnx_path, Path(report.output), report, tuple(example_input.shape))
