"""Latency sources: what a candidate costs to run. ``EngineLatency`` measures it on the bundled engine through
the measure stage (export -> engine file -> the timing protocol, cached by the engine file's hash); a latency
predictor or a supernet's lookup table will be one more class with the same call.

Every candidate's latency is measured: no estimate stands in for it. FLOPs (MACs) and parameters are recorded
beside it (``complexity``) so that the report can show how well they rank latency on this machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from lightweight_models.complexity import count_params, profile
from measure import LatencyCache, TimingProtocol, check_available, export_model, measure_file

# a candidate is one of hundreds: one fresh session, a time floor that smooths timer noise on small networks
SEARCH_PROTOCOL = TimingProtocol(warmup=3, min_runs=20, min_time_s=0.05, rounds=1)


class LatencySource(Protocol):
    name: str

    def check(self) -> None:
        """Fail now (before any training) when the source cannot measure."""

    def __call__(self, model: nn.Module, input_shape: tuple[int, ...], out_dir: Path) -> dict[str, Any]:
        """Figures of ``model`` at ``input_shape`` (batch included): at least ``latency_ms``."""


@dataclass
class EngineLatency:
    """Median latency on ``runner`` at ``threads`` and ``batch``, plus the engine's arena bytes (the peak
    activation memory it plans) and the engine file's size. The exported files stay in ``out_dir``."""

    runner: str = "slimlab"
    threads: int = 1
    batch: int = 1
    protocol: TimingProtocol = field(default_factory=lambda: SEARCH_PROTOCOL)
    # True: $SLIMLAB_CACHE_DIR or ~/.cache/slimlab/latency; a path; False: measure every time
    cache: bool | str | os.PathLike[str] = True
    name: str = "engine"

    def check(self) -> None:
        check_available(self.runner)
        if self.threads < 1 or self.batch < 1:
            raise ValueError(f"latency threads and batch must be >= 1, got threads={self.threads}, "
                             f"batch={self.batch}")

    def _cache(self) -> LatencyCache | None:
        if self.cache is True:
            return LatencyCache()
        if self.cache is False or self.cache is None:
            return None
        return LatencyCache(self.cache)

    def __call__(self, model: nn.Module, input_shape: tuple[int, ...], out_dir: Path) -> dict[str, Any]:
        shape = (self.batch, *input_shape[1:])
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        exported = export_model(model.cpu().eval(), x, out_dir, "model")
        path = exported.slm if check_available(self.runner).model_kind == "slm" else exported.onnx
        m = measure_file(self.runner, path, self.threads, input_shape=shape, protocol=self.protocol,
                         cache=self._cache())
        figures: dict[str, Any] = {"latency_ms": m.median_ms, "latency_p25_ms": m.p25_ms,
                                   "latency_p75_ms": m.p75_ms, "slm_bytes": exported.slm.stat().st_size,
                                   "latency_runner": self.runner, "latency_threads": self.threads,
                                   "latency_batch": self.batch}
        if "arena_bytes" in m.info:
            figures["arena_bytes"] = int(m.info["arena_bytes"])
        return figures


def complexity(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Params, MACs (``torch.utils.flop_counter``) and PyTorch-side peak activation bytes at batch 1."""
    shape = (1, *input_shape[1:])
    try:
        cost = profile(model.cpu(), shape)
    except Exception:  # noqa: BLE001  (a model the profiler cannot trace still has a parameter count)
        return {"params": count_params(model)}
    return {"params": cost.params, "macs": cost.macs, "peak_activation_bytes": cost.peak_activation_bytes}
