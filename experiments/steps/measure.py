"""The ``measure`` pipeline step: latency of the exported model, written to ``latency.json``.

Times ``model.slm`` on the engine (and the peers named in ``measure.runners``: ``model.onnx`` on
ONNX Runtime or OpenVINO, the in-memory model on PyTorch) at every ``measure.threads`` count,
with the timing protocol of ``measure.timing``: all (runner, threads) pairs in the same
interleaved rounds, so ratios to the reference runner and thread speed-ups are same-round.
A runner named here that is not installed fails the step before anything is timed.
Headline figures go into ``metrics.json``: ``latency_ms`` and ``latency_vs_reference``, each runner -> threads.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from configs.schema.measure import MeasureConfig
from experiments.io import atomic_write_json
from experiments.steps.base import STEPS, PipelineContext
from experiments.steps.export import latest, step_settings
from measure import (
    Interleaved,
    LatencyCache,
    Measurement,
    Ratio,
    TimingProtocol,
    check_available,
    file_sha256,
    interleave,
    machine_fingerprint,
    open_runner,
)

Key = tuple[str, int]


def _protocol(s: MeasureConfig) -> TimingProtocol:
    return TimingProtocol(warmup=s.warmup, min_runs=s.min_runs, min_time_s=s.min_time_s, rounds=s.rounds)


def _models(ctx: PipelineContext) -> tuple[dict[str, Any], list[int] | None]:
    """What each runner kind reads, and the exported input shape."""
    exported = ctx.results.get("export") or {}
    models: dict[str, Any] = {"slm": Path(exported.get("slm") or ctx.path / "model.slm"),
                              "onnx": Path(exported.get("onnx") or ctx.path / "model.onnx")}
    module = latest(ctx, "model")
    if module is not None:
        models["torch"] = module
    shape = exported.get("input_shape")
    if shape is None and ctx.run.metrics_path.is_file():
        shape = ctx.run.read_metrics().get("export_input_shape")
    return models, shape


def check_measure(cfg: DictConfig) -> None:
    """Settings, runner names and installed packages, before any step of the run does work."""
    s: MeasureConfig = step_settings(cfg, "measure", MeasureConfig)
    if not s.runners or not s.threads or any(t < 1 for t in s.threads):
        raise ValueError(f"measure.runners and measure.threads must be non-empty, threads >= 1 "
                         f"(got runners={s.runners}, threads={s.threads})")
    if s.reference not in s.runners:
        raise ValueError(f"measure.reference '{s.reference}' is not among measure.runners {s.runners}")
    _protocol(s)  # its own range checks
    for name in s.runners:
        check_available(name)


def _check_models(s: MeasureConfig, models: dict[str, Any]) -> None:
    for name in s.runners:
        kind = check_available(name).model_kind
        model = models.get(kind)
        if model is None or (isinstance(model, Path) and not model.is_file()):
            what = f"{model}" if model is not None else "an in-memory model from an earlier step"
            raise FileNotFoundError(f"runner '{name}' reads {what}, which is missing: put the export step "
                                    f"(after train or compress) before measure in the pipeline")


def _measure(s: MeasureConfig, models: dict[str, Any], shape: list[int] | None, keys: list[Key],
             protocol: TimingProtocol) -> tuple[dict[Key, Measurement], Interleaved[Key] | None, set[Key]]:
    """Measurements of every key; cached ones (when ``measure.cache``) are not timed again."""
    factories = {(name, t): functools.partial(open_runner, name, models[check_available(name).model_kind], t, shape)
                 for name, t in keys}
    cache = LatencyCache(s.cache_dir) if s.cache else None
    found: dict[Key, Measurement] = {}
    fields: dict[Key, dict[str, Any]] = {}
    if cache is not None:
        for name, t in keys:
            cls = check_available(name)
            model = models[cls.model_kind]
            if isinstance(model, Path):  # an in-memory module has no content hash
                fields[(name, t)] = cache.key_fields(model, name, cls.version(), t, shape, protocol)
                hit = cache.get(cache.key(fields[(name, t)]))
                if hit is not None:
                    found[(name, t)] = hit
    todo = {k: f for k, f in factories.items() if k not in found}
    fresh = interleave(todo, protocol) if todo else None
    if fresh is not None and cache is not None:
        for key, m in fresh.measurements.items():
            if key in fields:
                cache.put(cache.key(fields[key]), fields[key], m)
    return {**found, **(fresh.measurements if fresh else {})}, fresh, set(found)


@STEPS.register("measure", check=check_measure)
def measure_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    check_measure(cfg)
    s: MeasureConfig = step_settings(cfg, "measure", MeasureConfig)
    models, shape = _models(ctx)
    _check_models(s, models)
    protocol = _protocol(s)
    threads = list(dict.fromkeys(s.threads))
    keys: list[Key] = [(name, t) for t in threads for name in dict.fromkeys(s.runners)]
    measured, fresh, cached = _measure(s, models, shape, keys, protocol)

    def ratio(a: Key, b: Key) -> Ratio:
        if fresh is not None and a in fresh.measurements and b in fresh.measurements:
            return fresh.ratio(a, b)
        return Ratio.of_medians(measured[a], measured[b])

    rows = []
    for name, t in keys:
        m = measured[(name, t)]
        row: dict[str, Any] = {"runner": name, "threads": t, **m.as_dict(), "cached": (name, t) in cached,
                               "ratio_to_reference": ratio((name, t), (s.reference, t)).as_dict()}
        if t != threads[0]:
            # > 1: the extra threads help; same-round, so a shared machine's drift cancels out
            row[f"speedup_vs_{threads[0]}_threads"] = ratio((name, threads[0]), (name, t)).as_dict()
        rows.append(row)
    engine_info = measured[("slimlab", threads[0])].info if ("slimlab", threads[0]) in measured else {}
    files = {kind: {"path": p.name, "bytes": p.stat().st_size, "sha256": file_sha256(p)}
             for kind, p in models.items() if isinstance(p, Path) and p.is_file()}
    payload = {
        "files": files,
        "input_shape": shape,
        "protocol": protocol.as_dict(),
        "machine": machine_fingerprint(),
        "versions": {name: check_available(name).version() for name in dict.fromkeys(s.runners)},
        "reference": s.reference,
        "engine": engine_info,
        "results": rows,
    }
    atomic_write_json(ctx.path / "latency.json", payload)
    # nested runner -> threads -> figure: the shape the run summary (experiments.summary) renders
    figures: dict[str, Any] = {"latency_ms": {}, "latency_vs_reference": {}}
    for row in rows:
        threads_key = str(row["threads"])
        figures["latency_ms"].setdefault(row["runner"], {})[threads_key] = row["median_ms"]
        ratio = row["ratio_to_reference"]["median"]
        figures["latency_vs_reference"].setdefault(row["runner"], {})[threads_key] = ratio
    figures["latency_reference"] = s.reference
    if "arena_bytes" in engine_info:
        figures["engine_arena_bytes"] = engine_info["arena_bytes"]
    ctx.run.update_metrics(figures)
    for row in rows:
        note = " (cached)" if row["cached"] else ""
        print(f"{row['runner']:>12} {row['threads']}t: {row['median_ms']:.3f} ms (IQR {row['iqr_ms']:.3f}), "
              f"x{row['ratio_to_reference']['median']:.2f} {s.reference}{note}")
    return {"latency": payload, "metrics": figures}
