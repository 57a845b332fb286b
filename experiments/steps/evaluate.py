"""The ``evaluate`` pipeline step of a compress run: test top-1 of the source model and of the compressed one.

``compress.eval_max_batches`` caps the test batches for quick runs; both models see the same batches.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from experiments.steps.base import STEPS, PipelineContext
from experiments.training import evaluate


@STEPS.register("evaluate")
def evaluate_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    source = ctx.results["source"]
    loader, max_batches = source["data"].test_loader, cfg.compress.eval_max_batches
    metrics = {
        "fp32_top1": evaluate(source["fp32_model"], loader, "cpu", max_batches)["top1"],
        "top1": evaluate(ctx.model(), loader, "cpu", max_batches)["top1"],
    }
    ctx.run.update_metrics(metrics)
    return {"metrics": metrics}
