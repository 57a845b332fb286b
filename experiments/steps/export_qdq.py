"""The ``export_qdq`` pipeline step: a quantized model's fp32 and QDQ ONNX files, side by side.

Writes ``model.fp32.onnx`` (the source model) and ``model.qdq.onnx`` (QuantizeLinear/DequantizeLinear around
integer weight initializers) at batch 1, with their sizes. Methods that quantize nothing set
``compress.export=false`` and the step writes nothing.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from experiments.steps.base import STEPS, PipelineContext
from export import to_onnx
from export.qdq import export_qdq


@STEPS.register("export_qdq")
def export_qdq_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    if not cfg.compress.export:
        return {}
    single = ctx.latest("example_input")
    fp32_onnx = to_onnx(ctx.results["source"]["fp32_model"], single, ctx.path / "model.fp32.onnx")
    report = export_qdq(ctx.model(), single, ctx.path / "model.qdq.onnx")
    fp32_bytes = fp32_onnx.stat().st_size
    metrics = {
        "onnx_fp32_bytes": fp32_bytes,
        "onnx_qdq_bytes": report.file_bytes,
        "onnx_size_ratio": report.file_bytes / fp32_bytes,
        "onnx_opset": report.opset,
    }
    ctx.run.update_metrics(metrics)
    return {"qdq_path": report.path, "metrics": metrics}
