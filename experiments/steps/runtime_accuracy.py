"""The ``runtime_accuracy`` pipeline step: test top-1 of the exported QDQ file on runtimes, not in PyTorch.

The fake-quant simulation's top-1 is a promise; this is what runtimes that execute the file give, over the
same test batches as ``evaluate``: ONNX Runtime on the QDQ file, and the bundled engine on its integer
conversion (``model.int8.slm`` beside the QDQ file). Besides each top-1, the engine is compared with ONNX
Runtime sample by sample (share of equal predictions) and element by element on the dequantized output
(share of equal values, largest difference in steps of the output's quantization grid).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from omegaconf import DictConfig

from experiments.steps.base import STEPS, PipelineContext
from export import convert_model
from measure import open_runner

RUNTIMES = ("onnxruntime", "slimlab")


def _output_step(qdq: Path) -> float | None:
    """The scale of the DequantizeLinear that produces the graph's output, if one does (per tensor)."""
    model = onnx.load(str(qdq))
    out = model.graph.output[0].name
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] == out and node.input[1] in consts:
            scale = consts[node.input[1]]
            return float(scale) if scale.size == 1 else None
    return None


@STEPS.register("runtime_accuracy")
def runtime_accuracy_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    path = ctx.results.get("export_qdq", {}).get("qdq_path")
    if path is None:
        return {}
    path = Path(path)
    slm = convert_model(path, path.with_name("model.int8.slm")).output
    runners = {"onnxruntime": open_runner("onnxruntime", path, threads=1), "slimlab": open_runner("slimlab", slm)}
    step = _output_step(path)
    max_batches = cfg.compress.eval_max_batches
    correct = dict.fromkeys(RUNTIMES, 0)
    n = same_top1 = same_values = values = 0
    max_steps = max_abs = max_ref = 0.0
    for i, (x, y) in enumerate(ctx.results["source"]["data"].test_loader):
        if max_batches is not None and i >= max_batches:
            break
        logits = {r: runners[r].run({runners[r].input_names[0]: x.numpy()})[0] for r in RUNTIMES}
        top1 = {r: np.argmax(v, 1) for r, v in logits.items()}
        for r in RUNTIMES:
            correct[r] += int((top1[r] == y.numpy()).sum())
        same_top1 += int((top1["slimlab"] == top1["onnxruntime"]).sum())
        diff = np.abs(logits["slimlab"].astype(np.float64) - logits["onnxruntime"])
        same_values += int((diff == 0).sum())
        values += diff.size
        if diff.size:
            max_abs, max_ref = max(max_abs, float(diff.max())), max(max_ref, float(np.abs(logits["onnxruntime"]).max()))
        if step and diff.size:
            max_steps = max(max_steps, float(diff.max()) / step)
        n += y.numel()
    n = max(n, 1)
    metrics = {
        "onnx_top1": 100.0 * correct["onnxruntime"] / n,
        "engine_top1": 100.0 * correct["slimlab"] / n,
        "engine_onnx_same_top1": same_top1 / n,
        "engine_onnx_equal_outputs": same_values / max(values, 1),
        # a float output (a last layer left unquantized) differs in the last bits: relative to its largest value
        "engine_onnx_max_output_diff": max_abs / max(max_ref, 1e-30),
        "engine_int8_slm_bytes": slm.stat().st_size,
    }
    if step:
        metrics["engine_onnx_max_output_steps"] = round(max_steps, 3)
    ctx.run.update_metrics(metrics)
    return {"metrics": metrics, "int8_slm": str(slm)}
