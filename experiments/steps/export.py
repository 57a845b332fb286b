"""The ``export`` pipeline step: the latest step's model to ``model.onnx`` and ``model.slm`` in the run directory.

Takes the model of the most recent step that produced one (``train``, ``source`` or ``compress``), exports it
in fp32 at batch ``export.batch`` (1) and the data's input shape, and converts it to the engine file. Writes
``conversion.txt`` (the converter's pass and op report) and adds the file sizes to ``metrics.json``; the
``measure`` step times the files.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from configs.schema.measure import ExportConfig
from experiments.io import atomic_write_text
from experiments.steps.base import STEPS, PipelineContext
from measure import export_model

WEIGHTS = ("fp32", "fp16")


def step_settings(cfg: DictConfig, key: str, schema: type) -> Any:
    """The step's typed settings; the schema's defaults when the config has no such section."""
    node = cfg.get(key) if isinstance(cfg, DictConfig) else None
    base = OmegaConf.structured(schema)
    return OmegaConf.to_object(OmegaConf.merge(base, node) if node is not None else base)


def latest(ctx: PipelineContext, key: str) -> Any:
    """``key`` from the most recent step result that has it, or None."""
    try:
        return ctx.latest(key)
    except KeyError:
        return None


def input_shape(settings: ExportConfig, ctx: PipelineContext) -> list[int]:
    """[batch, C, H, W]: from the settings, else the data bundle, the example input, or an input_shape metric."""
    if settings.input_shape:
        return [settings.batch, *settings.input_shape]
    data = latest(ctx, "data")
    if data is not None:
        return [settings.batch, data.channels, data.image_size, data.image_size]
    example = latest(ctx, "example_input")
    if example is not None:
        return [settings.batch, *example.shape[1:]]
    saved = [r.get("metrics") or {} for r in reversed(list(ctx.results.values()))]
    if ctx.run.metrics_path.is_file():
        saved.append(ctx.run.read_metrics())
    for metrics in saved:
        if metrics.get("input_shape"):
            return [settings.batch, *metrics["input_shape"][1:]]
    raise ValueError("the export step cannot tell the input shape: no earlier step produced data, an example "
                     "input or an input_shape metric; set export.input_shape=[C,H,W]")


def check_export(cfg: DictConfig) -> None:
    s: ExportConfig = step_settings(cfg, "export", ExportConfig)
    if s.batch < 1:
        raise ValueError(f"export.batch must be >= 1, got {s.batch}")
    if s.input_shape is not None and (len(s.input_shape) != 3 or min(s.input_shape) < 1):
        raise ValueError(f"export.input_shape is the per-sample shape [C, H, W], got {s.input_shape}")
    if s.weights not in WEIGHTS:
        raise ValueError(f"export.weights must be one of {WEIGHTS}, got '{s.weights}'")


@STEPS.register("export", check=check_export)
def export_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    check_export(cfg)
    settings: ExportConfig = step_settings(cfg, "export", ExportConfig)
    model = latest(ctx, "model")
    if model is None:
        raise ValueError("the export step needs a model from an earlier step: put train or compress before it "
                         f"in the pipeline (steps so far: {', '.join(ctx.results) or 'none'})")
    shape = input_shape(settings, ctx)
    model = model.cpu().eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    exported = export_model(model, x, ctx.path, "model", dynamic_batch=settings.dynamic_batch,
                            verify=settings.verify, weights=settings.weights, opset=settings.opset)
    report = exported.report
    atomic_write_text(ctx.path / "conversion.txt", report.format() + "\n")
    figures = {
        "export_input_shape": shape,
        "onnx_bytes": exported.onnx.stat().st_size,
        "slm_bytes": report.file_size,
        "slm_weights_bytes": report.weights_size,
        "slm_weights": report.weights,
        "slm_ops_before": sum(report.ops_before.values()),
        "slm_ops_after": sum(report.ops_after.values()),
    }
    ctx.run.update_metrics(figures)
    print(f"exported {exported.onnx.name} ({figures['onnx_bytes']} bytes) and {exported.slm.name} "
          f"({figures['slm_bytes']} bytes, {figures['slm_ops_after']} ops) to {ctx.path}")
    return {"onnx": exported.onnx, "slm": exported.slm, "input_shape": shape, "conversion": report,
            "metrics": figures}
