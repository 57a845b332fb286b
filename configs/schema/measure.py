"""Schemas of the ``export`` and ``measure`` pipeline steps (``experiments/steps/``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ExportConfig:
    # batch of the exported graph; latency is quoted at batch 1
    batch: int = 1
    # per-sample input shape [C, H, W]; null: from the data of the training step (or its metrics)
    input_shape: list[int] | None = None
    # a static batch lets the engine plan once for the shape that is timed
    dynamic_batch: bool = False
    opset: int = 17
    # engine file weights: fp32 | fp16
    weights: str = "fp32"
    # compare ONNX Runtime's outputs with PyTorch's on export (needs onnxruntime; skipped without it)
    verify: bool = True


@dataclass
class MeasureConfig:
    # runner names (measure.RUNNERS): slimlab reads model.slm; onnxruntime and openvino read model.onnx;
    # pytorch runs the in-memory model. A runner that is not installed is an error here, not a skip:
    # a latency.json without its reference would not compare with the next one
    runners: list[str] = field(default_factory=lambda: ["slimlab", "onnxruntime"])
    # ratios are taken against this runner at the same thread count, within each round
    reference: str = "onnxruntime"
    threads: list[int] = field(default_factory=lambda: [1, 2])
    # the timing protocol (measure.timing): untimed runs after the first, then timed runs until both
    # min_runs and min_time_s are reached, in `rounds` interleaved rounds of fresh sessions
    warmup: int = 3
    min_runs: int = 10
    min_time_s: float = 0.2
    rounds: int = 5
    # reuse figures of the same engine/ONNX file measured on this machine under the same protocol;
    # off by default, so that a run's latency.json is measured by that run
    cache: bool = False
    # null: $SLIMLAB_CACHE_DIR or ~/.cache/slimlab/latency
    cache_dir: str | None = None
