"""The ``runtime_accuracy`` pipeline step: test top-1 of the exported QDQ file on a runtime, not in PyTorch.

The fake-quant simulation's top-1 is a promise; this is what a runtime that executes the file gives (ONNX
Runtime now; the bundled engine once it runs integer models), over the same test batches as ``evaluate``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from experiments.steps.base import STEPS, PipelineContext
from measure import open_runner

RUNTIME = "onnxruntime"


@STEPS.register("runtime_accuracy")
def runtime_accuracy_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    path = ctx.results.get("export_qdq", {}).get("qdq_path")
    if path is None:
        return {}
    runner = open_runner(RUNTIME, path, threads=1)
    max_batches = cfg.compress.eval_max_batches
    correct = n = 0
    for i, (x, y) in enumerate(ctx.results["source"]["data"].test_loader):
        if max_batches is not None and i >= max_batches:
            break
        logits = runner.run({runner.input_names[0]: x.numpy()})[0]
        correct += int((np.argmax(logits, 1) == y.numpy()).sum())
        n += y.numel()
    metrics = {"onnx_top1": 100.0 * correct / max(n, 1)}
    ctx.run.update_metrics(metrics)
    return {"metrics": metrics}
