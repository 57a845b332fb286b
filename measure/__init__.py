"""The measure stage: latency of exported models on the engine and its peers, one protocol everywhere.

    from measure import open_runner, interleave, TimingProtocol, measure_file, latency_fn, LatencyCache

    r = open_runner("onnxruntime", "model.onnx", threads=2)          # any registered runner
    (y,) = r.run(r.example_feeds())
    m = measure_file("slimlab", "model.slm", threads=1, cache=LatencyCache())   # cached by content hash
    res = interleave({"slimlab": lambda: open_runner("slimlab", slm),
                      "onnxruntime": lambda: open_runner("onnxruntime", onnx)},
                     TimingProtocol(rounds=5), reference="onnxruntime")
    res.measurements["slimlab"].median_ms, res.ratios["slimlab"].median     # same-round ratio
    lat = latency_fn(torch.randn(1, 3, 224, 224))                          # nn.Module -> ms (NetAdapt)

Runners live in ``measure.runners`` (one module each); the protocol in ``measure.timing``; the
cache in ``measure.cache``. Layer: above ``export``, below ``nas`` and ``experiments``.
"""

from __future__ import annotations

from measure.api import LATENCY_FN_PROTOCOL, latency_fn, measure_file
from measure.artifacts import ExportedModel, export_model
from measure.cache import CacheCorruptWarning, LatencyCache, default_cache_dir, file_sha256
from measure.machine import machine_fingerprint
from measure.runners import RUNNERS, InputSpec, Runner, RunnerUnavailableError, check_available, open_runner
from measure.timing import (
    Interleaved,
    Measurement,
    Ratio,
    TimingProtocol,
    TimingResult,
    interleave,
    measure_runner,
    time_runner,
)

__all__ = [
    "LATENCY_FN_PROTOCOL",
    "RUNNERS",
    "CacheCorruptWarning",
    "ExportedModel",
    "InputSpec",
    "Interleaved",
    "LatencyCache",
    "Measurement",
    "Ratio",
    "Runner",
    "RunnerUnavailableError",
    "TimingProtocol",
    "TimingResult",
    "check_available",
    "default_cache_dir",
    "export_model",
    "file_sha256",
    "interleave",
    "latency_fn",
    "machine_fingerprint",
    "measure_runner",
    "measure_file",
    "open_runner",
    "time_runner",
]
