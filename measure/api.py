"""Measuring one model file, with the cache, and the model-level ``latency_fn`` NetAdapt and NAS call."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from measure.artifacts import export_model
from measure.cache import LatencyCache
from measure.runners import check_available, open_runner
from measure.timing import Measurement, TimingProtocol, measure_runner

# NetAdapt compares candidates that differ by one layer's width: one fresh session, a time floor
# long enough to smooth timer noise on small models, cheap enough for hundreds of candidates
LATENCY_FN_PROTOCOL = TimingProtocol(warmup=3, min_runs=20, min_time_s=0.05, rounds=1)


def measure_file(runner: str, path: str | os.PathLike[str], threads: int = 1, *,
                 input_shape: Sequence[int] | None = None, protocol: TimingProtocol | None = None,
                 cache: LatencyCache | None = None) -> Measurement:
    """The protocol on ``runner`` over the model file ``path``; through ``cache`` when given
    (a hit opens no session and runs nothing)."""
    protocol = protocol or TimingProtocol()
    cls = check_available(runner)

    def run() -> Measurement:
        return measure_runner(lambda: open_runner(runner, path, threads, input_shape), protocol)

    if cache is None:
        return run()
    fields = cache.key_fields(path, runner, cls.version(), threads, input_shape, protocol)
    return cache.get_or_measure(fields, run)


def latency_fn(example_input: torch.Tensor, threads: int = 1, *, protocol: TimingProtocol | None = None,
               cache: LatencyCache | None | bool = True, runner: str = "slimlab") -> Callable[[nn.Module], float]:
    """``model -> median ms`` on the engine at ``example_input``'s shape.

    Each call exports the model to ONNX, converts it to the engine file and measures that file
    through the cache (``True``: the default location, ``$SLIMLAB_CACHE_DIR`` or
    ``~/.cache/slimlab/latency``; ``False``/``None``: no cache). Raises ``RunnerUnavailableError``
    (an ImportError) here, not at the first call, when the engine is not built.
    """
    protocol = protocol or LATENCY_FN_PROTOCOL
    check_available(runner)
    store = LatencyCache() if cache is True else (cache or None)
    x = example_input.detach().cpu()
    shape = tuple(x.shape)

    def latency_ms(model: nn.Module) -> float:
        with tempfile.TemporaryDirectory(prefix="slimlab-latency-") as tmp:
            exported = export_model(model, x, Path(tmp))
            path = exported.slm if runner == "slimlab" else exported.onnx
            return measure_file(runner, path, threads, input_shape=shape, protocol=protocol, cache=store).median_ms

    return latency_ms
