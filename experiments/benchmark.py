"""Engine latency against ONNX Runtime, PyTorch eager and OpenVINO (Hydra entry point).

    .venv/bin/python -m experiments.benchmark                       # configs/benchmark.yaml
    .venv/bin/python -m experiments.benchmark models=[tv/mobilenet_v2] rounds=3 threads=[1]

A thin caller of ``measure``: each model is exported with ``measure.export_model`` and every
engine is timed with the one protocol of ``measure.timing`` (fresh session per round, warm-up,
timed runs until ``iterations`` runs and ``min_time_s`` are both reached) in interleaved rounds,
so a machine-wide slowdown hits all engines alike; each engine's ratio to ONNX Runtime is taken
within the round and the median over rounds is reported. Engines are ``measure.RUNNERS`` names;
one whose package is not installed (OpenVINO) is skipped with a note, and ncnn/MNN, which need
their own model conversion, are skipped with a note too. Writes benchmark.md and benchmark.json
into the run directory.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from experiments.io import atomic_write_json, atomic_write_text
from measure import (
    RUNNERS,
    ExportedModel,
    TimingProtocol,
    export_model,
    interleave,
    machine_fingerprint,
    open_runner,
)

REFERENCE = "onnxruntime"
# engines people ask for that have no runner, because they need a model conversion of their own
NO_RUNNER = {"ncnn", "mnn"}


@dataclass
class BenchmarkConfig:
    models: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=lambda: ["slimlab", "onnxruntime", "pytorch"])
    threads: list[int] = field(default_factory=lambda: [1, 2])
    batch: int = 1
    rounds: int = 5
    warmup: int = 3
    # timed runs per round: at least this many, and at least min_time_s of them
    iterations: int = 10
    min_time_s: float = 0.2
    input_size: int | None = None  # None: each model's default resolution
    # "int8": every engine runs ONNX Runtime's QDQ int8 file of each model (measure.reference_int8), the
    # engine its integer conversion, and the engine's fp32 file is timed beside them for the int8 speed-up
    precision: str = "fp32"


ConfigStore.instance().store(name="base_benchmark", node=BenchmarkConfig)


def default_size(name: str) -> int:
    import lightweight_models

    if name.startswith(("tv/", "timm/")):
        return 256 if "mobilevit" in name else 224
    return int(lightweight_models.model_info(name).get("default_input", 224))


# the engine's fp32 file in an int8 benchmark: the speed-up int8 buys on the engine
ENGINE_FP32 = "slimlab_fp32"


@dataclass
class PreparedModel:
    name: str
    torch_model: Any
    files: ExportedModel
    x: np.ndarray
    fp32: ExportedModel | None = None  # int8 benchmarks: the fp32 files of the same model


def prepare(name: str, cfg: BenchmarkConfig, workdir: Path) -> PreparedModel:
    import torch

    import lightweight_models

    torch.manual_seed(0)
    model = lightweight_models.create_model(name).eval()
    channels = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
    size = cfg.input_size or default_size(name)
    x = np.random.default_rng(0).standard_normal((cfg.batch, channels, size, size)).astype(np.float32)
    stem = name.replace("/", "_")
    files = export_model(model, torch.from_numpy(x), workdir, stem)
    if cfg.precision == "fp32":
        return PreparedModel(name, model, files, x)
    int8 = export_model(model, torch.from_numpy(x), workdir, stem, precision="int8")
    print(f"{name}: int8 engine file {int8.slm.stat().st_size / files.slm.stat().st_size:.1%} of fp32", flush=True)
    return PreparedModel(name, model, int8, x, fp32=files)


def available_engines(requested: list[str]) -> list[str]:
    engines = []
    for name in requested:
        if name in NO_RUNNER:
            print(f"note: {name} needs its own model conversion, which this benchmark does not do; skipping it")
            continue
        cls = RUNNERS.get(name)  # an unknown name fails here, listing the runners
        if not cls.available():
            print(f"note: {name} is not installed; skipping it ({cls.install_hint})")
            continue
        engines.append(name)
    if REFERENCE not in engines:
        raise ValueError(f"the engines must include {REFERENCE}: ratios are taken against it")
    return engines


def benchmark_model(m: PreparedModel, engines: list[str], threads: int, protocol: TimingProtocol) -> dict[str, dict]:
    shape = m.x.shape
    factories = {e: functools.partial(open_runner, e, m.files.model_for(RUNNERS.get(e).model_kind, m.torch_model),
                                      threads, shape) for e in engines}
    if m.fp32 is not None:
        factories[ENGINE_FP32] = functools.partial(open_runner, "slimlab", m.fp32.slm, threads, shape)
    # no feeds passed: each runner draws the protocol's seeded inputs, identical across engines
    res = interleave(factories, protocol, reference=REFERENCE)
    out = {}
    for e in list(engines) + ([ENGINE_FP32] if m.fp32 is not None else []):
        meas, ratio = res.measurements[e], res.ratios[e]
        out[e] = {"median_ms": meas.median_ms, "iqr_ms": meas.iqr_ms, "min_ms": meas.min_ms,
                  "ratio_to_ort": ratio.median, "ratio_min": ratio.min, "ratio_max": ratio.max,
                  "session_create_ms": meas.session_create_ms, "first_run_ms": meas.first_run_ms,
                  "round_ms": meas.round_ms, "runs": meas.runs}
    if m.fp32 is not None:
        # same-round ratio, as for the ratios to ORT
        per_round = [f / q for f, q in zip(out[ENGINE_FP32]["round_ms"], out["slimlab"]["round_ms"], strict=True)]
        out["slimlab"]["speedup_over_fp32"] = float(np.median(per_round))
        out["slimlab"]["speedup_over_fp32_range"] = [min(per_round), max(per_round)]
    return out


def to_markdown(results: list[dict], engines: list[str]) -> str:
    int8 = ENGINE_FP32 in engines
    head = "| model | threads | " + " | ".join(f"{e} ms (x ORT)" for e in engines) + \
        (" | engine int8 speed-up over fp32 |" if int8 else " |")
    lines = ["ms: median over rounds ± half the IQR of all timed runs; (x ORT): median of same-round ratios.",
             "", head,
             "|" + "---|" * (2 + len(engines) + int8)]
    for r in results:
        cells = [f"{r['engines'][e]['median_ms']:.2f} ±{r['engines'][e]['iqr_ms'] / 2:.2f} "
                 f"({r['engines'][e]['ratio_to_ort']:.2f})" for e in engines]
        if "speedup_over_fp32" in r["engines"].get("slimlab", {}):
            cells.append(f"{r['engines']['slimlab']['speedup_over_fp32']:.2f}")
        lines.append(f"| {r['model']} | {r['threads']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_benchmark(cfg: BenchmarkConfig, out_dir: Path) -> list[dict]:
    if not cfg.models:
        raise ValueError("models is empty: name at least one model (zoo name, tv/<name> or timm/<name>)")
    if cfg.rounds < 1 or cfg.iterations < 1 or any(t < 1 for t in cfg.threads):
        raise ValueError("rounds, iterations and threads must be >= 1")
    if cfg.precision not in ("fp32", "int8"):
        raise ValueError(f"precision must be fp32 or int8, got {cfg.precision!r}")
    protocol = TimingProtocol(warmup=cfg.warmup, min_runs=cfg.iterations, min_time_s=cfg.min_time_s,
                              rounds=cfg.rounds)
    engines = available_engines([e for e in cfg.engines if not (cfg.precision == "int8" and e == "pytorch")])
    shown = engines + ([ENGINE_FP32] if cfg.precision == "int8" else [])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in cfg.models:
            m = prepare(name, cfg, Path(tmp))
            for threads in cfg.threads:
                res = benchmark_model(m, engines, threads, protocol)
                results.append({"model": name, "threads": threads, "batch": cfg.batch, "precision": cfg.precision,
                                "input_shape": list(m.x.shape), "engines": res})
                print(f"{name} {cfg.precision} threads={threads}: " + ", ".join(
                    f"{e} {res[e]['median_ms']:.2f} ms (x{res[e]['ratio_to_ort']:.2f})" for e in shown), flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "benchmark.md", to_markdown(results, shown))
    atomic_write_json(out_dir / "benchmark.json", {"config": OmegaConf.to_container(OmegaConf.structured(cfg)),
                                                   "protocol": protocol.as_dict(), "machine": machine_fingerprint(),
                                                   "results": results})
    return results


@hydra.main(version_base="1.3", config_path="../configs", config_name="benchmark")
def main(cfg: BenchmarkConfig) -> None:
    typed = OmegaConf.to_object(cfg) if not isinstance(cfg, BenchmarkConfig) else cfg
    run_benchmark(typed, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
